"""Queues: where jobs are added, inspected and controlled.

Get one with ``app.queue("name")``; register handlers with :meth:`Queue.handler`.
A queue with at least one handler is served by a worker in this process.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
from croniter import croniter

from .._errors import InvalidInputError, JobFailedError, NotFoundError
from .._store._records import (
    ChildFailurePolicy,
    JobState,
    NewJob,
    ScheduleRecord,
)
from .._store._sqlite import SQLiteStore
from ._job import Job
from ._options import Backoff, BackoffFunction, RateLimit

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["MAX_PRIORITY", "FlowJob", "Handler", "Queue", "QueueSettings", "Schedule"]

Handler = Callable[[Job], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

#: Priorities run from 0 (first) to MAX_PRIORITY (last); the default is 100.
MAX_PRIORITY = 1_000_000
DEFAULT_PRIORITY = 100
# Read-only: the store only serialises it.
_DEFAULT_BACKOFF = Backoff().to_dict()
_NAME_PAYLOAD = frozenset({"name", "payload"})


@dataclass(slots=True)
class QueueSettings:
    """Settings of the worker that runs a queue's jobs.

    ``concurrency``: jobs running at once in this process. ``rate_limit``: at most N
    job starts per window. ``lease_s``: how long a claimed job is held before it counts
    as stalled unless the heartbeat renews it. ``keep_completed`` / ``keep_failed``:
    retention as a count of the newest jobs to keep (None keeps all).
    ``keep_completed_s`` / ``keep_failed_s``: retention as an age in seconds.
    ``priority_aging_s``: when set, a waiting job's priority improves by one step for
    each such period it has waited, so a flood of urgent jobs cannot starve the rest.
    ``progress_interval_s``: the shortest time between two stored progress reports of
    one job that carry the same fields (see :meth:`Job.update_progress`).
    """

    concurrency: int = 10
    rate_limit: RateLimit | None = None
    lease_s: float = 30.0
    keep_completed: int | None = None
    keep_failed: int | None = None
    keep_completed_s: float | None = None
    keep_failed_s: float | None = None
    priority_aging_s: float | None = None
    progress_interval_s: float = 0.25

    def validate(self) -> None:
        """Raise InvalidInputError naming the first invalid setting."""
        if self.concurrency < 1:
            raise InvalidInputError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.lease_s <= 0:
            raise InvalidInputError(f"lease_s must be > 0 seconds, got {self.lease_s}")
        for name in ("keep_completed", "keep_failed"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidInputError(f"{name} must be >= 0 or None, got {value}")
        if self.progress_interval_s < 0:
            raise InvalidInputError(
                f"progress_interval_s must be >= 0 seconds, got {self.progress_interval_s}"
            )
        for name in ("keep_completed_s", "keep_failed_s", "priority_aging_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidInputError(f"{name} must be > 0 seconds or None, got {value}")


@dataclass(slots=True)
class FlowJob:
    """A node of a flow: a job that runs after all of its ``children`` are done.

    ``on_failure`` is what this job's failure does to its parent (see
    :class:`ChildFailurePolicy`). ``queue`` defaults to the queue the flow is added to.
    """

    name: str
    payload: Any = None
    children: Sequence[FlowJob] = ()
    queue: str | None = None
    job_id: str | None = None
    priority: int = DEFAULT_PRIORITY
    attempts: int = 1
    backoff: Backoff | None = None
    timeout: float | None = None
    on_failure: ChildFailurePolicy = ChildFailurePolicy.FAIL
    workflow_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A repeatable job as stored."""

    id: str
    queue: str
    name: str
    payload: Any
    every: float | None
    cron: str | None
    timezone: str
    next_run_at: float
    options: dict[str, Any] = field(default_factory=dict)


class Queue:
    """A named queue of jobs stored in the app's database."""

    def __init__(self, engine: Engine, name: str, settings: QueueSettings) -> None:
        self._engine = engine
        self._store: SQLiteStore = engine.store
        self.name = name
        self.settings = settings
        self._handlers: dict[str, Handler] = {}
        self._backoff_strategies: dict[str, BackoffFunction] = {}

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} handlers={sorted(self._handlers)}>"

    # -- handlers -----------------------------------------------------------------------

    def handler(self, name: str) -> Callable[[H], H]:
        """Register the decorated coroutine function as the handler for jobs named ``name``.

        Example::

            @queue.handler("resize")
            async def resize(job: k2w.Job) -> dict[str, int]:
                await job.update_progress(50)
                return {"width": 320}
        """

        def register(function: H) -> H:
            self.set_handler(name, function)
            return function

        return register

    def set_handler(self, name: str, function: Handler) -> None:
        """Register ``function`` as the handler for jobs named ``name``."""
        if not name:
            raise InvalidInputError("a handler needs a non-empty job name")
        self._handlers[name] = function
        self._engine._ensure_worker(self)

    def backoff_strategy(self, name: str, function: BackoffFunction) -> None:
        """Register a custom backoff, used by jobs added with ``Backoff.custom(name)``."""
        self._backoff_strategies[name] = function

    # -- adding -------------------------------------------------------------------------

    async def add(
        self,
        name: str,
        payload: Any = None,
        *,
        job_id: str | None = None,
        priority: int = DEFAULT_PRIORITY,
        delay: float | None = None,
        run_at: float | None = None,
        attempts: int = 1,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        max_stalls: int = 1,
        dedup_key: str | None = None,
        workflow_id: str | None = None,
        user_id: str | None = None,
    ) -> Job:
        """Add a job and return it at once; the worker runs it in the background.

        ``priority``: 0 runs first, up to MAX_PRIORITY; FIFO among equal priorities.
        ``delay`` (seconds) or ``run_at`` (epoch seconds): run no earlier than that.
        ``attempts``: total tries before the job fails; ``backoff`` spaces them
        (exponential with full jitter from 1 s by default). ``timeout``: seconds one
        attempt may run before it is cancelled and counts as failed. ``max_stalls``: how
        often the job's lease may expire (its process died) before it fails.
        ``job_id`` or ``dedup_key``: adding a job whose id exists, or whose key belongs
        to a pending job, returns that job instead and emits ``job:deduplicated``.
        """
        spec = self._new_job(
            name,
            payload,
            job_id=job_id,
            priority=priority,
            delay=delay,
            run_at=run_at,
            attempts=attempts,
            backoff=backoff,
            timeout=timeout,
            max_stalls=max_stalls,
            dedup_key=dedup_key,
            workflow_id=workflow_id,
            user_id=user_id,
        )
        worker = self._engine._workers.get(self.name)
        slots = worker.reserve() if worker is not None else 0
        if worker is None or not slots:
            [record] = await self._store.add_jobs([spec])
            return Job(self, record)

        # The add also claims for this process's worker, so the job can start without a
        # second database call. Shielded: a claim that committed must reach the worker.
        try:
            with anyio.CancelScope(shield=True):
                added, claim = await self._store.add_and_claim(
                    [spec], queue=self.name, limit=slots, lease_s=self.settings.lease_s
                )
        except BaseException:
            worker.release(slots)
            raise
        worker.adopt(claim, slots)
        [record] = added
        return Job(self, record)

    async def add_bulk(self, jobs: Sequence[dict[str, Any]]) -> list[Job]:
        """Add many jobs in one transaction; each dict contains :meth:`add`'s arguments."""
        specs = []
        now = self._engine.clock.now()
        ids = iter(_new_job_ids(len(jobs)))
        for index, options in enumerate(jobs):
            if not isinstance(options, dict):
                raise InvalidInputError(
                    f"job {index} of add_bulk must be a dict of add() arguments, got {options!r}"
                )
            if "name" not in options:
                raise InvalidInputError(f"job {index} of add_bulk has no 'name'")
            name = options["name"]
            if len(options) == 1 or (len(options) == 2 and "payload" in options):
                # Name and payload only, the common case: every option has its default.
                if not isinstance(name, str) or not name:
                    _check_job_options(name, DEFAULT_PRIORITY, None, None, 1, None, 1, None)
                specs.append(
                    NewJob(
                        next(ids),
                        self.name,
                        name,
                        options.get("payload"),
                        DEFAULT_PRIORITY,
                        now,
                        False,  # delayed
                        1,  # max_attempts
                        _DEFAULT_BACKOFF,
                    )
                )
                continue
            unknown = options.keys() - _ADD_OPTIONS
            if unknown:
                raise InvalidInputError(
                    f"job {index} of add_bulk has unknown option(s) {sorted(unknown)}; "
                    f"use {sorted(_ADD_OPTIONS)}"
                )
            rest = {key: value for key, value in options.items() if key not in _NAME_PAYLOAD}
            if rest.get("job_id") is None:
                rest["job_id"] = next(ids)
            specs.append(self._new_job(name, options.get("payload"), **rest))
        added = await self._store.add_jobs(specs)
        return [Job(self, record) for record in added]

    async def add_flow(self, flow: FlowJob) -> Job:
        """Add a parent job and its children (recursively) in one transaction.

        The children run first; the parent waits in ``waiting-children`` and runs when
        every child is done, reading their results with ``job.children_results()``.
        """
        spec = self._flow_spec(flow)
        [record] = await self._store.add_jobs([spec])
        return Job(self._engine.queue(record.queue), record)

    def _flow_spec(self, flow: FlowJob) -> NewJob:
        spec = self._engine.queue(flow.queue or self.name)._new_job(
            flow.name,
            flow.payload,
            job_id=flow.job_id,
            priority=flow.priority,
            attempts=flow.attempts,
            backoff=flow.backoff,
            timeout=flow.timeout,
            workflow_id=flow.workflow_id,
            user_id=flow.user_id,
        )
        spec.on_child_failure = flow.on_failure
        spec.children = [self._flow_spec(child) for child in flow.children]
        return spec

    def _new_job(
        self,
        name: str,
        payload: Any,
        *,
        job_id: str | None = None,
        priority: int = DEFAULT_PRIORITY,
        delay: float | None = None,
        run_at: float | None = None,
        attempts: int = 1,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        max_stalls: int = 1,
        dedup_key: str | None = None,
        workflow_id: str | None = None,
        user_id: str | None = None,
        schedule_id: str | None = None,
    ) -> NewJob:
        _check_job_options(name, priority, delay, run_at, attempts, timeout, max_stalls, job_id)
        now = self._engine.clock.now()
        due = run_at if run_at is not None else now + (delay or 0.0)
        return NewJob(
            id=job_id or _new_job_id(),
            queue=self.name,
            name=name,
            payload=payload,
            priority=priority,
            run_at=due,
            delayed=due > now,
            max_attempts=attempts,
            backoff=_DEFAULT_BACKOFF if backoff is None else backoff.to_dict(),
            timeout=timeout,
            max_stalls=max_stalls,
            dedup_key=dedup_key,
            workflow_id=workflow_id,
            user_id=user_id,
            schedule_id=schedule_id,
        )

    # -- schedules ----------------------------------------------------------------------

    async def upsert_schedule(
        self,
        schedule_id: str,
        name: str,
        payload: Any = None,
        *,
        every: float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        **job_options: Any,
    ) -> Schedule:
        """Create or replace a repeatable job: every ``every`` seconds or on ``cron``.

        ``cron`` is a five-field cron expression read in ``timezone`` (an IANA name such
        as "Asia/Ho_Chi_Minh"). A schedule has exactly one pending occurrence at a time.
        After downtime, missed occurrences are not run one by one. The next one runs
        once, and the schedule continues from the current time.
        """
        if (every is None) == (cron is None):
            raise InvalidInputError("give exactly one of every= (seconds) or cron= (expression)")
        if every is not None and every <= 0:
            raise InvalidInputError(f"every must be > 0 seconds, got {every}")
        zone = _zone(timezone)
        if cron is not None and not croniter.is_valid(cron):
            raise InvalidInputError(
                f"invalid cron expression {cron!r}; use five fields, e.g. '0 7 * * 1-5'"
            )
        now = self._engine.clock.now()
        first_at = next_occurrence(now, every=every, cron=cron, zone=zone)
        record = ScheduleRecord(
            id=schedule_id,
            queue=self.name,
            name=name,
            payload=payload,
            every=every,
            cron=cron,
            timezone=timezone,
            next_run_at=first_at,
            options=job_options,
        )
        first = self._occurrence(record, first_at)
        stored = await self._store.upsert_schedule(record, first)
        self._engine._wake_scheduler()
        return _schedule(stored)

    def _occurrence(self, schedule: ScheduleRecord, run_at: float) -> NewJob:
        return self._new_job(
            schedule.name,
            schedule.payload,
            job_id=f"{schedule.id}@{run_at:.3f}",
            run_at=run_at,
            schedule_id=schedule.id,
            **schedule.options,
        )

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule and its pending occurrence; False if it did not exist."""
        return await self._store.remove_schedule(schedule_id)

    async def get_schedules(self) -> list[Schedule]:
        """Return this queue's schedules."""
        return [_schedule(s) for s in await self._store.get_schedules(self.name)]

    # -- reading ------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job:
        """Return the job with ``job_id``; raise NotFoundError if there is none."""
        record = await self._store.get_job(job_id)
        if record is None:
            raise NotFoundError(f"no job with id {job_id!r}; it may have been cleaned")
        return Job(self._engine.queue(record.queue), record)

    async def list_jobs(
        self, state: JobState | str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Return this queue's jobs, oldest first, optionally in one state."""
        states = () if state is None else (_job_state(state),)
        records = await self._store.list_jobs(
            queue=self.name, states=states, limit=limit, offset=offset
        )
        return [Job(self, record) for record in records]

    async def counts(self) -> dict[str, int]:
        """Return the number of jobs per state, every state present."""
        counts = await self._store.counts(self.name)
        return {state.value: count for state, count in counts.items()}

    async def get_logs(self, job_id: str) -> list[str]:
        """Return the lines handlers logged for a job, oldest first."""
        return [line for _, line in await self._store.get_logs(job_id)]

    # -- control ------------------------------------------------------------------------

    async def cancel(self, job_id: str, *, reason: str = "cancelled by request") -> bool:
        """Cancel a job that is not final; a running handler is cancelled at once.

        Returns False when the job was already final.
        """
        record = await self._store.cancel(job_id, reason=reason)
        if record is None:
            if await self._store.get_job(job_id) is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            return False
        self._engine._cancel_running(job_id)
        return True

    async def retry(self, job_id: str) -> Job:
        """Run a failed or cancelled job again with a fresh attempt budget."""
        record = await self._store.retry_failed(job_id)
        if record is None:
            current = await self.get_job(job_id)
            raise InvalidInputError(
                f"job {job_id!r} is {current.state.value}; only failed or cancelled jobs "
                "can be retried"
            )
        return Job(self, record)

    async def pause(self) -> None:
        """Stop starting new jobs from this queue (running ones finish)."""
        await self._store.set_paused(self.name, True)

    async def resume(self) -> None:
        """Start jobs from this queue again."""
        await self._store.set_paused(self.name, False)
        self._engine._wake(self.name)

    async def is_paused(self) -> bool:
        """Return True when the queue is paused."""
        return await self._store.is_paused(self.name)

    async def drain(self) -> int:
        """Delete this queue's waiting and delayed jobs (not flow members); return how many."""
        return await self._store.drain(self.name)

    async def clean(
        self, state: JobState | str, *, older_than_s: float = 0.0, limit: int = 1000
    ) -> int:
        """Delete up to ``limit`` completed, failed or cancelled jobs older than an age."""
        job_state = _job_state(state)
        if not job_state.is_final:
            raise InvalidInputError(
                f"clean() removes completed, failed or cancelled jobs, not {job_state.value!r}"
            )
        older_than = self._engine.clock.now() - older_than_s
        return await self._store.clean(self.name, job_state, older_than=older_than, limit=limit)

    async def wait(self, job_id: str, *, timeout: float) -> Job:
        """Wait until the job is completed, failed, cancelled or removed; return it.

        ``timeout`` (seconds, required) bounds the wait: WaitTimeoutError when it runs
        out, while the job itself goes on. A removed job raises NotFoundError.
        """
        return await self._engine.wait_for_job(self, job_id, timeout=timeout)

    async def wait_result(self, job_id: str, *, timeout: float) -> Any:
        """Wait for the job and return its result; JobFailedError if it did not complete."""
        job = await self.wait(job_id, timeout=timeout)
        if job.state is not JobState.COMPLETED:
            raise JobFailedError(
                f"job {job_id} ended {job.state.value}: {job.error}",
                state=job.state.value,
                error=job.error,
            )
        return job.result


def next_occurrence(
    after: float, *, every: float | None, cron: str | None, zone: ZoneInfo
) -> float:
    """Return the first occurrence of a schedule strictly after ``after``."""
    if every is not None:
        return after + every
    assert cron is not None
    base = datetime.fromtimestamp(after, zone)
    return float(croniter(cron, base).get_next(float))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown time zone {name!r}; use an IANA name such as 'Asia/Ho_Chi_Minh' or 'UTC'"
        ) from None


def _schedule(record: ScheduleRecord) -> Schedule:
    return Schedule(
        id=record.id,
        queue=record.queue,
        name=record.name,
        payload=record.payload,
        every=record.every,
        cron=record.cron,
        timezone=record.timezone,
        next_run_at=record.next_run_at,
        options=record.options,
    )


# The keys an add_bulk dict may have: add()'s arguments.
_ADD_OPTIONS = frozenset(inspect.signature(Queue.add).parameters) - {"self"}


def _check_job_options(
    name: str,
    priority: int,
    delay: float | None,
    run_at: float | None,
    attempts: int,
    timeout: float | None,
    max_stalls: int,
    job_id: str | None,
) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"job name must be a non-empty string, got {name!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInputError(
            f"priority must be an integer from 0 to {MAX_PRIORITY}, got {priority!r}"
        )
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidInputError(
            f"priority must be from 0 (first) to {MAX_PRIORITY} (last), got {priority}"
        )
    if delay is not None and run_at is not None:
        raise InvalidInputError("give delay= or run_at=, not both")
    if delay is not None and (not math.isfinite(delay) or delay < 0):
        raise InvalidInputError(f"delay must be a finite number of seconds >= 0, got {delay}")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidInputError(f"attempts must be an integer >= 1, got {attempts!r}")
    if timeout is not None and (not math.isfinite(timeout) or timeout <= 0):
        raise InvalidInputError(f"timeout must be > 0 seconds or None, got {timeout}")
    if max_stalls < 0:
        raise InvalidInputError(f"max_stalls must be >= 0, got {max_stalls}")
    if job_id is not None and (not isinstance(job_id, str) or not job_id):
        raise InvalidInputError(f"job_id must be a non-empty string, got {job_id!r}")


def _job_state(value: JobState | str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        names = ", ".join(state.value for state in JobState)
        raise InvalidInputError(f"{value!r} is not a job state; use one of: {names}") from None


_last_id_tick = 0


def _new_job_ids(count: int) -> list[str]:
    """Return ``count`` new job ids: 32 hex digits, a microsecond tick and 72 random bits.

    The tick comes first and never repeats in a process, so ids made one after the
    other sort in creation order. A new id then lands at the end of the unique index on
    ``jobs.id`` instead of at a random page of it, which took about a third of the
    insert time of a bulk add in a trial. The random part keeps ids from two processes
    apart. One call makes the ids of a whole bulk add with one read of random bytes.
    """
    global _last_id_tick
    first = max(time.time_ns() // 1000, _last_id_tick + 1)
    _last_id_tick = first + count - 1
    noise = os.urandom(9 * count).hex()
    return [f"{first + i:014x}{noise[18 * i : 18 * i + 18]}" for i in range(count)]


def _new_job_id() -> str:
    """Return one new job id; see :func:`_new_job_ids`."""
    return _new_job_ids(1)[0]
