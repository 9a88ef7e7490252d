"""The job engine: queues, their workers, leases, stalled-job recovery and schedules."""

from __future__ import annotations

import logging
import random
from zoneinfo import ZoneInfo

import anyio
from anyio.abc import TaskGroup

from .._clock import Clock
from .._errors import InvalidInputError, NotFoundError, WaitTimeoutError
from .._events._bus import EventBus
from .._store._records import EventRecord, JobRecord, Outcome, OutcomeKind
from .._store._sqlite import SQLiteStore
from ._job import Job
from ._queue import Queue, QueueSettings, next_occurrence
from ._wait import wait_until
from ._worker import Worker, retry_delay

__all__ = ["Engine"]

logger = logging.getLogger("k2w.queue")

_WAKE_TYPES = frozenset(
    {"job:added", "job:waiting", "job:delayed", "job:retrying", "queue:resumed"}
)
_END_TYPES = frozenset({"job:completed", "job:failed", "job:cancelled", "job:removed"})


class Engine:
    """Owns every queue of an app and the tasks that keep jobs moving."""

    def __init__(
        self,
        store: SQLiteStore,
        bus: EventBus,
        clock: Clock,
        *,
        lease_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.lease_s = lease_s
        self.rng = rng or random.Random()
        self._queues: dict[str, Queue] = {}
        self._workers: dict[str, Worker] = {}
        self._task_group: TaskGroup | None = None
        self._waiters: dict[str, list[anyio.Event]] = {}
        self._reaper_wakeup = anyio.Event()
        self._reaper_deadline: float | None = None
        self._scheduler_wakeup = anyio.Event()
        bus.add_listener(self._on_commit)

    # -- queues -------------------------------------------------------------------------

    def queue(self, name: str, settings: QueueSettings | None = None) -> Queue:
        """Return the queue called ``name``, creating it; ``settings`` replace its settings."""
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"queue name must be a non-empty string, got {name!r}")
        queue = self._queues.get(name)
        if queue is None:
            queue = Queue(self, name, settings or QueueSettings(lease_s=self.lease_s))
            self._queues[name] = queue
        elif settings is not None:
            queue.settings = settings
        queue.settings.validate()
        return queue

    def _ensure_worker(self, queue: Queue) -> None:
        if queue.name in self._workers:
            return
        worker = Worker(self, queue)
        self._workers[queue.name] = worker
        if self._task_group is not None:
            self._task_group.start_soon(worker.run)

    def _wake(self, queue_name: str) -> None:
        worker = self._workers.get(queue_name)
        if worker is not None:
            worker.wake()

    def _wake_scheduler(self) -> None:
        self._scheduler_wakeup.set()

    def _cancel_running(self, job_id: str) -> None:
        for worker in self._workers.values():
            if worker.cancel_running(job_id):
                return

    # -- life cycle ---------------------------------------------------------------------

    async def start(self, task_group: TaskGroup) -> None:
        """Recover jobs left active by dead processes, then start every background task."""
        self._task_group = task_group
        await self._recover(dead_owners_too=True)
        task_group.start_soon(self._reaper)
        task_group.start_soon(self._heartbeat)
        task_group.start_soon(self._scheduler)
        for worker in self._workers.values():
            task_group.start_soon(worker.run)

    def _on_commit(self, records: list[EventRecord]) -> None:
        to_wake: set[str] = set()
        for record in records:
            event_type = record.type
            if event_type in _WAKE_TYPES:
                if record.queue is not None:
                    to_wake.add(record.queue)
            elif event_type in _END_TYPES:
                if record.job_id is None:
                    continue
                if self._waiters:
                    for waiter in self._waiters.pop(record.job_id, ()):
                        waiter.set()
                if event_type == "job:cancelled":
                    # The store cancels the siblings of a failed child and the children of
                    # a cancelled parent, so their running handlers must stop here too.
                    self._cancel_running(record.job_id)
            elif event_type == "job:active" and self._reaper_deadline is None:
                # A new lease ends after every lease the reaper already waits for, so it
                # only needs waking when it waits for none.
                self._reaper_wakeup.set()
        # One wake per queue, however many of its jobs the batch added.
        for queue in to_wake:
            self._wake(queue)

    # -- leases and stalled jobs ----------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = self.lease_s / 3
        while True:
            running = [job_id for worker in self._workers.values() for job_id in worker.running]
            await self.store.renew_leases(running, lease_s=self._lease_for_running())
            await self.clock.sleep_until(self.clock.now() + interval)

    def _lease_for_running(self) -> float:
        leases = [q.settings.lease_s for q in self._queues.values() if q.name in self._workers]
        return max(leases, default=self.lease_s)

    async def _reaper(self) -> None:
        while True:
            self._reaper_wakeup = anyio.Event()
            # Until the new deadline is known, every new lease wakes the reaper, so one
            # that starts while the deadline is read is not missed.
            self._reaper_deadline = None
            await self._recover(dead_owners_too=False)
            deadline = await self.store.next_lease_expiry()
            self._reaper_deadline = deadline
            await wait_until(self._reaper_wakeup, self.clock, deadline)

    async def _recover(self, *, dead_owners_too: bool) -> None:
        """Send jobs whose lease expired back through their backoff, or fail them."""
        expired = await self.store.expired_leases(dead_owners_too=dead_owners_too)
        if not expired:
            return
        outcomes = [self._stall_outcome(record) for record in expired]
        await self.store.finish(outcomes)
        for record in expired:
            if record.lease_owner == self.store.owner:
                self._cancel_running(record.id)

    def _stall_outcome(self, record: JobRecord) -> Outcome:
        stalls = record.stalls + 1
        logger.warning(
            "job %s (%s/%s) stalled: its lease expired while active (stall %d of at most %d)",
            record.id,
            record.queue,
            record.name,
            stalls,
            record.max_stalls,
        )
        if stalls > record.max_stalls:
            error = f"stalled {stalls} times, more than the allowed {record.max_stalls}"
            return Outcome(
                record.id, record.lease_token, OutcomeKind.FAIL, error=error, stalled=True
            )
        if record.attempts_made >= record.max_attempts:
            error = f"stalled on its last attempt ({record.attempts_made} of {record.max_attempts})"
            return Outcome(
                record.id, record.lease_token, OutcomeKind.FAIL, error=error, stalled=True
            )
        try:
            delay = retry_delay(self, self.queue(record.queue), record, None)
        except Exception:
            # Start-up recovery runs before the caller can register a custom backoff
            # strategy, and a strategy may raise. Retrying the job at once keeps the app
            # running.
            logger.exception(
                "computing the backoff of stalled job %s failed; retrying it at once", record.id
            )
            delay = 0.0
        return Outcome(
            record.id,
            record.lease_token,
            OutcomeKind.RETRY,
            error="stalled: the job's lease expired, probably because its process died",
            run_at=self.clock.now() + delay,
            stalled=True,
        )

    # -- schedules ----------------------------------------------------------------------

    async def _scheduler(self) -> None:
        while True:
            self._scheduler_wakeup = anyio.Event()
            deadline = await self._advance_schedules()
            await wait_until(self._scheduler_wakeup, self.clock, deadline)

    async def _advance_schedules(self) -> float | None:
        """Add the next occurrence of every schedule whose pending one is due."""
        now = self.clock.now()
        earliest: float | None = None
        for schedule in await self.store.get_schedules():
            next_at = schedule.next_run_at
            if next_at <= now:
                zone = ZoneInfo(schedule.timezone)
                following = next_occurrence(
                    max(now, next_at), every=schedule.every, cron=schedule.cron, zone=zone
                )
                queue = self.queue(schedule.queue)
                await self.store.materialise_schedule(
                    schedule.id,
                    expected_next_run_at=next_at,
                    job=queue._occurrence(schedule, following),
                    following_run_at=following,
                )
                next_at = following
            earliest = next_at if earliest is None else min(earliest, next_at)
        return earliest

    # -- waiting ------------------------------------------------------------------------

    async def wait_for_job(self, queue: Queue, job_id: str, *, timeout: float) -> Job:
        """Wait (at most ``timeout`` seconds on the engine's clock) until a job is final."""
        if timeout is None or timeout < 0:
            raise InvalidInputError(f"wait needs a timeout in seconds >= 0, got {timeout!r}")
        deadline = self.clock.now() + timeout
        while True:
            waiter = anyio.Event()
            self._waiters.setdefault(job_id, []).append(waiter)
            record = await self.store.get_job(job_id)
            if record is None:
                raise NotFoundError(f"job {job_id!r} does not exist or was removed")
            if record.state.is_final:
                self._forget_waiter(job_id, waiter)
                return Job(self.queue(record.queue), record)
            if not await wait_until(waiter, self.clock, deadline):
                self._forget_waiter(job_id, waiter)
                raise WaitTimeoutError(
                    f"job {job_id} is still {record.state.value} after {timeout} s; "
                    "it goes on running, wait again or raise the timeout"
                )

    def _forget_waiter(self, job_id: str, waiter: anyio.Event) -> None:
        waiters = self._waiters.get(job_id)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[job_id]
