"""Write transactions: the request and transaction types, and the SQL each write runs.

The functions that take a ``_Tx`` run on the database thread, inside the one
``BEGIN IMMEDIATE`` transaction that :class:`~k2w._store._sqlite.SQLiteStore`'s writer
opened for a group of requests.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import anyio

from .._errors import StoreError
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
)
from ._rows import (
    _JOB_COLUMNS,
    _POLICIES,
    _SCALARS,
    _backoff_text,
    _dumps,
    _dumps_data,
    _job_from_row,
)

__all__ = [
    "Claim",
    "_Tx",
    "_WriteRequest",
    "_cancel_subtree",
    "_claim",
    "_complete_many",
    "_fetch_all",
    "_find_duplicate",
    "_finish_one",
    "_get_job",
    "_insert_job_tree",
    "_insert_jobs",
    "_insert_run",
    "_is_plain_completion",
    "_notify_parent",
    "_owner_is_dead",
    "_remove_pending_occurrences",
    "_set_final",
    "_split_sql",
    "_try_transaction",
]

logger = logging.getLogger("k2w.store")

_LIVE_STATES = ("waiting", "delayed", "active", "waiting-children")
_PRIORITY_COLUMN = _JOB_COLUMNS.index("priority")


class _Tx:
    """One write transaction as seen by a write request; runs on the database thread."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        # Records whose seq is set when the transaction commits.
        self.events: list[EventRecord] = []

    def emit(self, event: NewEvent) -> None:
        self.events.append(
            EventRecord(
                0,
                self.now,
                event.type,
                event.data,
                event.workflow_id,
                event.user_id,
                event.job_id,
                event.queue,
            )
        )

    def emit_job(self, event_type: str, job: JobRecord, data: dict[str, Any]) -> None:
        """Emit an event about ``job``: its name, then ``data``."""
        self.emit_job_data(event_type, job, {"name": job.name, **data})

    def emit_job_data(self, event_type: str, job: JobRecord, data: dict[str, Any]) -> None:
        """Emit an event about ``job`` whose ``data`` already has the job's name.

        For the events of every job's life, which skip :meth:`emit_job`'s dict merge.
        """
        self.events.append(
            EventRecord(
                0, self.now, event_type, data, job.workflow_id, job.user_id, job.id, job.queue
            )
        )

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def fetch_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Like :meth:`fetchall`, with plain tuples, which cost less than rows to build."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
        return rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, params)


@dataclass(eq=False)
class _WriteRequest:
    op: Callable[[_Tx], Any]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """Jobs claimed from a queue, with what an idle worker needs to know next."""

    jobs: list[JobRecord]
    paused: bool
    next_due: float | None


def _fetch_all(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def _try_transaction(
    conn: sqlite3.Connection, batch: list[_WriteRequest], now: float
) -> list[EventRecord] | None:
    tx = _Tx(conn, now)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for request in batch:
            request.result = request.op(tx)
        events = _insert_events(tx)
        conn.execute("COMMIT")
    except Exception as exc:
        _rollback_quietly(conn)
        if len(batch) == 1:
            batch[0].error = _wrap_sqlite_error(exc)
        return None
    return events


def _insert_events(tx: _Tx) -> list[EventRecord]:
    events = tx.events
    if not events:
        return []
    # The counter outlives pruning, so a seq is never handed out twice.
    rows = tx.fetchall(
        "UPDATE counters SET value = value + ? WHERE name = 'event_seq' RETURNING value",
        (len(events),),
    )
    first = int(rows[0][0]) - len(events) + 1
    seq = first
    for event in events:
        event.seq = seq
        seq += 1
    tx.executemany(
        "INSERT INTO events (seq, ts, type, workflow_id, user_id, job_id, queue, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (e.seq, e.ts, e.type, e.workflow_id, e.user_id, e.job_id, e.queue, _dumps_data(e.data))
            for e in events
        ],
    )
    return events


# -- helpers that run inside a write transaction ----------------------------------------------


def _claim(tx: _Tx, queue: str, limit: int, *, lease_s: float, owner: str) -> Claim:
    promoted = tx.fetchall(
        "UPDATE jobs SET state = 'waiting' "
        "WHERE state = 'delayed' AND queue = ? AND run_at <= ? "
        "RETURNING id, queue, name, workflow_id, user_id",
        (queue, tx.now),
    )
    for row in promoted:
        tx.emit(
            NewEvent(
                "job:waiting",
                {"name": row["name"], "due": True},
                workflow_id=row["workflow_id"],
                user_id=row["user_id"],
                job_id=row["id"],
                queue=row["queue"],
            )
        )
    paused = tx.fetchall("SELECT paused FROM queues WHERE name = ?", (queue,))
    if paused and paused[0][0]:
        return Claim([], paused=True, next_due=_next_due(tx, queue))
    rows = tx.fetch_tuples(
        "UPDATE jobs SET state = 'active', attempts_made = attempts_made + 1, "
        "started_at = ?, lease_owner = ?, lease_expires_at = ?, "
        "lease_token = lease_token + 1 "
        "WHERE pk IN (SELECT pk FROM jobs WHERE queue = ? AND state = 'waiting' "
        "ORDER BY priority, pk LIMIT ?) RETURNING *",
        (tx.now, owner, tx.now + lease_s, queue, limit),
    )
    # RETURNING gives no order.
    rows.sort(key=lambda row: (row[_PRIORITY_COLUMN], row[0]))
    records = [_job_from_row(row) for row in rows]
    for record in records:
        tx.emit_job_data(
            "job:active",
            record,
            {
                "name": record.name,
                "attempt": record.attempts_made,
                "maxAttempts": record.max_attempts,
            },
        )
    return Claim(records, paused=False, next_due=_next_due(tx, queue))


def _next_due(tx: _Tx, queue: str) -> float | None:
    rows = tx.fetchall(
        "SELECT MIN(run_at) FROM jobs WHERE state = 'delayed' AND queue = ?", (queue,)
    )
    value = rows[0][0] if rows else None
    return None if value is None else float(value)


def _remove_pending_occurrences(tx: _Tx, schedule_id: str, reason: str) -> None:
    rows = tx.fetchall(
        "DELETE FROM jobs WHERE schedule_id = ? AND state IN ('waiting', 'delayed') "
        "RETURNING id, queue, name",
        (schedule_id,),
    )
    for row in rows:
        tx.emit(
            NewEvent(
                "job:removed",
                {"name": row["name"], "reason": reason},
                job_id=row["id"],
                queue=row["queue"],
            )
        )


def _insert_run(tx: _Tx, run: RunRecord) -> None:
    tx.execute(
        "INSERT INTO runs (id, user_id, status, created_at, updated_at, options, keywords, "
        "progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run.id,
            run.user_id,
            run.status,
            run.created_at,
            run.updated_at,
            _dumps(run.options),
            _dumps(run.keywords),
            run.progress,
        ),
    )


_INSERT_JOB = (
    "INSERT INTO jobs (id, queue, name, state, payload, priority, max_attempts, backoff, "
    "max_stalls, run_at, created_at, timeout, parent_id, on_child_failure, "
    "pending_children, dedup_key, workflow_id, user_id, schedule_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def _new_rows(job: NewJob, now: float) -> tuple[tuple[Any, ...], JobRecord]:
    """Return the parameters of ``job``'s INSERT and the record it stores."""
    text = _dumps(job.payload)
    # A payload reads back as what JSON makes of it (tuples become lists); plain scalars
    # need no round trip.
    payload = job.payload if type(job.payload) in _SCALARS else json.loads(text)
    if job.children:
        state, run_at = JobState.WAITING_CHILDREN, now
    elif job.delayed and job.run_at > now:
        state, run_at = JobState.DELAYED, job.run_at
    else:
        state, run_at = JobState.WAITING, now
    # The enum members are str subclasses, which sqlite3 stores as their text.
    params = (
        job.id,
        job.queue,
        job.name,
        state,
        text,
        job.priority,
        job.max_attempts,
        _backoff_text(job.backoff),
        job.max_stalls,
        run_at,
        now,
        job.timeout,
        job.parent_id,
        job.on_child_failure,
        0,
        job.dedup_key,
        job.workflow_id,
        job.user_id,
        job.schedule_id,
    )
    # Positional: a bulk add builds one record per job, and keywords cost more.
    record = JobRecord(
        job.id,
        job.queue,
        job.name,
        state,
        payload,
        job.priority,
        0,  # attempts_made
        job.max_attempts,
        job.backoff,
        0,  # stalls
        job.max_stalls,
        run_at,
        now,  # created_at
        None,  # started_at
        None,  # finished_at
        None,  # result
        None,  # error
        job.timeout,
        job.parent_id,
        job.on_child_failure,
        0,  # pending_children
        job.dedup_key,
        job.workflow_id,
        job.user_id,
        0.0,  # progress
        None,  # lease_owner
        None,  # lease_expires_at
        0,  # lease_token
        job.schedule_id,
    )
    return params, record


def _emit_added(tx: _Tx, record: JobRecord) -> None:
    event_type = "job:delayed" if record.state is JobState.DELAYED else "job:added"
    tx.emit_job_data(event_type, record, {"name": record.name, "runAt": record.run_at})


def _insert_jobs(tx: _Tx, jobs: Sequence[NewJob]) -> list[JobRecord]:
    """Insert jobs and their children, and return each top job (an existing one for a
    duplicate).

    Jobs without children whose ids and de-duplication keys are all free go in with one
    ``executemany``. Otherwise the jobs go in one by one.
    """
    if len(jobs) > 1 and not any(job.children for job in jobs) and _all_free(tx, jobs):
        params: list[tuple[Any, ...]] = []
        records: list[JobRecord] = []
        for job in jobs:
            row, record = _new_rows(job, tx.now)
            params.append(row)
            records.append(record)
        before = tx.conn.total_changes
        tx.executemany(_INSERT_JOB, params)
        if tx.conn.total_changes - before != len(jobs):
            raise StoreError(
                "bulk insert failed: a job with a free id and key was not inserted, so no "
                "job was added; add the jobs again"
            )
        for record in records:
            _emit_added(tx, record)
        return records
    return [_insert_job_tree(tx, job)[0] for job in jobs]


def _all_free(tx: _Tx, jobs: Sequence[NewJob]) -> bool:
    """Return True when no two jobs share an id and no id or pending dedup key is taken."""
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        return False
    keys: dict[str, set[str]] = {}
    for job in jobs:
        if job.dedup_key is not None:
            queue_keys = keys.setdefault(job.queue, set())
            if job.dedup_key in queue_keys:
                return False
            queue_keys.add(job.dedup_key)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        conflicts = tx.fetchall(
            f"SELECT 1 FROM jobs WHERE id IN ({','.join('?' * len(chunk))}) LIMIT 1", chunk
        )
        if conflicts:
            return False
    for queue, queue_keys in keys.items():
        key_list = sorted(queue_keys)
        for start in range(0, len(key_list), _IN_CHUNK):
            chunk = key_list[start : start + _IN_CHUNK]
            conflicts = tx.fetchall(
                "SELECT 1 FROM jobs WHERE queue = ? AND dedup_key IN "
                f"({','.join('?' * len(chunk))}) AND state IN "
                f"({','.join('?' * len(_LIVE_STATES))}) LIMIT 1",
                (queue, *chunk, *_LIVE_STATES),
            )
            if conflicts:
                return False
    return True


def _insert_job_tree(tx: _Tx, job: NewJob) -> tuple[JobRecord, bool]:
    params, record = _new_rows(job, tx.now)
    # A duplicate id or a pending job's dedup_key hits a unique index; DO NOTHING makes
    # that a zero-row insert instead of an error, and the existing job is returned.
    inserted = tx.execute(_INSERT_JOB, params)
    if not inserted:
        existing = _find_duplicate(tx, job)
        assert existing is not None, f"job {job.id} was neither inserted nor found"
        tx.emit_job("job:deduplicated", existing, {"deduplicatedJobId": job.id})
        return existing, False
    _emit_added(tx, record)

    if job.children:
        added = 0
        for child in job.children:
            child.parent_id = job.id
            _, created = _insert_job_tree(tx, child)
            added += created
        tx.execute("UPDATE jobs SET pending_children = ? WHERE id = ?", (added, job.id))
        if not added:
            tx.execute("UPDATE jobs SET state = 'waiting' WHERE id = ?", (job.id,))
        refreshed = _get_job(tx, job.id)
        assert refreshed is not None
        record = refreshed
    return record, True


def _find_duplicate(tx: _Tx, job: NewJob) -> JobRecord | None:
    record = _get_job(tx, job.id)
    if record is not None:
        return record
    if job.dedup_key is None:
        return None
    rows = tx.fetchall(
        "SELECT * FROM jobs WHERE queue = ? AND dedup_key = ? AND state IN "
        f"({','.join('?' * len(_LIVE_STATES))})",
        (job.queue, job.dedup_key, *_LIVE_STATES),
    )
    return _job_from_row(rows[0]) if rows else None


def _get_job(tx: _Tx, job_id: str) -> JobRecord | None:
    rows = tx.fetchall("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return _job_from_row(rows[0]) if rows else None


def _finish_one(tx: _Tx, outcome: Outcome) -> bool:
    """Apply one outcome; return False when its lease token no longer matches."""
    if outcome.kind is OutcomeKind.COMPLETE and not outcome.stalled:
        return _complete_one(tx, outcome)
    rows = tx.fetchall(
        "SELECT * FROM jobs WHERE id = ? AND state = 'active' AND lease_token = ?",
        (outcome.job_id, outcome.lease_token),
    )
    if not rows:
        return False
    record = _job_from_row(rows[0])
    if outcome.stalled:
        tx.execute("UPDATE jobs SET stalls = stalls + 1 WHERE id = ?", (record.id,))
        record.stalls += 1
        tx.emit_job("job:stalled", record, {"stalls": record.stalls})

    if outcome.kind is OutcomeKind.COMPLETE:
        tx.execute("UPDATE jobs SET result = ? WHERE id = ?", (_dumps(outcome.result), record.id))
        record.result = outcome.result
        _set_final(tx, record, JobState.COMPLETED, error=None)
        _notify_parent(tx, record, JobState.COMPLETED, None)
    elif outcome.kind is OutcomeKind.FAIL:
        _cancel_subtree(tx, record.id, "its parent failed")
        _set_final(tx, record, JobState.FAILED, error=outcome.error)
        _notify_parent(tx, record, JobState.FAILED, outcome.error)
    else:
        give_back = 1 if outcome.kind is OutcomeKind.RATE_LIMITED else 0
        tx.execute(
            "UPDATE jobs SET state = 'delayed', run_at = ?, error = ?, "
            "attempts_made = attempts_made - ?, lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = ?",
            (outcome.run_at, outcome.error, give_back, record.id),
        )
        record.state = JobState.DELAYED
        record.run_at = outcome.run_at
        record.error = outcome.error
        record.attempts_made -= give_back
        event_type = "job:delayed" if give_back else "job:retrying"
        tx.emit_job(
            event_type,
            record,
            {
                "runAt": outcome.run_at,
                "delay": max(0.0, outcome.run_at - tx.now),
                "error": outcome.error,
                "attempt": record.attempts_made,
                "maxAttempts": record.max_attempts,
                "rateLimited": bool(give_back),
            },
        )
    return True


def _is_plain_completion(outcome: Outcome) -> bool:
    return (
        outcome.kind is OutcomeKind.COMPLETE
        and not outcome.stalled
        and outcome.record is not None
        and outcome.record.parent_id is None
    )


_IN_CHUNK = 500


def _complete_many(tx: _Tx, outcomes: list[Outcome]) -> list[str]:
    """Complete jobs that have no parent with one statement for the whole group.

    SQLite reads the ids, lease tokens and results from one JSON array, so the group
    costs one statement instead of one per job. A job whose lease token no longer
    matches (it was cancelled, or its lease expired and another worker took it) is left
    as it is.
    """
    if not outcomes:
        return []
    blob = _ARRAY_ENCODER.encode(
        [(outcome.job_id, outcome.lease_token, _dumps(outcome.result)) for outcome in outcomes]
    )
    done = {row[0] for row in tx.fetchall(_COMPLETE_MANY, (tx.now, blob))}
    completed = []
    for outcome in outcomes:
        if outcome.job_id not in done:
            continue
        # Only for the first of repeated outcomes of one job.
        done.discard(outcome.job_id)
        record = outcome.record
        assert record is not None
        started_at = record.started_at
        tx.emit_job_data(
            "job:completed",
            record,
            {
                "name": record.name,
                "attempt": record.attempts_made,
                "durationS": None if started_at is None else tx.now - started_at,
            },
        )
        completed.append(outcome.job_id)
    return completed


# Encodes the array that _COMPLETE_MANY reads with json_each: ids, lease tokens and the
# results already encoded as strings, so no NaN reaches SQLite's JSON parser.
_ARRAY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The claimed record's attempt count and start time are still the job's: both change only
# with a new claim, and a new claim changes the lease token too.
_COMPLETE_MANY = (
    "UPDATE jobs SET state = 'completed', result = json_extract(o.value, '$[2]'), "
    "error = NULL, finished_at = ?1, lease_owner = NULL, lease_expires_at = NULL "
    "FROM json_each(?2) AS o "
    "WHERE jobs.id = json_extract(o.value, '$[0]') "
    "AND jobs.lease_token = json_extract(o.value, '$[1]') AND jobs.state = 'active' "
    "RETURNING jobs.id"
)


def _complete_one(tx: _Tx, outcome: Outcome) -> bool:
    """Complete an attempt in one statement: the common case, kept off the slow path."""
    rows = tx.fetchall(
        "UPDATE jobs SET state = 'completed', result = ?, error = NULL, finished_at = ?, "
        "lease_owner = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND state = 'active' AND lease_token = ? "
        "RETURNING id, queue, name, workflow_id, user_id, parent_id, on_child_failure, "
        "started_at, attempts_made",
        (_dumps(outcome.result), tx.now, outcome.job_id, outcome.lease_token),
    )
    if not rows:
        return False
    row = rows[0]
    started_at = row["started_at"]
    tx.emit(
        NewEvent(
            "job:completed",
            {
                "name": row["name"],
                "attempt": row["attempts_made"],
                "durationS": None if started_at is None else tx.now - started_at,
            },
            workflow_id=row["workflow_id"],
            user_id=row["user_id"],
            job_id=row["id"],
            queue=row["queue"],
        )
    )
    if row["parent_id"] is not None:
        child = _ChildRef(
            row["id"], row["name"], row["parent_id"], _POLICIES[row["on_child_failure"]]
        )
        _notify_parent(tx, child, JobState.COMPLETED, None)
    return True


def _set_final(tx: _Tx, record: JobRecord, state: JobState, *, error: str | None) -> None:
    tx.execute(
        "UPDATE jobs SET state = ?, error = ?, finished_at = ?, lease_owner = NULL, "
        "lease_expires_at = NULL WHERE id = ?",
        (state.value, error, tx.now, record.id),
    )
    record.state = state
    record.error = error
    record.finished_at = tx.now
    data: dict[str, Any] = {"attempt": record.attempts_made}
    if state is JobState.COMPLETED:
        data["durationS"] = None if record.started_at is None else tx.now - record.started_at
    else:
        data["error"] = error
    tx.emit_job(f"job:{state.value}", record, data)


class _ChildRef(NamedTuple):
    id: str
    name: str
    parent_id: str | None
    on_child_failure: ChildFailurePolicy


def _notify_parent(
    tx: _Tx, child: JobRecord | _ChildRef, state: JobState, error: str | None
) -> None:
    """Tell a child's parent that the child is done, applying the child's failure policy."""
    if child.parent_id is None:
        return
    rows = tx.fetchall(
        "SELECT * FROM jobs WHERE id = ? AND state = 'waiting-children'", (child.parent_id,)
    )
    if not rows:
        return
    parent = _job_from_row(rows[0])
    if state is not JobState.COMPLETED and child.on_child_failure is ChildFailurePolicy.FAIL:
        reason = f"child job {child.id} ({child.name}) {state.value}: {error}"
        _cancel_subtree(tx, parent.id, f"a sibling job failed: {child.id}")
        _set_final(tx, parent, JobState.FAILED, error=reason)
        _notify_parent(tx, parent, JobState.FAILED, reason)
        return
    tx.execute("UPDATE jobs SET pending_children = pending_children - 1 WHERE id = ?", (parent.id,))
    if parent.pending_children - 1 <= 0:
        tx.execute(
            "UPDATE jobs SET state = 'waiting', run_at = ? WHERE id = ?", (tx.now, parent.id)
        )
        parent.state = JobState.WAITING
        tx.emit_job("job:waiting", parent, {"childrenDone": True})


def _cancel_subtree(tx: _Tx, job_id: str, reason: str) -> None:
    rows = tx.fetchall(
        "WITH RECURSIVE tree(id) AS (SELECT id FROM jobs WHERE parent_id = ? "
        "UNION ALL SELECT jobs.id FROM jobs JOIN tree ON jobs.parent_id = tree.id) "
        "UPDATE jobs SET state = 'cancelled', error = ?, finished_at = ?, "
        "lease_owner = NULL, lease_expires_at = NULL "
        "WHERE id IN (SELECT id FROM tree) AND state IN "
        f"({','.join('?' * len(_LIVE_STATES))}) RETURNING *",
        (job_id, reason, tx.now, *_LIVE_STATES),
    )
    for row in rows:
        tx.emit_job("job:cancelled", _job_from_row(row), {"error": reason})


# -- small helpers ----------------------------------------------------------------------------


def _split_sql(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        logger.exception("rollback failed")


def _wrap_sqlite_error(exc: Exception) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"a database write failed: {exc}")
    return exc


def _owner_is_dead(owner: str | None) -> bool:
    """Return True when ``owner`` names a process on this host that no longer runs."""
    if owner is None:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        # Another store of this very process owns the job. The process is alive, so the
        # owner is too.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
