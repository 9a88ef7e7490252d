"""The ``K2W`` facade: one object that wires store, events, engine, pipeline and providers."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from ._clock import Clock, SystemClock
from ._config import K2WConfig
from ._errors import ConfigurationError, NotFoundError, StoreError, UsageError
from ._events import EventBus
from ._pipeline._models import STAGES, Stage, queue_name
from ._pipeline._run import (
    PipelineHandle,
    Run,
    submit_run,
    validate_submission,
)
from ._pipeline._stages import Stages, StageSettings
from ._pipeline._tracker import RunTracker
from ._providers._files import FilePublisher
from ._providers._offline import OfflineWriter, PlaceholderImages
from ._providers._openai_images import OpenAIImages
from ._providers._openai_text import OpenAIText
from ._providers._protocols import ImageGenerator, Publisher, TextGenerator
from ._providers._wordpress import WordPressPublisher
from ._queue import Backoff, Engine, Queue, QueueSettings
from ._runtime import require_asyncio
from ._store import SQLiteStore

__all__ = ["K2W"]

logger = logging.getLogger("k2w.app")


class K2W:
    """An open k2w app: queues, workers, the event bus and the K2W pipeline.

    Open it with :meth:`open`; it runs its workers in a task group until the ``async
    with`` block ends. Only asyncio is supported (aiosqlite needs it).

    Example::

        async with k2w.K2W.open("k2w.db") as app:
            run = await app.submit(["máy lọc không khí"], user_id="u1", languages=["vi", "en"])
            result = await run.wait(timeout=600)
    """

    def __init__(
        self,
        *,
        store: SQLiteStore,
        events: EventBus,
        engine: Engine,
        config: K2WConfig,
        stages: Stages,
        tracker: RunTracker,
        pipeline: PipelineHandle,
        stage_settings: StageSettings,
    ) -> None:
        self._store = store
        self.events = events
        self._engine = engine
        self.config = config
        self._stages = stages
        self._tracker = tracker
        self._pipeline = pipeline
        self._stage_settings = stage_settings
        self._background: tuple[asyncio.Task[None], asyncio.Event] | None = None

    def __repr__(self) -> str:
        return f"<K2W {self._store.path!r}>"

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path = "k2w.db",
        *,
        config: K2WConfig | None = None,
        clock: Clock | None = None,
        text: TextGenerator | None = None,
        images: ImageGenerator | None = None,
        publisher: Publisher | None = None,
        rng: random.Random | None = None,
    ) -> AsyncIterator[K2W]:
        """Open (creating or migrating) the database at ``path`` and start the workers.

        ``config`` defaults to :meth:`K2WConfig.from_env`. ``text``, ``images`` and
        ``publisher`` replace the providers the config would build (tests pass fakes
        here). ``clock`` replaces the system clock, for tests in virtual time. Unfinished
        runs and jobs in the database resume at once.
        """
        require_asyncio("K2W.open()")
        config = config or K2WConfig.from_env()
        clock = clock or SystemClock()
        body_error: Exception | None = None
        async with AsyncExitStack() as stack:
            providers = _Providers(config, text=text, images=images, publisher=publisher)
            stack.push_async_callback(providers.aclose)

            # The store's writer runs in a task group of its own that outlives the workers:
            # a worker that is cancelled at shutdown still hands its job back through it.
            store = SQLiteStore(str(path), clock=clock, synchronous=config.synchronous)
            await store.connect()
            stack.push_async_callback(store.aclose)
            store_tasks = await stack.enter_async_context(anyio.create_task_group())
            await store.start(store_tasks)
            stack.push_async_callback(store.stop_writer)

            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            events = EventBus(store)
            events.start(task_group)
            store.on_commit = events.publish
            engine = Engine(store, events, clock, lease_s=config.lease_s, rng=rng)

            app = cls._wire(config, store, events, engine, providers)
            await engine.start(task_group)
            task_group.start_soon(app._tracker.run)
            task_group.start_soon(app._prune_events_periodically)
            logger.info("k2w opened %s", path)
            try:
                yield app
            except Exception as exc:
                # Re-raised below, after the task groups closed, so the caller gets its
                # own exception rather than one wrapped in an exception group.
                body_error = exc
            logger.info("k2w closing %s", path)
        if body_error is not None:
            raise body_error

    @classmethod
    async def start(
        cls,
        path: str | Path = "k2w.db",
        *,
        config: K2WConfig | None = None,
        clock: Clock | None = None,
        text: TextGenerator | None = None,
        images: ImageGenerator | None = None,
        publisher: Publisher | None = None,
    ) -> K2W:
        """Open an app that stays open until :meth:`aclose`, for notebooks and REPLs.

        A notebook cell cannot hold an ``async with`` block open for the next cell, so
        this runs :meth:`open` in a background task of the running asyncio loop. Prefer
        :meth:`open` everywhere else: its workers live in the caller's task group.

        Example (top-level await in Jupyter)::

            app = await k2w.K2W.start("k2w.db")
            run = await app.submit(["máy lọc không khí"])
            ...
            await app.aclose()
        """
        require_asyncio("K2W.start()")
        opened: list[K2W] = []
        ready = asyncio.Event()
        stop = asyncio.Event()

        async def hold_open() -> None:
            try:
                async with cls.open(
                    path, config=config, clock=clock, text=text, images=images, publisher=publisher
                ) as app:
                    opened.append(app)
                    ready.set()
                    await stop.wait()
            finally:
                ready.set()

        task = asyncio.get_running_loop().create_task(hold_open(), name=f"k2w {path}")
        await ready.wait()
        if not opened:
            await task  # re-raises why the app could not open
            raise StoreError(f"K2W.start() could not open {path!r}")
        app = opened[0]
        app._background = (task, stop)
        return app

    async def aclose(self) -> None:
        """Close an app made by :meth:`start`; waits for workers to stop."""
        if self._background is None:
            raise UsageError(
                "aclose() closes apps made by K2W.start(); an app from K2W.open() closes "
                "when its async with block ends"
            )
        task, stop = self._background
        self._background = None
        stop.set()
        await task

    @classmethod
    def _wire(
        cls,
        config: K2WConfig,
        store: SQLiteStore,
        events: EventBus,
        engine: Engine,
        providers: _Providers,
    ) -> K2W:
        concurrency = config.per_stage("concurrency")
        stage_settings = StageSettings(
            attempts=config.per_stage("attempts"),
            concurrency=concurrency,
            backoff=Backoff.exponential(
                config.retry_delay_s, jitter=True, max_delay=config.max_retry_delay_s
            )
            if config.retry_delay_s > 0
            else Backoff.fixed(0.0),
        )
        for stage in STAGES:
            engine.queue(
                queue_name(stage),
                QueueSettings(concurrency=concurrency[stage], lease_s=config.lease_s),
            )
        stages = Stages(
            engine=engine,
            store=store,
            text=providers.text,
            images=providers.images,
            publisher=providers.publisher,
            out_dir=config.out_dir,
            settings=stage_settings,
        )
        stages.register()
        tracker = RunTracker(
            store, engine.clock, concurrency=concurrency, provider_for=stages.provider_for
        )
        events.add_listener(tracker.on_commit)
        pipeline = PipelineHandle(engine, store, tracker)
        return cls(
            store=store,
            events=events,
            engine=engine,
            config=config,
            stages=stages,
            tracker=tracker,
            pipeline=pipeline,
            stage_settings=stage_settings,
        )

    # -- the generic engine ---------------------------------------------------------------

    def queue(self, name: str, settings: QueueSettings | None = None) -> Queue:
        """Return the queue ``name`` (created on first use); ``settings`` replace its settings.

        Queue names starting with ``k2w.`` belong to the pipeline.
        """
        return self._engine.queue(name, settings)

    async def queue_names(self) -> list[str]:
        """Return the names of every queue that has jobs or settings in the database."""
        return await self._store.queue_names()

    @property
    def clock(self) -> Clock:
        """The clock every delay, lease and schedule is measured on."""
        return self._engine.clock

    # -- the pipeline ---------------------------------------------------------------------

    async def submit(
        self,
        keywords: Sequence[str] | Iterable[str],
        *,
        user_id: str | None = None,
        languages: Sequence[str] | None = None,
        source_language: str | None = None,
        priority: int = 100,
        locale: str | None = None,
        publish_status: str = "draft",
    ) -> Run:
        """Queue a run of the seven stages over ``keywords`` and return it at once.

        ``languages``: the languages each article is published in (default: the
        keyword's own language, detected per keyword unless ``source_language`` is
        given). ``priority``: 0 runs first. ``locale``: "en" or "vi" for progress
        messages (default from the config). The returned run has ``status == "queued"``;
        nothing has run yet. Invalid input raises InvalidInputError and stores nothing.
        """
        cleaned, options = validate_submission(
            keywords if isinstance(keywords, str | Sequence) else list(keywords),
            languages=languages,
            source_language=source_language,
            priority=priority,
            locale=locale or self.config.locale,
            publish_status=publish_status,
        )
        run = await submit_run(
            self._pipeline, cleaned, options, user_id=user_id, settings=self._stage_settings
        )
        logger.info("run %s queued with %d keywords", run.id, len(cleaned))
        return run

    async def get_run(self, run_id: str) -> Run:
        """Return a snapshot of the run ``run_id``; NotFoundError if there is none."""
        return await self._pipeline.get_run(run_id)

    async def list_runs(self, *, statuses: Sequence[str] = (), limit: int = 50) -> list[Run]:
        """Return runs, newest first, optionally only those in ``statuses``."""
        records = await self._store.list_runs(statuses=statuses, limit=limit)
        return [Run(self._pipeline, record) for record in records]

    async def run_jobs(self, run_id: str) -> list[Any]:
        """Return the jobs of a run, in the order they were added."""
        if await self._store.get_run(run_id) is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        queue = self._engine.queue(queue_name("keywords"))
        records = await self._store.list_jobs(workflow_id=run_id, limit=1_000_000)
        return [await queue.get_job(record.id) for record in records]

    async def stage_durations(self) -> dict[Stage, float]:
        """Return the measured mean duration of each stage with its current provider."""
        return await self._tracker._means()

    async def _prune_events_periodically(self) -> None:
        if self.config.event_retention_s is None and self.config.event_retention_count is None:
            return
        while True:
            removed = await self.events.prune(
                older_than_s=self.config.event_retention_s,
                keep_last=self.config.event_retention_count,
            )
            if removed:
                logger.info("pruned %d old events", removed)
            await self.clock.sleep_until(self.clock.now() + 3600.0)


class _Providers:
    """The providers an app uses: given ones, configured ones, or the offline ones."""

    def __init__(
        self,
        config: K2WConfig,
        *,
        text: TextGenerator | None,
        images: ImageGenerator | None,
        publisher: Publisher | None,
    ) -> None:
        self.text: TextGenerator = text or (
            OpenAIText(config.llm) if config.llm is not None else OfflineWriter()
        )
        self.images: ImageGenerator = images or (
            OpenAIImages(config.images) if config.images is not None else PlaceholderImages()
        )
        self.publisher: Publisher = publisher or _publisher(config)
        self._owned = [
            provider
            for provider, given in (
                (self.text, text),
                (self.images, images),
                (self.publisher, publisher),
            )
            if given is None
        ]

    async def aclose(self) -> None:
        for provider in self._owned:
            await provider.aclose()


def _publisher(config: K2WConfig) -> Publisher:
    choice = config.publisher or ("wordpress" if config.wordpress is not None else "files")
    if choice == "wordpress":
        if config.wordpress is None:
            raise ConfigurationError(
                "publisher is 'wordpress' but WordPress is not configured; set K2W_WP_URL, "
                "K2W_WP_USER and K2W_WP_APP_PASSWORD or pass K2WConfig(wordpress=...)"
            )
        return WordPressPublisher(config.wordpress)
    return FilePublisher(config.out_dir)
