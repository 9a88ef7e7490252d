"""The worker that serves one queue in this process.

The dispatcher claims jobs for the free slots (and rate-limit tokens) in one transaction
and hands them to runner tasks. Then it sleeps until something changes: a job is added or
becomes due, a slot frees up, or the rate-limit window moves. It never polls on the happy
path: adds in this process wake it directly.

Runners are long-lived tasks, at most one per slot, that take claimed jobs one after the
other, so a job costs no task of its own. A claim takes at most half of the slots. So
while the runners work through one batch, the database thread claims the next one and
records the end of the previous one.
"""

from __future__ import annotations

import collections
import json
import logging
import random
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel

from .._errors import JobTimeoutError, RateLimitedError, UnrecoverableError
from .._store._records import JobRecord, JobState, Outcome, OutcomeKind
from .._store._sqlite import Claim
from ._job import Job
from ._options import Backoff
from ._wait import wait_until

if TYPE_CHECKING:
    from ._engine import Engine
    from ._queue import Queue

__all__ = ["Worker"]

logger = logging.getLogger("k2w.worker")

_RETENTION_EVERY = 500
# A runner whose handlers never suspend lets other tasks run after this many jobs.
_YIELD_EVERY = 32


class Worker:
    """Runs the jobs of one queue with its handlers."""

    def __init__(self, engine: Engine, queue: Queue) -> None:
        self._engine = engine
        self._queue = queue
        self._store = engine.store
        self._clock = engine.clock
        self._rng: random.Random = engine.rng
        self._wakeup = anyio.Event()
        self._running: dict[str, anyio.CancelScope] = {}
        self._timed_out: set[str] = set()
        self._starts: collections.deque[float] = collections.deque()
        self._limited_until = 0.0
        self._finished_since_retention = 0
        self._last_aging = 0.0
        self._outcomes: list[Outcome] = []
        self._outcomes_ready = anyio.Event()
        # As of the last claim; a job added or delayed since then wakes the dispatcher.
        self._paused = False
        self._next_due: float | None = None
        # True when the last claim found fewer jobs than it asked for: a job that ends
        # then need not wake the dispatcher, because any job added since did already.
        self._drained = False
        self._reserved = 0
        self._task_group: TaskGroup | None = None
        # Claimed jobs that no runner has taken yet. They use slots like running ones.
        self._pending: collections.deque[JobRecord] = collections.deque()
        # The wake-up events of runners waiting for a job, and how many runners exist.
        self._idle: list[anyio.Event] = []
        self._runners = 0
        # True from calling a runner until that runner runs.
        self._calling = False

    @property
    def running(self) -> frozenset[str]:
        """Ids of the jobs this worker is running now."""
        return frozenset(self._running)

    def wake(self) -> None:
        """Make the dispatcher look for work again."""
        self._wakeup.set()

    def cancel_running(self, job_id: str) -> bool:
        """Cancel the handler of ``job_id`` if it runs here."""
        scope = self._running.get(job_id)
        if scope is not None:
            scope.cancel()
            return True
        for record in self._pending:
            if record.id == job_id:
                # Claimed but not started: the job is already cancelled in the database,
                # so it is dropped before its handler runs.
                self._pending.remove(record)
                return True
        return False

    # -- dispatching --------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch jobs until cancelled."""
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self._flush_outcomes)
                await self._dispatch(task_group)
        finally:
            self._task_group = None
            self._hand_back_pending()
            with anyio.CancelScope(shield=True):
                await self._write_outcomes()

    def reserve(self) -> int:
        """Reserve the free slots that a claim made together with an add may fill."""
        if self._task_group is None or self._paused:
            return 0
        slots = max(0, min(self._free_slots(self._clock.now()), 1))
        self._reserved += slots
        return slots

    def release(self, slots: int) -> None:
        """Give back slots from :meth:`reserve` that no claim used."""
        self._reserved -= slots

    def adopt(self, claim: Claim, slots: int) -> None:
        """Start the jobs a claim made together with an add, in the reserved slots."""
        self._reserved -= slots
        self._paused = claim.paused
        self._next_due = claim.next_due
        if self._queue.settings.rate_limit is not None:
            self._starts.extend(self._clock.now() for _ in claim.jobs)
        self._deliver(claim.jobs)

    def _deliver(self, records: list[JobRecord]) -> None:
        """Queue claimed jobs for the runners and make sure one runner comes for them."""
        if records:
            self._pending.extend(records)
            self._call_runner()

    def _call_runner(self) -> None:
        """Wake an idle runner, or start one if there are fewer runners than slots.

        One call at a time: the runner that wakes calls the next one if jobs are still
        left when it takes one. Jobs whose handlers never suspend then all run in the
        first runner, without waking the others. Jobs that suspend each get a runner
        after one more turn of the event loop.
        """
        if self._calling:
            return
        if self._idle:
            self._calling = True
            self._idle.pop().set()
        elif self._runners < self._queue.settings.concurrency:
            assert self._task_group is not None
            self._calling = True
            self._runners += 1
            self._task_group.start_soon(self._run_jobs, self._task_group)

    async def _run_jobs(self, task_group: TaskGroup) -> None:
        """Run claimed jobs one after the other, and wait for more when there are none.

        A runner has one cancel scope, not one per job, which would cost more than a
        no-op job itself. Cancelling a job, or its timeout, cancels the scope of the
        runner that runs it, and that runner then goes on in a new scope.
        """
        try:
            while True:
                # Stays True when a cancelled job's exception ends the scope.
                needed = True
                with anyio.CancelScope() as scope:
                    needed = await self._take_jobs(scope, task_group)
                if not needed:
                    return
        finally:
            self._runners -= 1

    async def _take_jobs(self, scope: anyio.CancelScope, task_group: TaskGroup) -> bool:
        """Run jobs in ``scope`` until one is cancelled (return True) or, with no job left,
        there are more runners than slots (return False)."""
        while True:
            self._calling = False
            done = 0
            while self._pending:
                record = self._pending.popleft()
                if self._pending:
                    self._call_runner()
                await self._execute(record, scope, task_group)
                if scope.cancel_called:
                    # The handler swallowed its cancellation; the scope stays cancelled.
                    return True
                done += 1
                if done % _YIELD_EVERY == 0:
                    await anyio.lowlevel.checkpoint()
            if self._runners > self._queue.settings.concurrency:
                return False
            wake = anyio.Event()
            self._idle.append(wake)
            await wake.wait()

    def _hand_back_pending(self) -> None:
        """Return the claimed jobs that never started, without using up their attempt."""
        while self._pending:
            self._outcomes.append(self._interrupted(self._pending.popleft()))

    def _interrupted(self, record: JobRecord) -> Outcome:
        """Return the outcome that hands ``record`` back at shutdown, due again at once."""
        return Outcome(
            record.id,
            record.lease_token,
            OutcomeKind.RATE_LIMITED,
            error="interrupted: the worker shut down",
            run_at=self._clock.now(),
        )

    async def _dispatch(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        while True:
            self._wakeup = anyio.Event()
            claimed = await self._claim_batch()
            self._deliver(claimed)
            if claimed and self._busy() < self._queue.settings.concurrency:
                continue
            if not claimed:
                await self._apply_retention()
            await wait_until(self._wakeup, self._clock, await self._next_deadline())

    def _busy(self) -> int:
        """Return the slots taken by running jobs and by claimed jobs not yet started."""
        return len(self._running) + len(self._pending)

    def _free_slots(self, now: float) -> int:
        """Return how many jobs may start now: free, unreserved slots within the rate limit."""
        settings = self._queue.settings
        if now < self._limited_until:
            return 0
        free = settings.concurrency - self._busy() - self._reserved
        limit = settings.rate_limit
        if limit is not None:
            while self._starts and self._starts[0] <= now - limit.per_seconds:
                self._starts.popleft()
            free = min(free, limit.max_jobs - len(self._starts) - self._reserved)
        return free

    async def _claim_batch(self) -> list[JobRecord]:
        settings = self._queue.settings
        now = self._clock.now()
        # At most half of the slots, so that the next claim overlaps this batch's run.
        free = min(self._free_slots(now), (settings.concurrency + 1) // 2)
        if free <= 0:
            return []

        if settings.priority_aging_s is not None and now - self._last_aging >= (
            settings.priority_aging_s
        ):
            self._last_aging = now
            await self._store.age_priorities(
                self._queue.name, waited_since=now - settings.priority_aging_s
            )

        # The slots this claim may fill stay reserved while it runs, so a claim made by
        # an add at the same time cannot fill them too.
        self._reserved += free
        try:
            claim = await self._store.claim_batch(self._queue.name, free, lease_s=settings.lease_s)
        finally:
            self._reserved -= free

        self._paused = claim.paused
        self._next_due = claim.next_due
        self._drained = len(claim.jobs) < free
        if settings.rate_limit is not None:
            self._starts.extend(now for _ in claim.jobs)
        return claim.jobs

    async def _next_deadline(self) -> float | None:
        """Return when to look for work again if nothing wakes the dispatcher first.

        A due job counts only while a claim could start it: with every slot busy a
        finishing job wakes the dispatcher, a rate limit has its own deadline, and
        ``resume()`` wakes a paused queue. Counting it otherwise would spin.
        """
        settings = self._queue.settings
        now = self._clock.now()
        deadlines = []
        blocked = self._busy() >= settings.concurrency
        if self._limited_until > now:
            deadlines.append(self._limited_until)
            blocked = True
        limit = settings.rate_limit
        if limit is not None and self._starts and len(self._starts) >= limit.max_jobs:
            deadlines.append(self._starts[0] + limit.per_seconds)
            blocked = True
        if not blocked and not self._paused:
            if settings.priority_aging_s is not None:
                deadlines.append(self._last_aging + settings.priority_aging_s)
            if self._next_due is not None:
                deadlines.append(self._next_due)
        return min(deadlines) if deadlines else None

    # -- running one job ----------------------------------------------------------------

    async def _execute(
        self, record: JobRecord, scope: anyio.CancelScope, task_group: TaskGroup
    ) -> None:
        """Run one job in its runner's ``scope`` and queue the outcome for the store."""
        job = Job(self._queue, record)
        handler = self._queue._handlers.get(record.name)
        error: BaseException | None = None
        result: Any = None
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "job %s (%s/%s) started, attempt %d of %d",
                record.id,
                record.queue,
                record.name,
                record.attempts_made,
                record.max_attempts,
            )
        watch_scope: anyio.CancelScope | None = None
        if record.timeout is not None:
            watch_scope = anyio.CancelScope()
            task_group.start_soon(
                self._watch_timeout, record, self._clock.now() + record.timeout, watch_scope
            )
        # From here until the handler returns, cancelling the job cancels ``scope``. There
        # is no other await in between, so a cancellation meant for this job cannot reach
        # the next one.
        self._running[record.id] = scope
        try:
            if handler is None:
                error = UnrecoverableError(
                    f"no handler is registered for jobs named {record.name!r} on queue "
                    f"{record.queue!r}; register one with @queue.handler({record.name!r})"
                )
            else:
                try:
                    result = _to_json(await handler(job))
                except Exception as exc:
                    error = exc
        except anyio.get_cancelled_exc_class():
            if scope.cancel_called:
                # Cancelled by request or by its timeout; the runner's scope stops here.
                self._after_cancel(record)
            else:
                # The app is shutting down: hand the job back without using up its attempt.
                self._finish(self._interrupted(record))
            raise
        finally:
            if watch_scope is not None:
                watch_scope.cancel()
            self._running.pop(record.id, None)
            if not self._drained:
                self.wake()

        if scope.cancel_called:
            self._after_cancel(record)
            return
        self._finish(self._outcome(record, result, error))

    def _after_cancel(self, record: JobRecord) -> None:
        """Record the end of a job whose handler was cancelled."""
        if record.id in self._timed_out:
            self._timed_out.discard(record.id)
            error = JobTimeoutError(
                f"job {record.id} ran longer than its timeout of {record.timeout} s"
            )
            self._finish(self._outcome(record, None, error))
        else:
            # The job is already cancelled in the store.
            logger.info("job %s was cancelled while running", record.id)

    async def _watch_timeout(
        self, record: JobRecord, deadline: float, watch_scope: anyio.CancelScope
    ) -> None:
        with watch_scope:
            await self._clock.sleep_until(deadline)
        if watch_scope.cancel_called:
            return
        scope = self._running.get(record.id)
        if scope is not None and not scope.cancel_called:
            self._timed_out.add(record.id)
            scope.cancel()

    def _outcome(self, record: JobRecord, result: Any, error: BaseException | None) -> Outcome:
        if error is None:
            return Outcome(
                record.id, record.lease_token, OutcomeKind.COMPLETE, result=result, record=record
            )
        now = self._clock.now()
        message = f"{type(error).__name__}: {error}"
        if isinstance(error, RateLimitedError):
            self._limited_until = max(self._limited_until, now + error.retry_after)
            logger.info("job %s rate limited; trying again in %.1f s", record.id, error.retry_after)
            return Outcome(
                record.id,
                record.lease_token,
                OutcomeKind.RATE_LIMITED,
                error=message,
                run_at=now + error.retry_after,
            )
        if isinstance(error, UnrecoverableError) or record.attempts_made >= record.max_attempts:
            logger.info("job %s failed: %s", record.id, message)
            return Outcome(record.id, record.lease_token, OutcomeKind.FAIL, error=message)
        try:
            delay = retry_delay(self._engine, self._queue, record, error)
        except Exception as exc:
            # A backoff that cannot be computed (an unregistered custom strategy, or one
            # that raises) must not stop the worker. The job fails with the reason instead.
            logger.exception("computing the backoff of job %s failed", record.id)
            return Outcome(
                record.id,
                record.lease_token,
                OutcomeKind.FAIL,
                error=f"{message}; then computing its backoff failed: {exc}",
            )
        logger.info(
            "job %s attempt %d failed (%s); retrying in %.2f s",
            record.id,
            record.attempts_made,
            message,
            delay,
        )
        return Outcome(
            record.id, record.lease_token, OutcomeKind.RETRY, error=message, run_at=now + delay
        )

    def _finish(self, outcome: Outcome) -> None:
        # The outcome is written by the flusher together with others that ended at about
        # the same time: one write request for many jobs.
        self._outcomes.append(outcome)
        self._outcomes_ready.set()

    async def _flush_outcomes(self) -> None:
        while True:
            await self._outcomes_ready.wait()
            self._outcomes_ready = anyio.Event()
            with anyio.CancelScope(shield=True):
                await self._write_outcomes()

    async def _write_outcomes(self) -> None:
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await self._store.finish(batch)
        except Exception:
            # The jobs stay active; their leases run out and the reaper retries them.
            logger.exception(
                "recording the end of %d job(s) failed: %s",
                len(batch),
                ", ".join(outcome.job_id for outcome in batch),
            )
            return
        self._finished_since_retention += len(batch)
        idle = not self._running and not self._outcomes
        if idle or self._finished_since_retention >= _RETENTION_EVERY:
            await self._apply_retention()

    async def _apply_retention(self) -> None:
        if not self._finished_since_retention:
            return
        self._finished_since_retention = 0
        settings = self._queue.settings
        now = self._clock.now()
        name = self._queue.name
        if settings.keep_completed is not None:
            await self._store.trim(name, JobState.COMPLETED, keep=settings.keep_completed)
        if settings.keep_failed is not None:
            await self._store.trim(name, JobState.FAILED, keep=settings.keep_failed)
        if settings.keep_completed_s is not None:
            await self._store.clean(
                name, JobState.COMPLETED, older_than=now - settings.keep_completed_s, limit=10_000
            )
        if settings.keep_failed_s is not None:
            await self._store.clean(
                name, JobState.FAILED, older_than=now - settings.keep_failed_s, limit=10_000
            )


def retry_delay(
    engine: Engine, queue: Queue, record: JobRecord, error: BaseException | None
) -> float:
    """Return the backoff before the next attempt of ``record``."""
    backoff = Backoff.from_dict(record.backoff)
    return backoff.compute(
        record.attempts_made, error, strategies=queue._backoff_strategies, rng=engine.rng
    )


def _to_json(value: Any) -> Any:
    """Return ``value`` as JSON-compatible data; pydantic models are dumped."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise UnrecoverableError(
            f"the handler returned a value that is not JSON-serialisable ({exc}); "
            "return dicts, lists, strings, numbers or a pydantic model"
        ) from exc
    return value
