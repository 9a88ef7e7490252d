"""Rows to records and back: JSON columns and the dataclasses of ``_records``."""

from __future__ import annotations

import functools
import json
import sqlite3
from typing import Any

from ._records import (
    ChildFailurePolicy,
    EventRecord,
    JobRecord,
    JobState,
    RunRecord,
    ScheduleRecord,
)

__all__ = [
    "_POLICIES",
    "_SCALARS",
    "_STATES",
    "_backoff_text",
    "_dumps",
    "_event_from_row",
    "_job_from_row",
    "_loads",
    "_run_from_row",
    "_schedule_from_row",
]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    # One shared encoder: json.dumps with non-default options builds a new one per call.
    return _ENCODER.encode(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_STATES = {state.value: state for state in JobState}
_POLICIES = {policy.value: policy for policy in ChildFailurePolicy}


_SCALARS = frozenset({type(None), str, int, float, bool})


def _backoff_text(backoff: dict[str, Any]) -> str:
    return _backoff_text_cached(tuple(sorted(backoff.items())))


@functools.lru_cache(maxsize=256)
def _backoff_text_cached(items: tuple[tuple[str, Any], ...]) -> str:
    return _dumps(dict(items))


@functools.lru_cache(maxsize=256)
def _backoff_from_text(text: str) -> dict[str, Any]:
    # Most jobs share one of a few backoff settings; parse each text once. Callers only
    # read the dict.
    parsed: dict[str, Any] = json.loads(text) or {}
    return parsed


def _job_from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        queue=row["queue"],
        name=row["name"],
        state=_STATES[row["state"]],
        payload=_loads(row["payload"]),
        priority=row["priority"],
        attempts_made=row["attempts_made"],
        max_attempts=row["max_attempts"],
        backoff=_backoff_from_text(row["backoff"]),
        stalls=row["stalls"],
        max_stalls=row["max_stalls"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=_loads(row["result"]),
        error=row["error"],
        timeout=row["timeout"],
        parent_id=row["parent_id"],
        on_child_failure=_POLICIES[row["on_child_failure"]],
        pending_children=row["pending_children"],
        dedup_key=row["dedup_key"],
        workflow_id=row["workflow_id"],
        user_id=row["user_id"],
        progress=row["progress"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        lease_token=row["lease_token"],
        schedule_id=row["schedule_id"],
    )


def _event_from_row(row: sqlite3.Row) -> EventRecord:
    return EventRecord(
        seq=row["seq"],
        ts=row["ts"],
        type=row["type"],
        data=_loads(row["data"]),
        workflow_id=row["workflow_id"],
        user_id=row["user_id"],
        job_id=row["job_id"],
        queue=row["queue"],
    )


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        options=_loads(row["options"]),
        keywords=_loads(row["keywords"]),
        progress=row["progress"],
        report=_loads(row["report"]),
        error=row["error"],
        finished_at=row["finished_at"],
    )


def _schedule_from_row(row: sqlite3.Row) -> ScheduleRecord:
    return ScheduleRecord(
        id=row["id"],
        queue=row["queue"],
        name=row["name"],
        payload=_loads(row["payload"]),
        every=row["every"],
        cron=row["cron"],
        timezone=row["timezone"],
        next_run_at=row["next_run_at"],
        options=_loads(row["options"]) or {},
        last_job_id=row["last_job_id"],
    )
