"""The generic job engine: queues, workers, flows, schedules."""

from .._store._records import ChildFailurePolicy, JobState
from ._engine import Engine
from ._job import ChildResult, Job
from ._options import Backoff, BackoffFunction, RateLimit
from ._queue import MAX_PRIORITY, FlowJob, Queue, QueueSettings, Schedule

__all__ = [
    "MAX_PRIORITY",
    "Backoff",
    "BackoffFunction",
    "ChildFailurePolicy",
    "ChildResult",
    "Engine",
    "FlowJob",
    "Job",
    "JobState",
    "Queue",
    "QueueSettings",
    "RateLimit",
    "Schedule",
]
