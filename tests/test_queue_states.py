"""Job states and inspection: get_job, list_jobs, counts, and option validation."""

from __future__ import annotations

from typing import Any

import pytest

import k2w
from k2w import JobState
from support.engine import EventLog, Gate, TrackingClock, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def test_job_without_worker_waits(app: k2w.K2W) -> None:
    job = await app.queue("idle").add("task", {"n": 1})

    stored = await app.queue("idle").get_job(job.id)

    assert stored.state is JobState.WAITING
    assert stored.payload == {"n": 1}
    assert stored.attempts_made == 0


async def test_job_with_delay_is_delayed(app: k2w.K2W, clock: TrackingClock) -> None:
    job = await app.queue("idle").add("task", delay=60)

    stored = await job.refresh()

    assert stored.state is JobState.DELAYED
    assert stored.record.run_at == clock.now() + 60


async def test_running_job_is_active(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task")

    await gate.wait_started(1)
    active = await events.wait_state(queue, job.id, JobState.ACTIVE)

    assert active.attempts_made == 1
    assert active.record.lease_owner is not None
    gate.open()


async def test_flow_parent_waits_for_children(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    parent = await queue.add_flow(k2w.FlowJob("parent", children=[k2w.FlowJob("child")]))

    assert parent.state is JobState.WAITING_CHILDREN
    assert parent.record.pending_children == 1


async def test_finished_jobs_reach_final_states(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def finish(job: k2w.Job) -> str:
        if job.payload == "fail":
            raise ValueError("bad input")
        return "done"

    queue.set_handler("task", finish)
    done = await queue.add("task", "ok")
    failed = await queue.add("task", "fail")
    waiting = await app.queue("idle").add("task")
    await app.queue("idle").cancel(waiting.id)

    completed = await wait_final(queue, done.id)
    failure = await wait_final(queue, failed.id)
    cancelled = await wait_final(queue, waiting.id)

    assert completed.state is JobState.COMPLETED
    assert completed.result == "done"
    assert failure.state is JobState.FAILED
    assert failure.error == "ValueError: bad input"
    assert cancelled.state is JobState.CANCELLED
    assert completed.finished_at is not None


async def test_counts_every_state(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task")
    await queue.add("task")
    await queue.add("task", delay=10)
    cancelled = await queue.add("task")
    await queue.cancel(cancelled.id)

    counts = await queue.counts()

    assert counts == {
        "waiting": 2,
        "delayed": 1,
        "active": 0,
        "waiting-children": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }


async def test_counts_every_state_with_jobs_in_each(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate()

    async def handle(job: k2w.Job) -> str:
        if job.payload == "fail":
            raise ValueError("bad input")
        if job.payload == "block":
            return str(await gate(job))
        return "done"

    queue.set_handler("task", handle)
    done = [await queue.add("task", "ok") for _ in range(3)]
    failed = [await queue.add("task", "fail") for _ in range(2)]
    for job in (*done, *failed):
        await wait_final(queue, job.id)
    await queue.add("task", "block")
    await gate.wait_started(1)
    await queue.add_flow(k2w.FlowJob("task", children=[k2w.FlowJob("task", queue="idle")]))
    await queue.pause()
    waiting = [await queue.add("task", "ok") for _ in range(4)]
    await queue.cancel(waiting[0].id)
    await queue.add("task", "ok", delay=30)
    # Jobs of another queue, in final states too, are not counted.
    await app.queue("idle").add("task")

    counts = await queue.counts()

    assert counts == {
        "waiting": 3,
        "delayed": 1,
        "active": 1,
        "waiting-children": 1,
        "completed": 3,
        "failed": 2,
        "cancelled": 1,
    }
    assert [job.id for job in await queue.list_jobs("completed")] == [job.id for job in done]
    assert [job.id for job in await queue.list_jobs("failed")] == [job.id for job in failed]
    gate.open()


async def test_list_jobs_rejects_unknown_state(app: k2w.K2W) -> None:
    with pytest.raises(k2w.InvalidInputError, match=r"'done' is not a job state.*completed"):
        await app.queue("idle").list_jobs("done")


async def test_retried_job_listed_as_waiting(app: k2w.K2W) -> None:
    queue = app.queue("q")
    calls = 0

    async def fail_once(job: k2w.Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise k2w.UnrecoverableError("first try fails")
        return "done"

    queue.set_handler("task", fail_once)
    job = await queue.add("task")
    await wait_final(queue, job.id)
    await queue.pause()
    await queue.retry(job.id)

    assert [j.id for j in await queue.list_jobs("waiting")] == [job.id]
    assert await queue.list_jobs("failed") == []
    assert (await queue.counts())["failed"] == 0


async def test_counts_only_own_queue(app: k2w.K2W) -> None:
    await app.queue("a").add("task")

    counts = await app.queue("b").counts()

    assert counts["waiting"] == 0


async def test_list_jobs_pages_oldest_first(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    added = [await queue.add("task", i) for i in range(5)]
    await queue.add("task", delay=5)

    page = await queue.list_jobs(JobState.WAITING, limit=2, offset=1)

    assert [job.id for job in page] == [added[1].id, added[2].id]


async def test_list_jobs_accepts_state_names(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task")
    delayed = await queue.add("task", delay=5)

    listed = await queue.list_jobs("delayed")

    assert [job.id for job in listed] == [delayed.id]


async def test_list_jobs_without_state_lists_all(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task")
    await queue.add("task", delay=5)

    listed = await queue.list_jobs()

    assert len(listed) == 2


async def test_get_job_unknown_raises(app: k2w.K2W) -> None:
    with pytest.raises(k2w.NotFoundError):
        await app.queue("q").get_job("missing")


async def test_job_snapshot_exposes_options(app: k2w.K2W) -> None:
    job = await app.queue("idle").add(
        "task",
        [1, "two"],
        job_id="job-1",
        priority=7,
        attempts=3,
        timeout=9.5,
        workflow_id="run-1",
        user_id="u1",
    )

    assert job.id == "job-1"
    assert job.name == "task"
    assert job.queue_name == "idle"
    assert job.payload == [1, "two"]
    assert job.priority == 7
    assert job.max_attempts == 3
    assert job.record.timeout == 9.5
    assert job.workflow_id == "run-1"
    assert job.user_id == "u1"
    assert job.parent_id is None


@pytest.mark.parametrize(
    "options",
    [
        {"delay": -1},
        {"delay": float("inf")},
        {"delay": 1, "run_at": 2},
        {"attempts": 0},
        {"attempts": True},
        {"timeout": 0},
        {"max_stalls": -1},
        {"job_id": ""},
    ],
    ids=[
        "negative-delay",
        "infinite-delay",
        "delay-and-run-at",
        "no-attempts",
        "bool-attempts",
        "zero-timeout",
        "negative-stalls",
        "empty-id",
    ],
)
async def test_add_rejects_invalid_options(app: k2w.K2W, options: dict[str, Any]) -> None:
    with pytest.raises(k2w.InvalidInputError):
        await app.queue("idle").add("task", **options)


async def test_add_rejects_empty_name(app: k2w.K2W) -> None:
    with pytest.raises(k2w.InvalidInputError):
        await app.queue("idle").add("")


async def test_rejected_add_stores_nothing(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    with pytest.raises(k2w.InvalidInputError):
        await queue.add("task", attempts=0)

    assert await queue.list_jobs() == []


async def test_queue_rejects_empty_name(app: k2w.K2W) -> None:
    with pytest.raises(k2w.InvalidInputError):
        app.queue("")


@pytest.mark.parametrize(
    "settings",
    [
        k2w.QueueSettings(concurrency=0),
        k2w.QueueSettings(lease_s=0),
        k2w.QueueSettings(keep_completed=-1),
        k2w.QueueSettings(keep_failed_s=0),
        k2w.QueueSettings(priority_aging_s=-5),
    ],
    ids=["concurrency", "lease", "keep-completed", "keep-failed-age", "aging"],
)
async def test_queue_rejects_invalid_settings(app: k2w.K2W, settings: k2w.QueueSettings) -> None:
    with pytest.raises(k2w.InvalidInputError):
        app.queue("q", settings)


async def test_add_bulk_adds_in_order(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    jobs = await queue.add_bulk([{"name": "a"}, {"name": "b", "payload": 2, "priority": 3}])

    listed = await queue.list_jobs()
    assert [job.id for job in listed] == [job.id for job in jobs]
    assert listed[1].payload == 2
    assert listed[1].priority == 3


async def test_add_bulk_requires_names(app: k2w.K2W) -> None:
    with pytest.raises(k2w.InvalidInputError, match="job 1 of add_bulk has no 'name'"):
        await app.queue("idle").add_bulk([{"name": "a"}, {"payload": 1}])


async def test_handler_returning_pydantic_model(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def model(job: k2w.Job) -> k2w.Usage:
        return k2w.Usage(prompt_tokens=3, completion_tokens=4)

    queue.set_handler("task", model)
    job = await queue.add("task")

    done = await wait_final(queue, job.id)

    assert done.result["prompt_tokens"] == 3


async def test_unserialisable_result_fails_job(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def unserialisable(job: k2w.Job) -> object:
        return object()

    queue.set_handler("task", unserialisable)
    job = await queue.add("task", attempts=3)

    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.attempts_made == 1
    assert "not JSON-serialisable" in (done.error or "")


async def test_job_without_handler_fails(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("known", Gate())
    job = await queue.add("unknown", attempts=3)

    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert "no handler is registered for jobs named 'unknown'" in (done.error or "")
