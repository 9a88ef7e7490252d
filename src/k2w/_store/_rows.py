"""Rows to records and back: JSON columns and the dataclasses of ``_records``."""

from __future__ import annotations

import dataclasses
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
    "_JOB_COLUMNS",
    "_POLICIES",
    "_SCALARS",
    "_STATES",
    "_backoff_text",
    "_dumps",
    "_dumps_data",
    "_event_from_row",
    "_job_from_row",
    "_loads",
    "_run_from_row",
    "_schedule_from_row",
]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encode_string = json.encoder.encode_basestring


def _dumps(value: Any) -> str:
    # Most payloads and results are None, a number or a string, so they skip the encoder's
    # Python layers. Floats keep the encoder, which spells NaN and infinities.
    kind = type(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _encode_string(value)
    # One shared encoder: json.dumps with non-default options builds a new one per call.
    return _ENCODER.encode(value)


# The C encoder behind json, built once, without the check for values that contain
# themselves. Only for dicts of scalars, which cannot: see :func:`_dumps_data`.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_FLAT_ENCODER = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def _dumps_data(value: dict[str, Any]) -> str:
    """Encode an event's data like :func:`_dumps`, faster when every value is a scalar."""
    if _FLAT_ENCODER is None:
        return _ENCODER.encode(value)
    for item in value.values():
        if type(item) not in _SCALARS:
            return _ENCODER.encode(value)
    text: str = _FLAT_ENCODER(value, 0)[0]
    return text


def _loads(text: str | None) -> Any:
    if text is None or text == "null":
        return None
    if len(text) < 19 and text.isascii() and text.isdigit():
        # Short, unsigned, ASCII digits only: what json.loads returns for what _dumps wrote.
        return int(text)
    return json.loads(text)


_STATES = {state.value: state for state in JobState}
_POLICIES = {policy.value: policy for policy in ChildFailurePolicy}


_SCALARS = frozenset({type(None), str, int, float, bool})


def _backoff_text(backoff: dict[str, Any]) -> str:
    # Jobs added without a backoff share one dict, never changed: the last dict seen
    # skips the sort. The backoff dicts of records are only read.
    last_dict, last_text = _last_backoff[0]
    if last_dict is backoff:
        return last_text
    text = _backoff_text_cached(tuple(sorted(backoff.items())))
    _last_backoff[0] = (backoff, text)
    return text


_last_backoff: list[tuple[dict[str, Any] | None, str]] = [(None, "")]


@functools.lru_cache(maxsize=256)
def _backoff_text_cached(items: tuple[tuple[str, Any], ...]) -> str:
    return _dumps(dict(items))


@functools.lru_cache(maxsize=256)
def _backoff_from_text(text: str) -> dict[str, Any]:
    # Most jobs share one of a few backoff settings; parse each text once. Callers only
    # read the dict.
    parsed: dict[str, Any] = json.loads(text) or {}
    return parsed


# The columns of ``jobs`` in table order, which is the order of ``SELECT *``. Rows are read
# by position: looking a column up by name in a ``sqlite3.Row`` compares names one by one.
_JOB_COLUMNS = (
    "pk",
    "id",
    "queue",
    "name",
    "state",
    "payload",
    "priority",
    "attempts_made",
    "max_attempts",
    "backoff",
    "stalls",
    "max_stalls",
    "run_at",
    "created_at",
    "started_at",
    "finished_at",
    "result",
    "error",
    "timeout",
    "parent_id",
    "on_child_failure",
    "pending_children",
    "dedup_key",
    "workflow_id",
    "user_id",
    "progress",
    "lease_owner",
    "lease_expires_at",
    "lease_token",
    "schedule_id",
)


# JobRecord's fields are the columns after ``pk``, in the same order, so a row builds a
# record positionally.
_JOB_FIELDS = _JOB_COLUMNS[1:]
if tuple(field.name for field in dataclasses.fields(JobRecord)) != _JOB_FIELDS:
    raise AssertionError("JobRecord's fields must match the columns of jobs after pk")


def _job_from_row(row: sqlite3.Row | tuple[Any, ...]) -> JobRecord:
    """Build a record from a row of ``SELECT *`` (or ``RETURNING *``) on ``jobs``.

    Columns after the known ones (added by a later schema) are ignored.
    """
    # Positional: claims build one record per job, and keywords cost more. Then the
    # columns stored as text are turned into their values.
    record = JobRecord(*row[1 : len(_JOB_COLUMNS)])
    record.state = _STATES[row[_STATE]]
    record.payload = _loads(row[_PAYLOAD])
    record.backoff = _backoff_from_text(row[_BACKOFF])
    if row[_RESULT] is not None:
        record.result = json.loads(row[_RESULT])
    record.on_child_failure = _POLICIES[row[_POLICY]]
    return record


_STATE = _JOB_COLUMNS.index("state")
_PAYLOAD = _JOB_COLUMNS.index("payload")
_BACKOFF = _JOB_COLUMNS.index("backoff")
_RESULT = _JOB_COLUMNS.index("result")
_POLICY = _JOB_COLUMNS.index("on_child_failure")


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
