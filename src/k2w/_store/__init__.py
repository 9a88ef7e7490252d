"""Persistence: the store interface's records and the SQLite store."""

from ._records import (
    ChildFailurePolicy,
    EventRecord,
    JobRecord,
    JobState,
    NewEvent,
    NewJob,
    Outcome,
    OutcomeKind,
    RunRecord,
    ScheduleRecord,
)
from ._schema import SCHEMA_VERSION
from ._sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "ChildFailurePolicy",
    "EventRecord",
    "JobRecord",
    "JobState",
    "NewEvent",
    "NewJob",
    "Outcome",
    "OutcomeKind",
    "RunRecord",
    "SQLiteStore",
    "ScheduleRecord",
]
