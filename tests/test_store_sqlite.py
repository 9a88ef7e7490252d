"""The SQLite store: schema versioning, WAL, write transactions and group commit."""

from __future__ import annotations

import gc
import math
import sqlite3
import threading
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import pytest

import k2w
from k2w._store import (
    SCHEMA_VERSION,
    JobRecord,
    NewEvent,
    NewJob,
    Outcome,
    OutcomeKind,
    SQLiteStore,
)
from k2w._store._transactions import _Tx
from support.engine import GUARD_S, TrackingClock, open_app

pytest_plugins = ("support.engine",)


@asynccontextmanager
async def open_store(db: Path, clock: TrackingClock) -> AsyncIterator[SQLiteStore]:
    async with anyio.create_task_group() as task_group:
        store = SQLiteStore(str(db), clock=clock)
        await store.start(task_group)
        try:
            yield store
        finally:
            await store.aclose()


def pragma(db: Path, name: str) -> Any:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def make_database(db: Path, user_version: int) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"PRAGMA user_version = {user_version}")


# -- schema -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_schema_version_in_user_version(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock):
        pass

    assert pragma(db_path, "user_version") == SCHEMA_VERSION


@pytest.mark.anyio
async def test_schema_reopen_keeps_data(db_path: Path, clock: TrackingClock) -> None:
    async with open_app(db_path, clock) as app:
        job = await app.queue("idle").add("task", {"kept": True})

    async with open_app(db_path, clock) as app:
        reopened = await app.queue("idle").get_job(job.id)

    assert reopened.payload == {"kept": True}
    assert pragma(db_path, "user_version") == SCHEMA_VERSION


@pytest.mark.anyio
async def test_schema_v2_database_migrates_with_its_jobs(
    db_path: Path, clock: TrackingClock
) -> None:
    """A database made before the per-state indexes keeps its jobs and counts them right."""
    from k2w._store._schema import MIGRATIONS
    from k2w._store._transactions import _split_sql

    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        for migration in MIGRATIONS[:2]:
            for statement in _split_sql(migration):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.executemany(
            "INSERT INTO jobs (id, queue, name, state, payload, run_at, created_at, "
            "finished_at) VALUES (?, 'old', 'task', ?, 'null', 0, 0, ?)",
            [
                ("w1", "waiting", None),
                ("c1", "completed", 5.0),
                ("c2", "completed", 6.0),
                ("f1", "failed", 7.0),
            ],
        )

    async with open_app(db_path, clock) as app:
        counts = await app.queue("old").counts()
        completed = await app.queue("old").list_jobs("completed")
        cleaned = await app.queue("old").clean("completed", limit=1)

    assert pragma(db_path, "user_version") == SCHEMA_VERSION
    assert (counts["waiting"], counts["completed"], counts["failed"]) == (1, 2, 1)
    assert [job.id for job in completed] == ["c1", "c2"]
    assert cleaned == 1
    with closing(sqlite3.connect(db_path)) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        remaining = [row[0] for row in conn.execute("SELECT id FROM jobs ORDER BY pk")]
    assert "jobs_state" not in indexes
    assert {"jobs_finished", "jobs_parked"} <= indexes
    # clean() removes the oldest finished job first.
    assert remaining == ["w1", "c2", "f1"]


@pytest.mark.anyio
async def test_counting_reads_only_indexes(db_path: Path, clock: TrackingClock) -> None:
    """Counts, clean and trim stay index lookups however many jobs the table holds."""
    from k2w._store._sqlite import _COUNTS_SQL

    async with open_store(db_path, clock):
        pass
    with closing(sqlite3.connect(db_path)) as conn:
        plans = {
            "counts": conn.execute(f"EXPLAIN QUERY PLAN {_COUNTS_SQL}", ("q",)).fetchall(),
            "clean": conn.execute(
                "EXPLAIN QUERY PLAN SELECT pk FROM jobs WHERE queue = ? AND state = ? "
                "AND finished_at < ? ORDER BY finished_at LIMIT ?",
                ("q", "completed", 1.0, 10),
            ).fetchall(),
        }
    for name, plan in plans.items():
        details = [row[3] for row in plan]
        scans = [d for d in details if d.startswith("SCAN") and "INDEX" not in d]
        assert not scans, f"{name} scans the table: {details}"


@pytest.mark.anyio
async def test_list_jobs_by_several_states(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock) as store:
        await store.add_jobs(
            [NewJob(id=f"j{i}", queue="q", name="task", payload=i) for i in range(4)]
        )
        claimed = await store.claim("q", 2, lease_s=30)
        await store.finish(
            [
                Outcome(
                    claimed[0].id, claimed[0].lease_token, OutcomeKind.COMPLETE, record=claimed[0]
                )
            ]
        )
        await store.finish([Outcome(claimed[1].id, claimed[1].lease_token, OutcomeKind.FAIL)])

        def listed(*states: k2w.JobState) -> list[str]:
            return [job.id for job in found[states]]

        found: dict[tuple[k2w.JobState, ...], list[JobRecord]] = {
            states: await store.list_jobs(queue="q", states=states)
            for states in (
                (k2w.JobState.COMPLETED, k2w.JobState.FAILED),
                (k2w.JobState.WAITING, k2w.JobState.COMPLETED),
                (k2w.JobState.WAITING,),
            )
        }

    assert listed(k2w.JobState.COMPLETED, k2w.JobState.FAILED) == ["j0", "j1"]
    assert listed(k2w.JobState.WAITING, k2w.JobState.COMPLETED) == ["j0", "j2", "j3"]
    assert listed(k2w.JobState.WAITING) == ["j2", "j3"]


def connection_threads() -> set[threading.Thread]:
    return {
        thread
        for thread in threading.enumerate()
        if "_connection_worker_thread" in thread.name and thread.is_alive()
    }


@pytest.mark.anyio
async def test_failed_open_leaves_no_connection_thread(
    tmp_path: Path, clock: TrackingClock
) -> None:
    before = connection_threads()

    with pytest.raises(k2w.StoreError, match="it is a directory, so give a file path"):
        await SQLiteStore(str(tmp_path), clock=clock).connect()
    with pytest.raises(k2w.StoreError, match="does not exist, so create it first"):
        await SQLiteStore(str(tmp_path / "missing" / "k2w.db"), clock=clock).connect()

    assert connection_threads() - before == set()


@pytest.mark.anyio
async def test_jobs_columns_match_record_order(db_path: Path, clock: TrackingClock) -> None:
    """Rows are read by position, so the table must keep the order the reader expects."""
    from k2w._store._rows import _JOB_COLUMNS

    async with open_store(db_path, clock):
        pass
    with closing(sqlite3.connect(db_path)) as conn:
        columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(jobs)"))

    assert columns[: len(_JOB_COLUMNS)] == _JOB_COLUMNS


@pytest.mark.anyio
async def test_schema_newer_version_rejected(db_path: Path, clock: TrackingClock) -> None:
    make_database(db_path, SCHEMA_VERSION + 1)

    with pytest.raises(k2w.StoreError) as caught:
        async with open_app(db_path, clock):
            pass

    assert f"has schema version {SCHEMA_VERSION + 1}" in str(caught.value)
    assert "upgrade k2w" in str(caught.value)
    assert pragma(db_path, "user_version") == SCHEMA_VERSION + 1


@pytest.mark.anyio
async def test_schema_rejected_store_closes(db_path: Path, clock: TrackingClock) -> None:
    make_database(db_path, SCHEMA_VERSION + 1)
    store = SQLiteStore(str(db_path), clock=clock)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(k2w.StoreError) as rejected:
            await store.connect()
        # aiosqlite warns when a connection that was never closed is collected.
        del rejected, store
        gc.collect()

    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.anyio
async def test_wal_mode_enabled(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock):
        mode = pragma(db_path, "journal_mode")

    assert mode == "wal"


@pytest.mark.anyio
async def test_store_closed_rejects_writes(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock) as store:
        pass

    with pytest.raises(k2w.StoreError, match="closed"):
        await store.append_log("job", "line")


# -- write transactions -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_write_uses_begin_immediate(db_path: Path, clock: TrackingClock) -> None:
    statements: list[str] = []
    async with open_store(db_path, clock) as store:
        writer = store._writer
        assert writer is not None
        await writer.set_trace_callback(statements.append)
        await store.append_log("job", "line")
        await writer.set_trace_callback(None)  # type: ignore[arg-type]

    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"


@pytest.mark.anyio
async def test_write_waits_for_other_writer(db_path: Path, clock: TrackingClock) -> None:
    async with open_app(db_path, clock) as app:
        queue = app.queue("idle")
        added: list[k2w.Job] = []
        with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("INSERT INTO queues (name, paused) VALUES ('held', 0)")

            async with anyio.create_task_group() as task_group:

                async def add() -> None:
                    added.append(await queue.add("task", job_id="after-lock"))

                task_group.start_soon(add)
                # In WAL mode reads go on while another connection holds the write lock.
                # They give the app's writer thread time to reach the lock and wait.
                for _ in range(20):
                    await queue.list_jobs()
                added_while_locked = list(added)
                listed_while_locked = await queue.list_jobs()
                holder.execute("COMMIT")

        with anyio.fail_after(GUARD_S):
            stored = await queue.get_job("after-lock")

    assert added_while_locked == []
    assert listed_while_locked == []
    assert stored.state is k2w.JobState.WAITING


def insert_log(line: str) -> Callable[[_Tx], int]:
    def op(tx: _Tx) -> int:
        tx.emit(NewEvent("test:logged", {"line": line}))
        return tx.execute(
            "INSERT INTO job_logs (job_id, ts, line) VALUES ('job', ?, ?)", (tx.now, line)
        )

    return op


def broken_insert(tx: _Tx) -> int:
    tx.emit(NewEvent("test:broken", {}))
    return tx.execute("INSERT INTO jobs (id) VALUES ('incomplete')")


def raising_op(tx: _Tx) -> int:
    raise ValueError("a bug in a write request")


@pytest.mark.anyio
async def test_failing_request_spares_group(db_path: Path, clock: TrackingClock) -> None:
    results: dict[str, Any] = {}
    ops: dict[str, Callable[[_Tx], int]] = {
        "first": insert_log("first"),
        "broken": broken_insert,
        "raising": raising_op,
        "last": insert_log("last"),
    }
    async with open_store(db_path, clock) as store:
        published: list[str] = []
        store.on_commit = lambda records: published.extend(r.type for r in records)

        async def run(name: str) -> None:
            try:
                results[name] = await store.write(ops[name])
            except Exception as exc:
                results[name] = exc

        # Started together, the requests reach the writer task as one group.
        async with anyio.create_task_group() as task_group:
            for name in ops:
                task_group.start_soon(run, name)
        logs = await store.get_logs("job")
        stored_events = await store.read_events()

    assert results["first"] == 1
    assert results["last"] == 1
    assert isinstance(results["broken"], k2w.StoreError)
    assert "NOT NULL constraint failed" in str(results["broken"])
    assert isinstance(results["raising"], ValueError)
    assert [line for _, line in logs] == ["first", "last"]
    assert [event.type for event in stored_events] == ["test:logged", "test:logged"]
    assert published == ["test:logged", "test:logged"]


@pytest.mark.anyio
async def test_write_error_is_store_error(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock) as store:
        with pytest.raises(k2w.StoreError, match="a database write failed"):
            await store.write(broken_insert)


# -- events and completions written from one JSON array ------------------------------------------

EVENT_DATA: list[dict[str, Any]] = [
    {"message": "Đang viết bài: máy lọc không khí ✅", "quote": 'a "b" \\ c\n'},
    {"progress": 33.333333333333336, "tiny": 1e-7, "big": 2**62, "negative": -0.5},
    {"nested": {"list": [1, "hai", None, True]}, "empty": {}, "none": None},
    {},
]


@pytest.mark.anyio
async def test_events_round_trip_through_the_log(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock) as store:
        published: list[Any] = []
        store.on_commit = lambda records: published.extend(records)

        def op(tx: _Tx) -> None:
            for index, data in enumerate(EVENT_DATA):
                tx.emit(NewEvent("test:data", data, workflow_id=f"wf{index}", user_id="u1"))

        await store.write(op)
        stored = await store.read_events()

    assert [event.data for event in stored] == EVENT_DATA
    assert [event.workflow_id for event in stored] == ["wf0", "wf1", "wf2", "wf3"]
    assert [event.seq for event in stored] == [event.seq for event in published]
    assert [event.seq for event in stored] == list(range(stored[0].seq, stored[0].seq + 4))


@pytest.mark.anyio
async def test_event_with_nan_is_still_logged(db_path: Path, clock: TrackingClock) -> None:
    async with open_store(db_path, clock) as store:

        def op(tx: _Tx) -> None:
            tx.emit(NewEvent("test:nan", {"value": float("nan"), "name": "đ"}))
            tx.emit(NewEvent("test:inf", {"value": float("inf")}))

        await store.write(op)
        stored = await store.read_events()

    assert [event.type for event in stored] == ["test:nan", "test:inf"]
    assert math.isnan(stored[0].data["value"])
    assert stored[0].data["name"] == "đ"
    assert stored[1].data["value"] == float("inf")


@pytest.mark.anyio
async def test_finish_completes_only_jobs_whose_lease_matches(
    db_path: Path, clock: TrackingClock
) -> None:
    async with open_store(db_path, clock) as store:
        await store.add_jobs(
            [NewJob(id=f"j{i}", queue="q", name="task", payload=i) for i in range(3)]
        )
        claimed = await store.claim("q", 3, lease_s=30)
        # j2 was taken over meanwhile: its lease token moved on.
        await store.write(
            lambda tx: tx.execute("UPDATE jobs SET lease_token = lease_token + 1 WHERE id = 'j2'")
        )
        outcomes = [
            Outcome(r.id, r.lease_token, OutcomeKind.COMPLETE, result={"n": r.payload}, record=r)
            for r in claimed
        ]
        changed = await store.finish([*outcomes, outcomes[0]])
        jobs = {job_id: await store.get_job(job_id) for job_id in ("j0", "j1", "j2")}
        assert None not in jobs.values()
        completions = await store.read_events(types=["job:completed"])

    assert changed == ["j0", "j1"]
    states = {job_id: job.state for job_id, job in jobs.items() if job is not None}
    assert states == {"j0": "completed", "j1": "completed", "j2": "active"}
    assert [job.result for job in jobs.values() if job is not None] == [{"n": 0}, {"n": 1}, None]
    assert [event.job_id for event in completions] == ["j0", "j1"]
    assert completions[0].data == {"name": "task", "attempt": 1, "durationS": 0.0}


# -- the asyncio requirement --------------------------------------------------------------------


def test_open_under_trio_raises(tmp_path: Path) -> None:
    pytest.importorskip("trio")
    db = tmp_path / "k2w.db"

    async def main() -> None:
        async with k2w.K2W.open(db, config=k2w.K2WConfig(out_dir=tmp_path)):
            pass

    with pytest.raises(k2w.UnsupportedBackendError) as caught:
        anyio.run(main, backend="trio")

    assert "needs an asyncio event loop" in str(caught.value)
    assert "anyio.run(main, backend='asyncio')" in str(caught.value)
    assert isinstance(caught.value, k2w.UsageError)
    assert not db.exists()
