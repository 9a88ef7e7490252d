"""De-duplication by caller-given job id and by dedup_key."""

from __future__ import annotations

import pytest

import k2w
from k2w import JobState
from support.engine import EventLog, Gate, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def test_dedup_same_job_id_returns_existing(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    first = await queue.add("task", "first", job_id="order-17")

    second = await queue.add("task", "second", job_id="order-17")

    assert second.id == "order-17"
    assert second.payload == "first"
    assert second.created_at == first.created_at
    assert len(await queue.list_jobs()) == 1


async def test_dedup_same_job_id_emits_event(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    await queue.add("task", job_id="order-17")

    await queue.add("task", job_id="order-17")
    event = await events.wait_type("job:deduplicated", "order-17")

    assert event.data["deduplicatedJobId"] == "order-17"
    assert events.types("order-17") == ["job:added", "job:deduplicated"]


async def test_dedup_job_id_of_finished_job(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate(result="done")
    gate.open()
    queue.set_handler("task", gate)
    await queue.add("task", job_id="once")
    await wait_final(queue, "once")

    again = await queue.add("task", job_id="once")

    assert again.state is JobState.COMPLETED
    assert gate.started == ["once"]


async def test_dedup_key_returns_pending_job(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    first = await queue.add("task", "first", dedup_key="user-9:refresh")

    second = await queue.add("task", "second", dedup_key="user-9:refresh")
    event = await events.wait_type("job:deduplicated", first.id)

    assert second.id == first.id
    assert second.payload == "first"
    assert event.data["deduplicatedJobId"] != first.id
    assert len(await queue.list_jobs()) == 1


@pytest.mark.parametrize("state", ["delayed", "active"])
async def test_dedup_key_covers_delayed_and_active(app: k2w.K2W, state: str) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    first = await queue.add("task", dedup_key="k", delay=60 if state == "delayed" else None)
    if state == "active":
        await gate.wait_started(1)

    second = await queue.add("task", dedup_key="k")

    assert second.id == first.id
    assert second.state.value == state
    gate.open()


async def test_dedup_key_free_after_completion(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate(result="done")
    gate.open()
    queue.set_handler("task", gate)
    first = await queue.add("task", dedup_key="k")
    await wait_final(queue, first.id)

    second = await queue.add("task", dedup_key="k")
    await wait_final(queue, second.id)

    assert second.id != first.id
    assert gate.started == [first.id, second.id]


async def test_dedup_key_free_after_failure(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def fails(job: k2w.Job) -> None:
        raise ValueError("no")

    queue.set_handler("task", fails)
    first = await queue.add("task", dedup_key="k")
    await wait_final(queue, first.id)

    second = await queue.add("task", dedup_key="k")

    assert second.id != first.id
    assert second.state is JobState.WAITING


async def test_dedup_key_per_queue(app: k2w.K2W) -> None:
    first = await app.queue("a").add("task", dedup_key="k")

    second = await app.queue("b").add("task", dedup_key="k")

    assert second.id != first.id


async def test_dedup_key_in_bulk(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    jobs = await queue.add_bulk(
        [{"name": "task", "dedup_key": "k"}, {"name": "task", "dedup_key": "k"}]
    )

    assert jobs[0].id == jobs[1].id
    assert len(await queue.list_jobs()) == 1


async def test_dedup_does_not_run_twice(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    first = await queue.add("task", dedup_key="k")
    await queue.add("task", dedup_key="k")
    await gate.wait_started(1)

    gate.open()
    await wait_final(queue, first.id)

    assert gate.started == [first.id]


async def test_dedup_key_blocks_manual_retry(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def fails(job: k2w.Job) -> None:
        raise ValueError("no")

    queue.set_handler("task", fails)
    first = await queue.add("task", dedup_key="k")
    await wait_final(queue, first.id)
    await queue.add("other", dedup_key="k", delay=100)

    with pytest.raises(k2w.InvalidInputError, match="dedup_key"):
        await queue.retry(first.id)
