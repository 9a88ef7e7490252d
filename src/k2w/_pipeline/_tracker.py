"""Turns job events of the pipeline's queues into run status and ``workflow:*`` events.

The tracker reads every committed job event of the ``k2w.*`` queues, recomputes the
run's progress from its jobs, and writes the run's new state together with the
``workflow:progress`` (or final) event in one transaction. Several events of one run
that arrive together are folded into one update.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

import anyio

from .._clock import Clock
from .._events._messages import localize
from .._queue._wait import wait_until
from .._store import EventRecord, JobRecord, JobState, NewEvent, RunRecord, SQLiteStore
from ._models import STAGES, RunOptions, Stage
from ._progress import estimate_remaining, measure_progress

__all__ = ["FINAL_RUN_STATUSES", "RunTracker"]

logger = logging.getLogger("k2w.pipeline")

FINAL_RUN_STATUSES = ("completed", "failed", "cancelled")
_TRACKED = frozenset(
    {"job:active", "job:progress", "job:completed", "job:failed", "job:retrying", "job:cancelled"}
)


class RunTracker:
    """Keeps runs and their ``workflow:*`` events in step with their jobs."""

    def __init__(
        self,
        store: SQLiteStore,
        clock: Clock,
        *,
        concurrency: dict[Stage, int],
        provider_for: Any,
    ) -> None:
        self._store = store
        self._clock = clock
        self._concurrency = concurrency
        self._provider_for = provider_for
        self._pending: collections.deque[EventRecord] = collections.deque()
        self._wakeup = anyio.Event()
        self._run_waiters: dict[str, list[anyio.Event]] = {}

    def on_commit(self, records: list[EventRecord]) -> None:
        """Bus listener: queue the pipeline's job events, resolve run waiters."""
        for record in records:
            if record.type in _TRACKED and (record.queue or "").startswith("k2w."):
                self._pending.append(record)
                self._wakeup.set()
            elif record.type in ("workflow:complete", "workflow:failed", "workflow:cancelled"):
                for waiter in self._run_waiters.pop(record.workflow_id or "", ()):
                    waiter.set()

    async def run(self) -> None:
        """Process queued events until cancelled."""
        await self._settle_unfinished_runs()
        while True:
            if not self._pending:
                self._wakeup = anyio.Event()
                await self._wakeup.wait()
            batch: dict[str, list[EventRecord]] = {}
            while self._pending:
                record = self._pending.popleft()
                if record.workflow_id is not None:
                    batch.setdefault(record.workflow_id, []).append(record)
            for run_id, records in batch.items():
                try:
                    await self._update_run(run_id, records)
                except Exception:
                    logger.exception("updating the progress of run %s failed", run_id)

    async def _settle_unfinished_runs(self) -> None:
        """After a restart, finish runs whose last job ended while the app was down."""
        for run in await self._store.list_runs(statuses=("queued", "running"), limit=10_000):
            await self._update_run(run.id, [])

    async def _update_run(self, run_id: str, records: list[EventRecord]) -> None:
        # Durations are kept even when the run already ended: the analytics job's own
        # completion often arrives after the run was marked complete.
        for record in records:
            if record.type == "job:completed":
                await self._record_duration(record)
        run = await self._store.get_run(run_id)
        if run is None or run.status in FINAL_RUN_STATUSES:
            return
        options = RunOptions.model_validate(run.options)

        jobs = await self._store.list_jobs(workflow_id=run_id, limit=1_000_000)
        by_stage = {job.id: job for job in jobs}
        keywords_job = by_stage.get(f"{run_id}.keywords")
        analytics_job = by_stage.get(f"{run_id}.analytics")
        plans = (keywords_job.result or {}).get("plans") if keywords_job else None
        keyword_count = len(plans) if isinstance(plans, list) else None
        if keyword_count is None:
            # The flow is added before the keywords job's own result is stored.
            content_jobs = sum(1 for job in jobs if job.name == "content")
            keyword_count = content_jobs or None

        if keywords_job is not None and keywords_job.state in (JobState.FAILED, JobState.CANCELLED):
            await self._finish(run, options, "failed", error=keywords_job.error)
            return
        if analytics_job is not None and analytics_job.state.is_final:
            if analytics_job.state is JobState.COMPLETED:
                await self._complete(run, options, analytics_job.result or {})
            else:
                await self._finish(run, options, "failed", error=analytics_job.error)
            return

        progress = measure_progress(jobs, keyword_count)
        means = await self._means()
        remaining = estimate_remaining(
            jobs,
            keyword_count=keyword_count or len(run.keywords),
            means=means,
            concurrency=self._concurrency,
            now=self._clock.now(),
        )
        events = []
        for record in _worth_telling(records):
            stage, message, keyword, index = self._describe(record, options, by_stage)
            data: dict[str, Any] = {
                "stage": stage,
                "progress": round(max(progress.overall, run.progress), 2),
                "message": message,
                "locale": options.locale,
                "timeRemaining": None if remaining is None else round(remaining, 2),
                "status": "running",
                "keyword": keyword,
                "keywordIndex": index,
                "keywordProgress": (
                    None if index is None else round(progress.per_keyword.get(index, 0.0), 2)
                ),
                "keywords": {str(i): round(p, 2) for i, p in progress.per_keyword.items()},
            }
            if record.type == "job:completed" and stage == "keywords":
                data["plannedKeywords"] = _planned_keywords(by_stage.get(record.job_id or ""))
            events.append(
                NewEvent("workflow:progress", data, workflow_id=run.id, user_id=run.user_id)
            )
        if not events:
            return
        await self._store.update_run(
            run.id,
            status="running",
            progress=progress.overall,
            events=events,
            only_if_status_in=("queued", "running"),
        )

    def _describe(
        self, record: EventRecord, options: RunOptions, jobs: dict[str, JobRecord]
    ) -> tuple[str | None, str | None, str | None, int | None]:
        stage = record.data.get("name")
        if stage not in STAGES:
            return None, None, None, None
        job = jobs.get(record.job_id or "")
        plan = job.payload.get("plan") if job and isinstance(job.payload, dict) else None
        index = plan["index"] if plan else None
        keyword = plan["keyword"] if plan else None
        language = None
        if plan:
            others = [lang for lang in plan["languages"] if lang != plan["language"]]
            language = record.data.get("language") or (others[0] if others else "")
        locale = options.locale
        if record.type == "job:completed":
            if stage == "keywords":
                result = job.result if job and isinstance(job.result, dict) else {}
                count = len(result.get("plans", []))
                message = localize("stage.keywords.done", locale, count=count)
            else:
                message = localize("stage.done", locale, stage=stage, keyword=keyword or "")
        elif record.type == "job:failed" or record.type == "job:cancelled":
            message = localize(
                "stage.failed",
                locale,
                stage=stage,
                keyword=keyword or "",
                error=record.data.get("error") or "",
            )
        elif record.type == "job:retrying":
            message = localize(
                "stage.retrying",
                locale,
                stage=stage,
                keyword=keyword or "",
                delay=float(record.data.get("delay") or 0.0),
            )
        else:
            message = localize(f"stage.{stage}", locale, keyword=keyword or "", language=language)
        return stage, message, keyword, index

    async def _record_duration(self, record: EventRecord) -> None:
        stage = record.data.get("name")
        duration = record.data.get("durationS")
        if stage in STAGES and isinstance(duration, int | float):
            await self._store.record_duration(stage, self._provider_for(stage), float(duration))

    async def _means(self) -> dict[Stage, float]:
        durations = await self._store.stage_durations()
        means: dict[Stage, float] = {}
        for stage in STAGES:
            key = (stage, self._provider_for(stage))
            if key in durations:
                means[stage] = durations[key][1]
        return means

    async def _complete(self, run: RunRecord, options: RunOptions, report: dict[str, Any]) -> None:
        totals = report.get("totals", {})
        published, total = int(totals.get("published", 0)), int(totals.get("keywords", 0))
        status = "completed" if published or not total else "failed"
        if status == "failed":
            await self._finish(
                run, options, "failed", error="no keyword was published", report=report
            )
            return
        message = localize("run.complete", options.locale, published=published, total=total)
        data = {
            "stage": "analytics",
            "progress": 100.0,
            "message": message,
            "locale": options.locale,
            "timeRemaining": 0.0,
            "status": "completed",
            "published": published,
            "total": total,
            "failed": int(totals.get("failed", 0)),
            "reportFiles": report.get("files", []),
            "keywords": _all_done(report),
        }
        await self._store.update_run(
            run.id,
            status="completed",
            progress=100.0,
            report=report,
            final=True,
            events=[NewEvent("workflow:complete", data, workflow_id=run.id, user_id=run.user_id)],
            only_if_status_in=("queued", "running"),
        )
        logger.info("run %s completed: %d of %d articles published", run.id, published, total)

    async def _finish(
        self,
        run: RunRecord,
        options: RunOptions,
        status: str,
        *,
        error: str | None,
        report: dict[str, Any] | None = None,
    ) -> None:
        key = "run.cancelled" if status == "cancelled" else "run.failed"
        message = localize(key, options.locale, error=error or "")
        data = {
            "stage": None,
            "progress": 100.0,
            "message": message,
            "locale": options.locale,
            "timeRemaining": 0.0,
            "status": status,
            "error": error,
            "keywords": _all_done(report or {}),
        }
        event_type = "workflow:cancelled" if status == "cancelled" else "workflow:failed"
        await self._store.update_run(
            run.id,
            status=status,
            progress=100.0,
            error=error,
            report=report,
            final=True,
            events=[NewEvent(event_type, data, workflow_id=run.id, user_id=run.user_id)],
            only_if_status_in=("queued", "running"),
        )
        logger.info("run %s %s: %s", run.id, status, error)

    async def cancel(self, run: RunRecord) -> None:
        """Mark a run cancelled (its jobs are cancelled by the caller)."""
        options = RunOptions.model_validate(run.options)
        await self._finish(run, options, "cancelled", error="cancelled by request")

    async def wait(self, run_id: str, *, timeout: float) -> RunRecord | None:
        """Wait until the run is final or ``timeout`` (clock seconds) passes; return the run."""
        deadline = self._clock.now() + timeout
        while True:
            waiter = anyio.Event()
            self._run_waiters.setdefault(run_id, []).append(waiter)
            run = await self._store.get_run(run_id)
            if run is None or run.status in FINAL_RUN_STATUSES:
                self._forget(run_id, waiter)
                return run
            if not await wait_until(waiter, self._clock, deadline):
                self._forget(run_id, waiter)
                return await self._store.get_run(run_id)

    def _forget(self, run_id: str, waiter: anyio.Event) -> None:
        waiters = self._run_waiters.get(run_id)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._run_waiters[run_id]


def _planned_keywords(job: JobRecord | None) -> list[dict[str, Any]]:
    """Return index, keyword and slug of every planned keyword, for labelling progress."""
    result = job.result if job is not None and isinstance(job.result, dict) else {}
    return [
        {"index": plan["index"], "keyword": plan["keyword"], "slug": plan["slug"]}
        for plan in result.get("plans", [])
    ]


def _all_done(report: dict[str, Any]) -> dict[str, float]:
    return {str(entry["index"]): 100.0 for entry in report.get("keywords", [])}


def _worth_telling(records: list[EventRecord]) -> list[EventRecord]:
    """Keep every stage transition, but only the newest progress report of each job."""
    last_progress: dict[str | None, int] = {}
    for position, record in enumerate(records):
        if record.type == "job:progress":
            last_progress[record.job_id] = position
    return [
        record
        for position, record in enumerate(records)
        if record.type != "job:progress" or last_progress[record.job_id] == position
    ]


def _index_from_job_id(job_id: str | None) -> int | None:
    if job_id is None:
        return None
    parts = job_id.rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None
