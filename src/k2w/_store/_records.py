"""Plain records that cross the store interface.

They are dataclasses rather than pydantic models because thousands of them are made
per second on the queue's hot path; the public API wraps them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChildFailurePolicy",
    "EventRecord",
    "JobRecord",
    "JobState",
    "NewEvent",
    "NewJob",
    "Outcome",
    "OutcomeKind",
    "RunRecord",
    "ScheduleRecord",
]


class JobState(enum.StrEnum):
    """The state of a job in its life cycle."""

    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    WAITING_CHILDREN = "waiting-children"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for completed, failed and cancelled."""
        return self in _FINAL_STATES


_FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


class ChildFailurePolicy(enum.StrEnum):
    """The effect of a child job's final failure on its parent.

    ``fail``: the parent fails at once and its other children are cancelled.
    ``ignore``: the failure counts as the child being done; the parent runs when all
    children are done and reads the failure among its children's results.
    ``remove``: like ``ignore``, but the failed child is left out of the results.
    Every policy ends the wait, so no parent waits forever on a failed child.
    """

    FAIL = "fail"
    IGNORE = "ignore"
    REMOVE = "remove"


@dataclass(slots=True)
class NewJob:
    """A job to insert."""

    id: str
    queue: str
    name: str
    payload: Any
    priority: int = 0
    run_at: float = 0.0
    delayed: bool = False
    max_attempts: int = 1
    backoff: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    max_stalls: int = 1
    parent_id: str | None = None
    on_child_failure: ChildFailurePolicy = ChildFailurePolicy.FAIL
    dedup_key: str | None = None
    workflow_id: str | None = None
    user_id: str | None = None
    schedule_id: str | None = None
    # A tuple by default: an empty list per job would be one more object for the
    # garbage collector to track in a bulk add.
    children: Sequence[NewJob] = ()


@dataclass(slots=True)
class JobRecord:
    """A job as stored."""

    id: str
    queue: str
    name: str
    state: JobState
    payload: Any
    priority: int
    attempts_made: int
    max_attempts: int
    backoff: dict[str, Any]
    stalls: int
    max_stalls: int
    run_at: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: Any
    error: str | None
    timeout: float | None
    parent_id: str | None
    on_child_failure: ChildFailurePolicy
    pending_children: int
    dedup_key: str | None
    workflow_id: str | None
    user_id: str | None
    progress: float
    lease_owner: str | None
    lease_expires_at: float | None
    lease_token: int
    schedule_id: str | None


class OutcomeKind(enum.StrEnum):
    """The way an attempt ended."""

    COMPLETE = "complete"
    RETRY = "retry"
    FAIL = "fail"
    RATE_LIMITED = "rate-limited"


@dataclass(slots=True)
class Outcome:
    """The end of one attempt, as the worker reports it to the store."""

    job_id: str
    lease_token: int
    kind: OutcomeKind
    result: Any = None
    error: str | None = None
    run_at: float = 0.0
    stalled: bool = False
    record: JobRecord | None = None
    """The job as it was claimed; lets the store complete many jobs without reading each."""


@dataclass(slots=True)
class NewEvent:
    """An event to append to the log; ``seq`` is assigned when it is committed."""

    type: str
    data: dict[str, Any]
    workflow_id: str | None = None
    user_id: str | None = None
    job_id: str | None = None
    queue: str | None = None


@dataclass(slots=True)
class EventRecord:
    """An event as stored, with its sequence number.

    Not frozen: a write transaction makes each record when the event is emitted and sets
    ``seq`` when it is committed, and a frozen dataclass costs more to build. Treat a
    committed record as read-only.
    """

    seq: int
    ts: float
    type: str
    data: dict[str, Any]
    workflow_id: str | None
    user_id: str | None
    job_id: str | None
    queue: str | None


@dataclass(slots=True)
class RunRecord:
    """A pipeline run (a workflow)."""

    id: str
    user_id: str | None
    status: str
    created_at: float
    updated_at: float
    options: dict[str, Any]
    keywords: list[str]
    progress: float = 0.0
    report: dict[str, Any] | None = None
    error: str | None = None
    finished_at: float | None = None


@dataclass(slots=True)
class ScheduleRecord:
    """A repeatable job: every ``every`` seconds or on a cron expression."""

    id: str
    queue: str
    name: str
    payload: Any
    every: float | None
    cron: str | None
    timezone: str
    next_run_at: float
    options: dict[str, Any]
    last_job_id: str | None = None
