"""The event type that subscribers receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._store._records import EventRecord

__all__ = ["PROGRESS_TYPES", "Event"]

#: Event types that a slow subscriber may receive coalesced: only the newest per job
#: (or per run) matters, because each carries the whole current state.
PROGRESS_TYPES = frozenset({"job:progress", "workflow:progress"})


@dataclass(frozen=True, slots=True)
class Event:
    """One committed event.

    Attributes use snake_case; :meth:`to_wire` gives the camelCase JSON object that a
    browser expects (``workflowId``, ``userId``, ``timeRemaining``, ``seq`` ...).
    ``data`` contains the type-specific fields, already in wire form.
    """

    seq: int
    type: str
    ts: float
    data: dict[str, Any]
    workflow_id: str | None = None
    user_id: str | None = None
    job_id: str | None = None
    queue: str | None = None

    @classmethod
    def from_record(cls, record: EventRecord) -> Event:
        """Build an event from a stored record."""
        return cls(
            seq=record.seq,
            type=record.type,
            ts=record.ts,
            data=record.data,
            workflow_id=record.workflow_id,
            user_id=record.user_id,
            job_id=record.job_id,
            queue=record.queue,
        )

    @property
    def stage(self) -> str | None:
        """The pipeline stage the event is about, if any."""
        value = self.data.get("stage")
        return value if isinstance(value, str) else None

    @property
    def progress(self) -> float | None:
        """Percent done (0–100) for progress events, else None."""
        value = self.data.get("progress")
        return float(value) if isinstance(value, int | float) else None

    @property
    def message(self) -> str | None:
        """The localised, human-readable message, if the event has one."""
        value = self.data.get("message")
        return value if isinstance(value, str) else None

    @property
    def time_remaining(self) -> float | None:
        """Estimated seconds until the run finishes, or None before there is history."""
        value = self.data.get("timeRemaining")
        return float(value) if isinstance(value, int | float) else None

    def coalesce_key(self) -> tuple[str, str | None] | None:
        """Return the key under which a newer event replaces this one for a slow subscriber."""
        if self.type not in PROGRESS_TYPES:
            return None
        return (self.type, self.job_id if self.type == "job:progress" else self.workflow_id)

    def to_wire(self) -> dict[str, Any]:
        """Return the camelCase JSON object for browsers and other clients."""
        wire: dict[str, Any] = {
            "seq": self.seq,
            "type": self.type,
            "ts": self.ts,
            "workflowId": self.workflow_id,
            "userId": self.user_id,
        }
        if self.job_id is not None:
            wire["jobId"] = self.job_id
        if self.queue is not None:
            wire["queue"] = self.queue
        wire.update(self.data)
        return wire
