"""Submitting runs and the run handle that ``app.submit`` returns."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import InvalidInputError, JobFailedError, NotFoundError, WaitTimeoutError
from .._events._messages import localize
from .._queue import MAX_PRIORITY, Backoff
from .._queue._engine import Engine
from .._store import JobState, NewEvent, NewJob, RunRecord, SQLiteStore
from .._text import validate_keyword, validate_language
from ._models import RunOptions, job_id, queue_name
from ._tracker import FINAL_RUN_STATUSES, RunTracker

if TYPE_CHECKING:
    from ._stages import StageSettings

__all__ = ["MAX_KEYWORDS", "Run", "RunResult", "submit_run", "validate_submission"]

#: Most keywords one run accepts; split bigger lists into several runs.
MAX_KEYWORDS = 1000


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run: its status, report and error."""

    id: str
    status: str
    report: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"


class Run:
    """A handle on one pipeline run (a workflow); a snapshot plus calls to follow it."""

    def __init__(self, pipeline: PipelineHandle, record: RunRecord) -> None:
        self._pipeline = pipeline
        self._record = record

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status} {self.progress:.0f}%>"

    @property
    def id(self) -> str:
        """The run id; events of this run carry it as ``workflowId``."""
        return self._record.id

    @property
    def status(self) -> str:
        """queued, running, completed, failed or cancelled, as of this snapshot."""
        return self._record.status

    @property
    def user_id(self) -> str | None:
        """The user the run's events are addressed to."""
        return self._record.user_id

    @property
    def keywords(self) -> list[str]:
        """The submitted keywords after validation (NFC, trimmed)."""
        return list(self._record.keywords)

    @property
    def progress(self) -> float:
        """Percent done, 0–100, as of this snapshot."""
        return self._record.progress

    @property
    def report(self) -> dict[str, Any] | None:
        """The analytics report once the run has finished."""
        return self._record.report

    @property
    def error(self) -> str | None:
        """Why the run failed, if it did."""
        return self._record.error

    @property
    def options(self) -> RunOptions:
        """The options the run was submitted with."""
        return RunOptions.model_validate(self._record.options)

    async def refresh(self) -> Run:
        """Return a new snapshot read from the store."""
        return await self._pipeline.get_run(self.id)

    async def wait(self, timeout: float, *, raise_on_failure: bool = False) -> RunResult:
        """Wait until the run is completed, failed or cancelled, and return the result.

        ``timeout`` is in seconds; WaitTimeoutError when it runs out (the run goes on).
        With ``raise_on_failure`` a failed or cancelled run raises JobFailedError.
        """
        record = await self._pipeline.tracker.wait(self.id, timeout=timeout)
        if record is None:
            raise NotFoundError(f"run {self.id} no longer exists")
        self._record = record
        if record.status not in FINAL_RUN_STATUSES:
            raise WaitTimeoutError(
                f"run {self.id} is still {record.status} ({record.progress:.0f}%) after "
                f"{timeout} s; it goes on in the background, wait again or raise the timeout"
            )
        if raise_on_failure and record.status != "completed":
            raise JobFailedError(
                f"run {self.id} {record.status}: {record.error}",
                state=record.status,
                error=record.error,
            )
        return RunResult(record.id, record.status, record.report, record.error)

    async def cancel(self) -> bool:
        """Cancel the run's unfinished jobs; False if the run had already finished."""
        return await self._pipeline.cancel_run(self.id)


class PipelineHandle:
    """The pipeline services that a :class:`Run` handle calls."""

    def __init__(self, engine: Engine, store: SQLiteStore, tracker: RunTracker) -> None:
        self.engine = engine
        self.store = store
        self.tracker = tracker

    async def get_run(self, run_id: str) -> Run:
        record = await self.store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return Run(self, record)

    async def cancel_run(self, run_id: str) -> bool:
        record = await self.store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        if record.status in FINAL_RUN_STATUSES:
            return False
        for stage in ("keywords", "analytics"):
            queue = self.engine.queue(queue_name(stage))
            if await self.store.get_job(job_id(run_id, stage)) is not None:
                await queue.cancel(job_id(run_id, stage), reason="the run was cancelled")
        for job in await self.store.list_jobs(
            workflow_id=run_id, states=(JobState.ACTIVE,), limit=1_000_000
        ):
            self.engine._cancel_running(job.id)
        await self.tracker.cancel(record)
        return True


def validate_submission(
    keywords: object,
    *,
    languages: Iterable[object] | None,
    source_language: object | None,
    priority: object,
    locale: object,
    publish_status: object,
) -> tuple[list[str], RunOptions]:
    """Check everything a run is submitted with; raise InvalidInputError on the first fault."""
    if isinstance(keywords, str) or not isinstance(keywords, Sequence | set | frozenset):
        raise InvalidInputError(
            "keywords must be a list of strings, e.g. ['máy lọc không khí'], "
            f"not {type(keywords).__name__}"
        )
    items = list(keywords)
    if not items:
        raise InvalidInputError("no keywords were given; pass at least one keyword")
    if len(items) > MAX_KEYWORDS:
        raise InvalidInputError(
            f"{len(items)} keywords is more than one run takes ({MAX_KEYWORDS}); "
            "split them into several runs"
        )
    cleaned = []
    blank = 0
    for index, item in enumerate(items, start=1):
        if isinstance(item, str) and not item.strip():
            blank += 1
            continue
        cleaned.append(validate_keyword(item, index=index))
    if not cleaned:
        raise InvalidInputError(
            f"all {blank} keywords are blank; pass at least one keyword with text in it"
        )

    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInputError(
            f"priority must be an integer from 0 to {MAX_PRIORITY}, got {priority!r}"
        )
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidInputError(
            f"priority must be from 0 (first) to {MAX_PRIORITY} (last), got {priority}"
        )
    if locale not in ("en", "vi"):
        raise InvalidInputError(f"locale must be 'en' or 'vi', got {locale!r}")
    if publish_status not in ("draft", "publish"):
        raise InvalidInputError(
            f"publish_status must be 'draft' or 'publish', got {publish_status!r}"
        )
    if languages is not None and isinstance(languages, str):
        raise InvalidInputError(
            f"languages must be a list of language codes such as ['vi', 'en'], not {languages!r}"
        )
    codes: list[str] = []
    for code in languages or ():
        checked = validate_language(code)
        if checked not in codes:
            codes.append(checked)
    source = None if source_language is None else validate_language(source_language)
    options = RunOptions(
        languages=codes,
        source_language=source,
        locale=locale,
        priority=priority,
        publish_status=publish_status,
    )
    return cleaned, options


async def submit_run(
    pipeline: PipelineHandle,
    keywords: list[str],
    options: RunOptions,
    *,
    user_id: str | None,
    settings: StageSettings,
) -> Run:
    """Store a new run and its keywords job in one transaction, and return at once."""
    now = pipeline.engine.clock.now()
    run_id = uuid.uuid4().hex
    record = RunRecord(
        id=run_id,
        user_id=user_id,
        status="queued",
        created_at=now,
        updated_at=now,
        options=options.model_dump(mode="json"),
        keywords=keywords,
    )
    keywords_job = NewJob(
        id=job_id(run_id, "keywords"),
        queue=queue_name("keywords"),
        name="keywords",
        payload={"run_id": run_id},
        priority=options.priority,
        run_at=now,
        max_attempts=settings.attempts["keywords"],
        backoff=settings.backoff.to_dict(),
        workflow_id=run_id,
        user_id=user_id,
    )
    queued = NewEvent(
        "workflow:queued",
        {
            "stage": "keywords",
            "progress": 0.0,
            "message": localize("run.queued", options.locale, count=len(keywords)),
            "locale": options.locale,
            "timeRemaining": None,
            "status": "queued",
            "keywordCount": len(keywords),
        },
        workflow_id=run_id,
        user_id=user_id,
    )
    await pipeline.store.add_jobs([keywords_job], run=record, events=[queued])
    return Run(pipeline, record)


def default_backoff() -> Backoff:
    """Return the backoff stages use unless configured: exponential with jitter from 1 s."""
    return Backoff.exponential(1.0, jitter=True, max_delay=300.0)
