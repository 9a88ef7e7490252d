"""Runners and bulk adds: the paths a busy queue takes.

A worker hands claimed jobs to long-lived runner tasks; a job claimed but not yet taken
by a runner waits in the worker. These tests put a job there on purpose, by claiming it
from the store directly, because on a live queue a runner takes it within one turn of the
event loop. Bulk adds of plain jobs go in with one ``executemany``. The tests check that
the records it returns match what was stored, and that taken ids and keys still
de-duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import k2w
from k2w import JobState
from k2w._queue._worker import Worker
from k2w._store._records import JobRecord
from k2w._store._rows import _dumps, _loads
from support.engine import EventLog, Gate, TrackingClock, open_app, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


def _worker(app: k2w.K2W, queue: str) -> Worker:
    return app._engine._workers[queue]


async def _claim_without_runner(app: k2w.K2W, worker: Worker, queue: str) -> JobRecord:
    """Claim one job for ``worker`` and leave it queued for a runner that never comes."""
    claim = await app._engine.store.claim_batch(queue, 1, lease_s=30)
    [record] = claim.jobs
    worker._pending.append(record)
    return record


# -- runners ----------------------------------------------------------------------------------


async def test_concurrency_caps_handlers_that_suspend(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=3))
    gate = Gate()
    queue.set_handler("task", gate)

    jobs = await queue.add_bulk([{"name": "task", "payload": i} for i in range(7)])
    await gate.wait_started(3)
    gate.open()
    for job in jobs:
        await wait_final(queue, job.id)

    assert gate.max_running == 3
    assert sorted(gate.started) == sorted(job.id for job in jobs)
    assert _worker(app, "q")._runners <= 3


async def test_many_quick_handlers_all_complete_in_order(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=50))
    seen: list[int] = []

    async def record(job: k2w.Job) -> int:
        seen.append(job.payload)
        return int(job.payload) * 2

    queue.set_handler("task", record)
    jobs = await queue.add_bulk([{"name": "task", "payload": i} for i in range(300)])
    results = [(await wait_final(queue, job.id)).result for job in jobs]

    assert results == [i * 2 for i in range(300)]
    # Equal priorities start in the order they were added.
    assert seen == list(range(300))


async def test_cancel_reaches_only_named_job(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    gate = Gate(result="second done")
    queue.set_handler("task", gate)
    first = await queue.add("task")
    await gate.wait_started(1)
    second = await queue.add("task")
    # Queued behind the first job in the same runner, so it runs right after it.
    await _claim_without_runner(app, _worker(app, "q"), "q")

    await queue.cancel(first.id)
    await gate.wait_started(2)
    gate.open()
    done = await wait_final(queue, second.id)

    assert gate.cancelled == [first.id]
    assert done.state is JobState.COMPLETED
    assert done.result == "second done"
    assert (await queue.get_job(first.id)).state is JobState.CANCELLED


async def test_swallowed_cancel_spares_next_job(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    started = anyio.Event()
    later_runs: list[str] = []

    async def stubborn(job: k2w.Job) -> str:
        if job.payload == "stubborn":
            started.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                return "finished anyway"
        # A checkpoint: it raises if the runner's scope is still cancelled.
        await anyio.lowlevel.checkpoint()
        later_runs.append(job.id)
        return "ok"

    queue.set_handler("task", stubborn)
    first = await queue.add("task", "stubborn", timeout=5)
    await started.wait()
    second = await queue.add("task", "plain")
    # Queued behind the first job in the same runner, so it runs right after it.
    await _claim_without_runner(app, _worker(app, "q"), "q")

    await clock.advance(5)
    timed_out = await wait_final(queue, first.id)
    done = await wait_final(queue, second.id)

    assert (timed_out.error or "").startswith("JobTimeoutError: ")
    assert done.state is JobState.COMPLETED
    assert later_runs == [second.id]


async def test_timeout_spares_next_job(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    gate = Gate(result="second done")
    queue.set_handler("task", gate)
    first = await queue.add("task", timeout=5)
    await gate.wait_started(1)
    second = await queue.add("task", timeout=5)

    await clock.advance(5)
    await gate.wait_started(2)
    gate.open()
    failed = await wait_final(queue, first.id)
    done = await wait_final(queue, second.id)

    assert failed.state is JobState.FAILED
    assert (failed.error or "").startswith("JobTimeoutError: ")
    assert done.state is JobState.COMPLETED
    assert gate.cancelled == [first.id]


async def test_cancel_drops_claimed_job_before_it_starts(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=4))
    gate = Gate()
    queue.set_handler("task", gate)
    first = await queue.add("task")
    await gate.wait_started(1)
    await queue.add_bulk([{"name": "task", "payload": "claimed"}])
    worker = _worker(app, "q")
    record = await _claim_without_runner(app, worker, "q")

    assert await queue.cancel(record.id) is True
    assert record.id not in [pending.id for pending in worker._pending]
    gate.open()
    later = await queue.add("task")
    await wait_final(queue, later.id)

    assert gate.started == [first.id, later.id]
    assert (await queue.get_job(record.id)).state is JobState.CANCELLED


async def test_shutdown_hands_back_claimed_jobs(db_path: Path, clock: TrackingClock) -> None:
    async with open_app(db_path, clock) as app:
        queue = app.queue("q", k2w.QueueSettings(concurrency=4))
        gate = Gate()
        queue.set_handler("task", gate)
        await queue.add("task")
        await gate.wait_started(1)
        await queue.add_bulk([{"name": "task", "payload": "claimed"}])
        record = await _claim_without_runner(app, _worker(app, "q"), "q")
        assert (await queue.get_job(record.id)).attempts_made == 1

    async with open_app(db_path, clock) as app:
        job = await app.queue("q").get_job(record.id)

    assert job.state in (JobState.WAITING, JobState.DELAYED)
    assert job.attempts_made == 0
    assert job.error == "interrupted: the worker shut down"


# -- bulk adds --------------------------------------------------------------------------------


async def test_bulk_add_returns_what_was_stored(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    options: dict[str, Any] = {
        "priority": 3,
        "attempts": 4,
        "backoff": k2w.Backoff.exponential(2.0),
        "timeout": 9.5,
        "max_stalls": 2,
        "workflow_id": "wf",
        "user_id": "u1",
    }
    specs: list[dict[str, Any]] = [
        {"name": "task", "payload": {"n": 1, "tags": ("a", "b")}, **options},
        {"name": "other", "payload": "đường", "dedup_key": "k1", "delay": 30},
        {"name": "task", "payload": None},
    ]

    added = await queue.add_bulk(specs)

    for job in added:
        stored = await queue.get_job(job.id)
        assert job.record == stored.record
    assert added[0].payload == {"n": 1, "tags": ["a", "b"]}
    assert added[1].state is JobState.DELAYED
    assert [job.state for job in added] == [JobState.WAITING, JobState.DELAYED, JobState.WAITING]


async def test_generated_ids_sort_in_creation_order(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    added = await queue.add_bulk([{"name": "task", "payload": i} for i in range(2_000)])
    single = await queue.add("task")

    ids = [job.id for job in added] + [single.id]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(job_id) == 32 and int(job_id, 16) >= 0 for job_id in ids)


async def test_bulk_add_plain_uses_add_defaults(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    [bulk] = await queue.add_bulk([{"name": "task", "payload": {"n": 1}}])
    single = await queue.add("task", {"n": 1})

    def defaults(job: k2w.Job) -> tuple[object, ...]:
        record = job.record
        return (
            record.state,
            record.priority,
            record.max_attempts,
            record.backoff,
            record.max_stalls,
            record.timeout,
            record.run_at - record.created_at,
            record.payload,
        )

    assert defaults(bulk) == defaults(single)
    assert defaults(await queue.get_job(bulk.id)) == defaults(single)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"name": "task", "priorty": 1},
            r"job 0 of add_bulk has unknown option\(s\) \['priorty'\]",
        ),
        ({"payload": 1}, "job 0 of add_bulk has no 'name'"),
        ("task", "job 0 of add_bulk must be a dict of add"),
        ({"name": ""}, "job name must be a non-empty string"),
        ({"name": "task", "job_id": ""}, "job_id must be a non-empty string"),
    ],
)
async def test_bulk_add_rejects_bad_specs(app: k2w.K2W, spec: Any, message: str) -> None:
    queue = app.queue("idle")

    with pytest.raises(k2w.InvalidInputError, match=message):
        await queue.add_bulk([spec])

    assert (await queue.counts())["waiting"] == 0


async def test_bulk_add_with_taken_id_returns_existing(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    first = await queue.add("task", "first", job_id="order-1")

    added = await queue.add_bulk(
        [
            {"name": "task", "payload": "again", "job_id": "order-1"},
            {"name": "task", "payload": "new", "job_id": "order-2"},
        ]
    )
    await events.wait_type("job:deduplicated", "order-1")

    assert [job.id for job in added] == ["order-1", "order-2"]
    assert added[0].payload == "first"
    assert added[0].created_at == first.created_at
    assert added[1].payload == "new"
    assert len(await queue.list_jobs()) == 2


async def test_bulk_add_with_repeated_id_inserts_once(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    added = await queue.add_bulk(
        [
            {"name": "task", "payload": "one", "job_id": "same"},
            {"name": "task", "payload": "two", "job_id": "same"},
            {"name": "task", "payload": "three"},
        ]
    )

    assert [job.payload for job in added] == ["one", "one", "three"]
    assert len(await queue.list_jobs()) == 2


async def test_bulk_add_with_taken_dedup_key_returns_pending(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    pending = await queue.add("task", "first", dedup_key="k")

    added = await queue.add_bulk(
        [{"name": "task", "payload": "x", "dedup_key": "k"}, {"name": "task", "payload": "y"}]
    )

    assert added[0].id == pending.id
    assert added[1].payload == "y"
    assert len(await queue.list_jobs()) == 2


async def test_bulk_add_of_bad_payload_writes_nothing(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    with pytest.raises(TypeError):
        await queue.add_bulk([{"name": "task", "payload": 1}, {"name": "task", "payload": {1j}}])

    assert await queue.list_jobs() == []


# -- JSON columns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, 0, 7, -3, 10**20, "", 'đ"\\\n', 1.5, True, False, [1, "a"], {"k": [None]}],
)
def test_json_columns_round_trip(value: object) -> None:
    assert _loads(_dumps(value)) == value
    assert type(_loads(_dumps(value))) is type(value)


def test_json_columns_match_the_json_module() -> None:
    import json

    for value in [None, 12, "Việt Nam", 2.5, float("inf"), {"a": 1}, [True]]:
        assert json.loads(_dumps(value)) == json.loads(json.dumps(value))
