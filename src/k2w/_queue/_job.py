"""The job handle that handlers receive and that ``queue.add`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import InvalidInputError
from .._store._records import ChildFailurePolicy, JobRecord, JobState, NewEvent

if TYPE_CHECKING:
    from ._queue import Queue

__all__ = ["ChildResult", "Job"]


@dataclass(frozen=True, slots=True)
class ChildResult:
    """The outcome of a child job of a flow, as its parent reads it."""

    id: str
    name: str
    state: JobState
    result: Any
    error: str | None


class Job:
    """A snapshot of one job, with the calls a running handler makes.

    The attributes are as of when the snapshot was taken; :meth:`refresh` reads the
    current state from the store.
    """

    __slots__ = ("_last_report", "_queue", "_record")

    def __init__(self, queue: Queue, record: JobRecord) -> None:
        self._queue = queue
        self._record = record
        self._last_report: tuple[float, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.queue_name}/{self.name} {self.state.value}>"

    @property
    def id(self) -> str:
        """The job id: caller-given, or 32 generated hex digits that sort in creation order."""
        return self._record.id

    @property
    def name(self) -> str:
        """The handler name the job runs."""
        return self._record.name

    @property
    def queue_name(self) -> str:
        """The queue the job belongs to."""
        return self._record.queue

    @property
    def payload(self) -> Any:
        """The JSON-compatible data the job was added with."""
        return self._record.payload

    @property
    def state(self) -> JobState:
        """The state as of this snapshot."""
        return self._record.state

    @property
    def priority(self) -> int:
        """Lower numbers run first."""
        return self._record.priority

    @property
    def attempts_made(self) -> int:
        """Attempts started so far, including the running one."""
        return self._record.attempts_made

    @property
    def max_attempts(self) -> int:
        """The total number of attempts allowed."""
        return self._record.max_attempts

    @property
    def stalls(self) -> int:
        """How often the job's lease expired while it ran."""
        return self._record.stalls

    @property
    def result(self) -> Any:
        """The handler's return value once completed, else None."""
        return self._record.result

    @property
    def error(self) -> str | None:
        """The last error, if any."""
        return self._record.error

    @property
    def progress(self) -> float:
        """The last reported progress, 0–100."""
        return self._record.progress

    @property
    def workflow_id(self) -> str | None:
        """The run (workflow) the job belongs to, if any."""
        return self._record.workflow_id

    @property
    def user_id(self) -> str | None:
        """The user the job's events are addressed to, if any."""
        return self._record.user_id

    @property
    def parent_id(self) -> str | None:
        """The parent job in a flow, if any."""
        return self._record.parent_id

    @property
    def created_at(self) -> float:
        """When the job was added (seconds since the epoch)."""
        return self._record.created_at

    @property
    def finished_at(self) -> float | None:
        """When the job reached a final state, if it did."""
        return self._record.finished_at

    @property
    def record(self) -> JobRecord:
        """The stored record behind this snapshot."""
        return self._record

    async def refresh(self) -> Job:
        """Return a new snapshot of this job read from the store."""
        return await self._queue.get_job(self.id)

    async def update_progress(
        self, progress: float, *, extra_events: Sequence[NewEvent] = (), **data: Any
    ) -> None:
        """Report progress (0–100) of the running job; emits ``job:progress``.

        Extra keyword arguments travel in the event's payload (for example ``message``).
        Reports are throttled so a chatty handler cannot flood the event log: within the
        queue's ``progress_interval_s`` of the last stored report, a report with the same
        extra fields is kept in memory only, unless it reaches 100.
        """
        if not 0 <= progress <= 100:
            raise InvalidInputError(f"progress must be between 0 and 100, got {progress}")
        self._record.progress = progress
        now = self._queue._engine.clock.now()
        if self._last_report is not None and progress < 100 and not extra_events:
            last_at, last_data = self._last_report
            if data == last_data and now - last_at < self._queue.settings.progress_interval_s:
                return
        self._last_report = (now, dict(data))
        await self._queue._store.update_progress(self.id, progress, data, extra_events)

    async def log(self, line: str) -> None:
        """Keep a log line with the job; read them back with ``queue.get_logs(job_id)``."""
        await self._queue._store.append_log(self.id, line)

    async def children_results(self) -> list[ChildResult]:
        """Return how this job's children ended (for a parent in a flow).

        A child added with ``on_failure=ChildFailurePolicy.REMOVE`` that failed or was
        cancelled is left out.
        """
        children = await self._queue._store.children(self.id)
        return [
            ChildResult(child.id, child.name, child.state, child.result, child.error)
            for child in children
            if not _removed_on_failure(child)
        ]

    async def wait(self, timeout: float) -> Job:
        """Wait until the job is final; see :meth:`Queue.wait`."""
        return await self._queue.wait(self.id, timeout=timeout)


def _removed_on_failure(child: JobRecord) -> bool:
    return child.on_child_failure is ChildFailurePolicy.REMOVE and child.state in (
        JobState.FAILED,
        JobState.CANCELLED,
    )
