"""The SQLite store: the only code in k2w that speaks SQL.

One aiosqlite connection writes and another reads (WAL lets them run side by side).
Writes go through a single writer task that groups whatever requests are pending into
one ``BEGIN IMMEDIATE`` transaction (group commit), so a burst of state changes costs
one fsync instead of one each. If one request in a group fails, the group is rolled
back and each request is retried in a transaction of its own, so one bad request never
takes others down with it.

Events written inside a transaction get their ``seq`` there and are handed to the
``on_commit`` callback only after the commit succeeded: a state change is always
durable before anyone hears of it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import aiosqlite
import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._clock import Clock
from .._errors import InvalidInputError, StoreError
from ._records import (
    EventRecord,
    JobRecord,
    JobState,
    NewEvent,
    NewJob,
    Outcome,
    RunRecord,
    ScheduleRecord,
)
from ._rows import (
    _dumps,
    _event_from_row,
    _job_from_row,
    _run_from_row,
    _schedule_from_row,
)
from ._schema import MIGRATIONS, SCHEMA_VERSION
from ._transactions import (
    Claim,
    _cancel_subtree,
    _claim,
    _complete_many,
    _fetch_all,
    _find_duplicate,
    _finish_one,
    _get_job,
    _insert_job_tree,
    _insert_jobs,
    _insert_run,
    _is_plain_completion,
    _notify_parent,
    _owner_is_dead,
    _remove_pending_occurrences,
    _set_final,
    _split_sql,
    _try_transaction,
    _Tx,
    _WriteRequest,
)

__all__ = ["Claim", "SQLiteStore"]

logger = logging.getLogger("k2w.store")

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]

_MAX_BATCH = 512

# One count per state, each over its own partial index, so counting a queue's jobs reads
# only index entries. The state names are literals because SQLite uses a partial index
# only when the query's WHERE names the index's own condition.
_COUNTS_SQL = """
SELECT 'waiting', COUNT(*) FROM jobs WHERE queue = ?1 AND state = 'waiting'
UNION ALL SELECT 'delayed', COUNT(*) FROM jobs WHERE queue = ?1 AND state = 'delayed'
UNION ALL SELECT 'active', COUNT(*) FROM jobs WHERE state = 'active' AND queue = ?1
UNION ALL SELECT 'waiting-children', COUNT(*) FROM jobs
    WHERE queue = ?1 AND state = 'waiting-children'
UNION ALL SELECT state, COUNT(*) FROM jobs
    WHERE queue = ?1 AND finished_at IS NOT NULL
      AND state IN ('completed', 'failed', 'cancelled') GROUP BY state
"""


def _open_hint(path: str) -> str:
    """Return what to do about a database path that SQLite could not open, if known."""
    if os.path.isdir(path):
        return f"; it is a directory, so give a file path such as {os.path.join(path, 'k2w.db')!r}"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"; the directory {parent!r} does not exist, so create it first"
    return ""


def _states_clause(states: Sequence[JobState]) -> str:
    """Return a WHERE term for jobs in ``states``, written so a partial index can serve it."""
    values = sorted({state.value for state in states})
    term = f"state = '{values[0]}'" if len(values) == 1 else f"state IN {tuple(values)!r}"
    if all(JobState(value).is_final for value in values):
        term += " AND finished_at IS NOT NULL"
    return term


class SQLiteStore:
    """A store on one SQLite file (or ``":memory:"``).

    Call :meth:`connect`, then :meth:`start` with a task group for the writer task;
    :meth:`aclose` finishes pending writes and closes the connections.
    """

    def __init__(
        self,
        path: str,
        *,
        clock: Clock,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.path = path
        self.clock = clock
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.on_commit: Callable[[list[EventRecord]], None] | None = None
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._send: MemoryObjectSendStream[_WriteRequest] | None = None
        self._drained = anyio.Event()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"

    # -- life cycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Open both connections and migrate the schema; StoreError if that fails."""
        try:
            self._writer = await self._connect()
            await self._migrate(self._writer)
            self._reader = self._writer if self._in_memory else await self._connect()
        except (sqlite3.Error, StoreError) as exc:
            await self._close_connections()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(
                f"cannot open the database {self.path!r}: {exc}{_open_hint(self.path)}"
            ) from exc

    async def start(self, task_group: TaskGroup) -> None:
        """Connect (unless :meth:`connect` was called) and start the writer task."""
        if self._writer is None:
            await self.connect()
        send, receive = anyio.create_memory_object_stream[_WriteRequest](math.inf)
        self._send = send
        task_group.start_soon(self._writer_loop, receive)

    async def stop_writer(self) -> None:
        """Finish pending writes and end the writer task; later writes raise StoreError."""
        if self._send is not None:
            await self._send.aclose()
            self._send = None
            with anyio.CancelScope(shield=True):
                await self._drained.wait()

    async def aclose(self) -> None:
        """Finish pending writes, then close both connections."""
        await self.stop_writer()
        await self._close_connections()

    async def _close_connections(self) -> None:
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None and reader is not writer:
            await reader.close()
        if writer is not None:
            await writer.close()

    @property
    def _in_memory(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn = await connection
        except BaseException:
            # aiosqlite stops its thread after a failed connect without waiting for it.
            # Waiting here keeps the thread from reporting to an event loop that the
            # caller may close right after this error. (``_thread``: aiosqlite has no
            # public handle on it.)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(connection._thread.join)
            raise
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if not self._in_memory:
                await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            # SQLite opens some paths it cannot use (a directory, say) and fails only at
            # the first statement. Close the connection so its thread does not outlive
            # the failed open.
            with anyio.CancelScope(shield=True):
                await conn.close()
            raise
        return conn

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path!r} has schema version {version}, newer than this "
                f"k2w supports ({SCHEMA_VERSION}); upgrade k2w to open it"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(MIGRATIONS[target - 1]):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {target}")
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
            logger.info("migrated %s to schema version %d", self.path, target)

    # -- the writer ---------------------------------------------------------------------

    async def write(self, op: Callable[[_Tx], T]) -> T:
        """Run ``op`` inside a write transaction, committed before this returns."""
        if self._send is None:
            raise StoreError("the store is closed; open the app again to write")
        request = _WriteRequest(op)
        self._send.send_nowait(request)
        await request.done.wait()
        if request.error is not None:
            raise request.error
        result: T = request.result
        return result

    async def _writer_loop(self, receive: MemoryObjectReceiveStream[_WriteRequest]) -> None:
        try:
            async with receive:
                async for first in receive:
                    batch = [first]
                    while len(batch) < _MAX_BATCH:
                        try:
                            batch.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    with anyio.CancelScope(shield=True):
                        await self._run_batch(batch)
        finally:
            self._drained.set()

    async def _run_batch(self, batch: list[_WriteRequest]) -> None:
        conn = self._writer
        assert conn is not None
        # aiosqlite has no public call that runs a function on its connection thread;
        # Connection._execute (present since aiosqlite 0.1, used by all its methods) does.
        # One hop for the whole transaction instead of one per statement is what lets a
        # group of state changes cost about as much as a single one.
        committed: list[EventRecord] = await conn._execute(  # type: ignore[no-untyped-call]
            self._transact, conn._conn, batch, self.clock.now()
        )
        for request in batch:
            request.done.set()
        if committed and self.on_commit is not None:
            self.on_commit(committed)

    def _transact(
        self, conn: sqlite3.Connection, batch: list[_WriteRequest], now: float
    ) -> list[EventRecord]:
        """Run ``batch`` in one transaction (on the database thread); return its events.

        If the group fails, it is rolled back and each request runs in a transaction of
        its own, so the error reaches only the request that caused it.
        """
        events = _try_transaction(conn, batch, now)
        if events is not None:
            return events
        if len(batch) == 1:
            return []
        committed: list[EventRecord] = []
        for request in batch:
            committed.extend(_try_transaction(conn, [request], now) or [])
        return committed

    # -- reads --------------------------------------------------------------------------

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = self._reader
        if conn is None:
            raise StoreError("the store is closed; open the app again to read")
        # The statement runs to completion in one call on the connection's thread. With
        # separate execute and fetch calls, reads from concurrent tasks interleave on the
        # shared connection, an unfinished statement keeps its read transaction open, and
        # later reads see that old snapshot instead of the latest commit.
        database = conn._conn
        try:
            rows: list[sqlite3.Row] = await conn._execute(  # type: ignore[no-untyped-call]
                _fetch_all, database, sql, params
            )
        except sqlite3.Error as exc:
            raise StoreError(f"reading from {self.path!r} failed: {exc}") from exc
        return rows

    # -- jobs: adding -------------------------------------------------------------------

    async def add_jobs(
        self,
        jobs: Sequence[NewJob],
        *,
        run: RunRecord | None = None,
        events: Sequence[NewEvent] = (),
    ) -> list[JobRecord]:
        """Insert ``jobs`` (and their children) and return the record of each top job.

        A job whose id exists, or whose ``dedup_key`` belongs to a job still pending in
        the same queue, is not inserted: the existing job is returned instead, and a
        ``job:deduplicated`` event says so.
        When ``run`` is given it is inserted in the same transaction, and ``events`` are
        emitted before the jobs' own events.
        """

        def op(tx: _Tx) -> list[JobRecord]:
            if run is not None:
                _insert_run(tx, run)
            for event in events:
                tx.emit(event)
            return _insert_jobs(tx, jobs)

        return await self.write(op)

    # -- jobs: claiming and finishing ------------------------------------------------------
    async def add_and_claim(
        self, jobs: Sequence[NewJob], *, queue: str, limit: int, lease_s: float
    ) -> tuple[list[JobRecord], Claim]:
        """Insert ``jobs``, then claim up to ``limit`` jobs of ``queue``, in one transaction.

        A worker in this process with free slots uses it so that a job added to an idle
        queue starts after one database call instead of two.
        """

        def op(tx: _Tx) -> tuple[list[JobRecord], Claim]:
            results = _insert_jobs(tx, jobs)
            return results, _claim(tx, queue, limit, lease_s=lease_s, owner=self.owner)

        return await self.write(op)

    async def claim(self, queue: str, limit: int, *, lease_s: float) -> list[JobRecord]:
        """Move up to ``limit`` waiting jobs of ``queue`` to active, best priority first."""
        return (await self.claim_batch(queue, limit, lease_s=lease_s)).jobs

    async def claim_batch(self, queue: str, limit: int, *, lease_s: float) -> Claim:
        """Claim like :meth:`claim`, and return in the same call whether the queue is
        paused and when its next delayed job is due, so an idle worker needs no more reads.
        """

        def op(tx: _Tx) -> Claim:
            return _claim(tx, queue, limit, lease_s=lease_s, owner=self.owner)

        return await self.write(op)

    async def finish(self, outcomes: Sequence[Outcome]) -> list[str]:
        """Apply the end of attempts; return the ids of the jobs whose state changed.

        An outcome whose lease token no longer matches (the job was cancelled, or its
        lease expired and another worker took it) is ignored.
        """

        def op(tx: _Tx) -> list[str]:
            plain = [outcome for outcome in outcomes if _is_plain_completion(outcome)]
            changed = _complete_many(tx, plain)
            for outcome in outcomes:
                if not _is_plain_completion(outcome) and _finish_one(tx, outcome):
                    changed.append(outcome.job_id)
            return changed

        return await self.write(op)

    async def age_priorities(self, queue: str, *, waited_since: float) -> int:
        """Improve by one step the priority of jobs of ``queue`` waiting since before a time.

        The job's ``run_at`` is moved to now, so it ages again only after another period.
        """

        def op(tx: _Tx) -> int:
            return tx.execute(
                "UPDATE jobs SET priority = priority - 1, run_at = ? WHERE queue = ? "
                "AND state = 'waiting' AND priority > 0 AND run_at <= ?",
                (tx.now, queue, waited_since),
            )

        return await self.write(op)

    async def renew_leases(self, job_ids: Sequence[str], *, lease_s: float) -> None:
        """Extend the leases of ``job_ids`` held by this store's owner."""
        if not job_ids:
            return

        def op(tx: _Tx) -> None:
            tx.executemany(
                "UPDATE jobs SET lease_expires_at = ? "
                "WHERE id = ? AND state = 'active' AND lease_owner = ?",
                [(tx.now + lease_s, job_id, self.owner) for job_id in job_ids],
            )
            tx.execute(
                "INSERT INTO workers (owner, host, pid, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET heartbeat_at = ?",
                (self.owner, socket.gethostname(), os.getpid(), tx.now, tx.now, tx.now),
            )

        await self.write(op)

    async def expired_leases(self, *, dead_owners_too: bool = False) -> list[JobRecord]:
        """Return active jobs whose lease expired (or whose owner process is gone)."""
        now = self.clock.now()
        rows = await self._read(
            "SELECT * FROM jobs WHERE state = 'active' AND lease_expires_at <= ?", (now,)
        )
        records = [_job_from_row(row) for row in rows]
        if dead_owners_too:
            seen = {r.id for r in records}
            rows = await self._read(
                "SELECT * FROM jobs WHERE state = 'active' AND lease_owner IS NOT NULL "
                "AND lease_owner != ?",
                (self.owner,),
            )
            for row in rows:
                record = _job_from_row(row)
                if record.id not in seen and _owner_is_dead(record.lease_owner):
                    records.append(record)
        return records

    async def next_due(self, queue: str) -> float | None:
        """Return the earliest time a delayed job of ``queue`` becomes due, or None."""
        rows = await self._read(
            "SELECT MIN(run_at) FROM jobs WHERE state = 'delayed' AND queue = ?", (queue,)
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    async def next_lease_expiry(self) -> float | None:
        """Return the earliest lease expiry among active jobs, or None."""
        rows = await self._read("SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'active'")
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    async def has_waiting(self, queue: str) -> bool:
        """Return True when ``queue`` has a job ready to claim (waiting, or delayed and due)."""
        rows = await self._read(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = ? AND state = 'waiting') "
            "OR EXISTS (SELECT 1 FROM jobs WHERE queue = ? AND state = 'delayed' "
            "AND run_at <= ?)",
            (queue, queue, self.clock.now()),
        )
        return bool(rows[0][0])

    # -- jobs: control ------------------------------------------------------------------

    async def cancel(self, job_id: str, *, reason: str) -> JobRecord | None:
        """Cancel a job that is not final yet, and its pending children; None if final."""

        def op(tx: _Tx) -> JobRecord | None:
            rows = tx.fetchall("SELECT * FROM jobs WHERE id = ?", (job_id,))
            if not rows:
                return None
            record = _job_from_row(rows[0])
            if record.state.is_final:
                return None
            _cancel_subtree(tx, record.id, reason)
            _set_final(tx, record, JobState.CANCELLED, error=reason)
            _notify_parent(tx, record, JobState.CANCELLED, reason)
            return _get_job(tx, job_id)

        return await self.write(op)

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        """Move a failed or cancelled job back to waiting with a fresh attempt budget."""

        def op(tx: _Tx) -> JobRecord | None:
            current = _get_job(tx, job_id)
            if current is not None and current.dedup_key is not None:
                holder = _find_duplicate(
                    tx,
                    NewJob(
                        id="",
                        queue=current.queue,
                        name="",
                        payload=None,
                        dedup_key=current.dedup_key,
                    ),
                )
                if holder is not None:
                    raise InvalidInputError(
                        f"job {job_id} cannot be retried: job {holder.id} is pending with the "
                        f"same dedup_key {current.dedup_key!r}; wait for it or cancel it first"
                    )
            count = tx.execute(
                "UPDATE jobs SET state = 'waiting', attempts_made = 0, stalls = 0, "
                "error = NULL, finished_at = NULL, run_at = ? "
                "WHERE id = ? AND state IN ('failed', 'cancelled')",
                (tx.now, job_id),
            )
            if not count:
                return None
            record = _get_job(tx, job_id)
            assert record is not None
            tx.emit_job("job:added", record, {"retried": True})
            return record

        return await self.write(op)

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume claiming from ``queue``."""

        def op(tx: _Tx) -> None:
            tx.execute(
                "INSERT INTO queues (name, paused) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, int(paused)),
            )
            tx.emit(NewEvent("queue:paused" if paused else "queue:resumed", {}, queue=queue))

        await self.write(op)

    async def is_paused(self, queue: str) -> bool:
        """Return True when ``queue`` is paused."""
        rows = await self._read("SELECT paused FROM queues WHERE name = ?", (queue,))
        return bool(rows and rows[0][0])

    async def update_progress(
        self, job_id: str, progress: float, data: dict[str, Any], extra: Sequence[NewEvent] = ()
    ) -> bool:
        """Store a running job's progress and emit ``job:progress`` plus ``extra`` events."""

        def op(tx: _Tx) -> bool:
            rows = tx.fetchall(
                "UPDATE jobs SET progress = ? WHERE id = ? AND state = 'active' "
                "RETURNING id, queue, name, workflow_id, user_id",
                (progress, job_id),
            )
            if not rows:
                return False
            row = rows[0]
            tx.emit(
                NewEvent(
                    "job:progress",
                    {"name": row["name"], "progress": progress, **data},
                    workflow_id=row["workflow_id"],
                    user_id=row["user_id"],
                    job_id=job_id,
                    queue=row["queue"],
                )
            )
            for event in extra:
                tx.emit(event)
            return True

        return await self.write(op)

    async def append_log(self, job_id: str, line: str) -> None:
        """Keep ``line`` with the job."""

        def op(tx: _Tx) -> None:
            tx.execute(
                "INSERT INTO job_logs (job_id, ts, line) VALUES (?, ?, ?)",
                (job_id, tx.now, line),
            )

        await self.write(op)

    async def get_logs(self, job_id: str) -> list[tuple[float, str]]:
        """Return a job's log lines, oldest first."""
        rows = await self._read(
            "SELECT ts, line FROM job_logs WHERE job_id = ? ORDER BY ts, rowid", (job_id,)
        )
        return [(float(r[0]), str(r[1])) for r in rows]

    async def clean(self, queue: str, state: JobState, *, older_than: float, limit: int) -> int:
        """Delete up to ``limit`` jobs of ``queue`` in a final ``state`` finished before a time."""
        if not state.is_final:
            raise ValueError(f"only final states can be cleaned, not {state.value!r}")

        def op(tx: _Tx) -> int:
            rows = tx.fetchall(
                "DELETE FROM jobs WHERE pk IN (SELECT pk FROM jobs WHERE queue = ? AND "
                "state = ? AND finished_at < ? ORDER BY finished_at LIMIT ?) RETURNING id",
                (queue, state.value, older_than, limit),
            )
            tx.executemany("DELETE FROM job_logs WHERE job_id = ?", [(r[0],) for r in rows])
            return len(rows)

        return await self.write(op)

    async def trim(self, queue: str, state: JobState, *, keep: int) -> int:
        """Delete all but the newest ``keep`` jobs of ``queue`` in a final ``state``."""

        def op(tx: _Tx) -> int:
            rows = tx.fetchall(
                "DELETE FROM jobs WHERE queue = ? AND state = ? AND finished_at IS NOT NULL "
                "AND pk NOT IN (SELECT pk FROM jobs WHERE queue = ? AND state = ? "
                "AND finished_at IS NOT NULL ORDER BY finished_at DESC, pk DESC LIMIT ?) "
                "RETURNING id",
                (queue, state.value, queue, state.value, keep),
            )
            tx.executemany("DELETE FROM job_logs WHERE job_id = ?", [(r[0],) for r in rows])
            return len(rows)

        return await self.write(op)

    async def drain(self, queue: str) -> int:
        """Delete the waiting and delayed jobs of ``queue`` that are not part of a flow."""

        def op(tx: _Tx) -> int:
            rows = tx.fetchall(
                "DELETE FROM jobs WHERE queue = ? AND state IN ('waiting', 'delayed') "
                "AND parent_id IS NULL RETURNING id",
                (queue,),
            )
            for row in rows:
                tx.emit(NewEvent("job:removed", {"reason": "drained"}, job_id=row[0], queue=queue))
            return len(rows)

        return await self.write(op)

    # -- jobs: reading ------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobRecord | None:
        """Return the job with ``job_id``, or None."""
        rows = await self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    async def list_jobs(
        self,
        *,
        queue: str | None = None,
        states: Sequence[JobState] = (),
        workflow_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Return jobs, oldest first, filtered by queue, states and workflow."""
        clauses, params = [], []
        if queue is not None:
            clauses.append("queue = ?")
            params.append(queue)
        if states:
            clauses.append(_states_clause(states))
        if workflow_id is not None:
            clauses.append("workflow_id = ?")
            params.append(workflow_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._read(
            f"SELECT * FROM jobs {where} ORDER BY pk LIMIT ? OFFSET ?", (*params, limit, offset)
        )
        return [_job_from_row(row) for row in rows]

    async def counts(self, queue: str) -> dict[JobState, int]:
        """Return how many jobs of ``queue`` are in each state."""
        rows = await self._read(_COUNTS_SQL, (queue,))
        found = {JobState(r[0]): int(r[1]) for r in rows}
        return {state: found.get(state, 0) for state in JobState}

    async def children(self, parent_id: str) -> list[JobRecord]:
        """Return the children of ``parent_id``, oldest first."""
        rows = await self._read("SELECT * FROM jobs WHERE parent_id = ? ORDER BY pk", (parent_id,))
        return [_job_from_row(row) for row in rows]

    async def queue_names(self) -> list[str]:
        """Return every queue that has jobs or settings."""
        rows = await self._read("SELECT DISTINCT queue FROM jobs UNION SELECT name FROM queues")
        return sorted(str(r[0]) for r in rows)

    # -- schedules ----------------------------------------------------------------------

    async def upsert_schedule(self, schedule: ScheduleRecord, first: NewJob) -> ScheduleRecord:
        """Create or replace a schedule together with its one pending occurrence, ``first``.

        A pending occurrence of an earlier version of the schedule is removed in the same
        transaction, so a schedule never has two pending occurrences.
        """

        def op(tx: _Tx) -> ScheduleRecord:
            _remove_pending_occurrences(tx, schedule.id, "the schedule was replaced")
            tx.execute(
                "INSERT INTO schedules (id, queue, name, payload, every, cron, timezone, "
                "next_run_at, options, last_job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, name = excluded.name, "
                "payload = excluded.payload, every = excluded.every, cron = excluded.cron, "
                "timezone = excluded.timezone, next_run_at = excluded.next_run_at, "
                "options = excluded.options, last_job_id = excluded.last_job_id",
                (
                    schedule.id,
                    schedule.queue,
                    schedule.name,
                    _dumps(schedule.payload),
                    schedule.every,
                    schedule.cron,
                    schedule.timezone,
                    schedule.next_run_at,
                    _dumps(schedule.options),
                    first.id,
                ),
            )
            _insert_job_tree(tx, first)
            rows = tx.fetchall("SELECT * FROM schedules WHERE id = ?", (schedule.id,))
            return _schedule_from_row(rows[0])

        return await self.write(op)

    async def remove_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule and its pending occurrence; False if there was none."""

        def op(tx: _Tx) -> bool:
            _remove_pending_occurrences(tx, schedule_id, "the schedule was removed")
            return bool(tx.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)))

        return await self.write(op)

    async def get_schedules(self, queue: str | None = None) -> list[ScheduleRecord]:
        """Return schedules, optionally of one queue."""
        if queue is None:
            rows = await self._read("SELECT * FROM schedules ORDER BY id")
        else:
            rows = await self._read("SELECT * FROM schedules WHERE queue = ? ORDER BY id", (queue,))
        return [_schedule_from_row(row) for row in rows]

    async def materialise_schedule(
        self,
        schedule_id: str,
        *,
        expected_next_run_at: float,
        job: NewJob,
        following_run_at: float,
    ) -> JobRecord | None:
        """Add the occurrence of a schedule due at ``expected_next_run_at``, exactly once.

        The update is conditional on ``next_run_at`` still being the expected value, so two
        workers (or a restarted one) racing on the same occurrence add it only once.
        """

        def op(tx: _Tx) -> JobRecord | None:
            count = tx.execute(
                "UPDATE schedules SET next_run_at = ?, last_job_id = ? "
                "WHERE id = ? AND next_run_at = ?",
                (following_run_at, job.id, schedule_id, expected_next_run_at),
            )
            if not count:
                return None
            record, _ = _insert_job_tree(tx, job)
            return record

        return await self.write(op)

    # -- events -------------------------------------------------------------------------

    async def append_events(self, events: Sequence[NewEvent]) -> None:
        """Append events that belong to no job state change."""

        def op(tx: _Tx) -> None:
            for event in events:
                tx.emit(event)

        await self.write(op)

    async def read_events(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        workflow_id: str | None = None,
        user_id: str | None = None,
        types: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]:
        """Return stored events with ``after < seq <= until``, oldest first."""
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after]
        if until is not None:
            clauses.append("seq <= ?")
            params.append(until)
        if workflow_id is not None:
            clauses.append("workflow_id = ?")
            params.append(workflow_id)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if types:
            clauses.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        rows = await self._read(
            f"SELECT * FROM events WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (*params, limit),
        )
        return [_event_from_row(row) for row in rows]

    async def last_seq(self) -> int:
        """Return the newest committed event's ``seq`` (0 when there is none)."""
        rows = await self._read("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(rows[0][0])

    async def prune_events(self, *, older_than: float | None, keep_last: int | None) -> int:
        """Delete events older than a time, and all but the newest ``keep_last``."""

        def op(tx: _Tx) -> int:
            deleted = 0
            if older_than is not None:
                deleted += tx.execute("DELETE FROM events WHERE ts < ?", (older_than,))
            if keep_last is not None:
                deleted += tx.execute(
                    "DELETE FROM events "
                    "WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM events) - ?",
                    (keep_last,),
                )
            return deleted

        return await self.write(op)

    # -- runs ---------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord | None:
        """Return the run with ``run_id``, or None."""
        rows = await self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    async def list_runs(self, *, statuses: Sequence[str] = (), limit: int = 50) -> list[RunRecord]:
        """Return runs, newest first, optionally only those in ``statuses``."""
        if statuses:
            rows = await self._read(
                f"SELECT * FROM runs WHERE status IN ({','.join('?' * len(statuses))}) "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (*statuses, limit),
            )
        else:
            rows = await self._read(
                "SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            )
        return [_run_from_row(row) for row in rows]

    async def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        progress: float | None = None,
        report: dict[str, Any] | None = None,
        error: str | None = None,
        final: bool = False,
        events: Sequence[NewEvent] = (),
        only_if_status_in: Sequence[str] = (),
    ) -> RunRecord | None:
        """Change a run and emit ``events`` in the same transaction.

        ``progress`` only ever moves forward. With ``only_if_status_in`` the change (and
        its events) is skipped unless the run's status is one of those; None is returned.
        """

        def op(tx: _Tx) -> RunRecord | None:
            rows = tx.fetchall("SELECT * FROM runs WHERE id = ?", (run_id,))
            if not rows:
                return None
            run = _run_from_row(rows[0])
            if only_if_status_in and run.status not in only_if_status_in:
                return None
            tx.execute(
                "UPDATE runs SET status = COALESCE(?, status), "
                "progress = MAX(progress, COALESCE(?, progress)), "
                "report = COALESCE(?, report), error = COALESCE(?, error), updated_at = ?, "
                "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?",
                (
                    status,
                    progress,
                    None if report is None else _dumps(report),
                    error,
                    tx.now,
                    final,
                    tx.now,
                    run_id,
                ),
            )
            for event in events:
                tx.emit(event)
            rows = tx.fetchall("SELECT * FROM runs WHERE id = ?", (run_id,))
            return _run_from_row(rows[0])

        return await self.write(op)

    # -- stage statistics and the response cache ---------------------------------------------

    async def record_duration(self, stage: str, provider: str, seconds: float) -> None:
        """Fold one measured stage duration into that stage's running mean."""

        def op(tx: _Tx) -> None:
            # An exponentially weighted mean (weight 0.3 for the newest sample) follows a
            # provider that gets faster or slower without forgetting history at once.
            tx.execute(
                "INSERT INTO stage_stats (stage, provider, samples, mean_s, updated_at) "
                "VALUES (?, ?, 1, ?, ?) ON CONFLICT (stage, provider) DO UPDATE SET "
                "samples = samples + 1, mean_s = mean_s * 0.7 + excluded.mean_s * 0.3, "
                "updated_at = excluded.updated_at",
                (stage, provider, seconds, tx.now),
            )

        await self.write(op)

    async def stage_durations(self) -> dict[tuple[str, str], tuple[int, float]]:
        """Return ``(stage, provider) -> (samples, mean seconds)``."""
        rows = await self._read("SELECT stage, provider, samples, mean_s FROM stage_stats")
        return {(str(r[0]), str(r[1])): (int(r[2]), float(r[3])) for r in rows}

    async def cache_get(self, scope: str, key: str) -> str | None:
        """Return the cached response stored under ``scope`` and ``key``, or None."""
        rows = await self._read(
            "SELECT value FROM response_cache WHERE scope = ? AND key = ?", (scope, key)
        )
        return str(rows[0][0]) if rows else None

    async def cache_put(self, scope: str, key: str, value: str) -> None:
        """Store a response under ``scope`` and ``key``."""

        def op(tx: _Tx) -> None:
            tx.execute(
                "INSERT OR REPLACE INTO response_cache (scope, key, value, created_at) "
                "VALUES (?, ?, ?, ?)",
                (scope, key, value, tx.now),
            )

        await self.write(op)
