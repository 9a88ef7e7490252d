"""Control: cancel, pause and resume, drain, clean, retention, logs, and waiting for jobs."""

from __future__ import annotations

import anyio
import pytest

import k2w
from k2w import JobState
from support.engine import START, EventLog, Gate, TrackingClock, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def returns_payload(job: k2w.Job) -> object:
    return job.payload


async def fails(job: k2w.Job) -> None:
    raise ValueError("nope")


# -- cancel -----------------------------------------------------------------------------------


async def test_cancel_running_job_cancels_handler(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task")
    await gate.wait_started(1)

    cancelled = await queue.cancel(job.id, reason="user asked")
    await gate.wait_cancelled(1)
    done = await job.refresh()

    assert cancelled is True
    assert gate.cancelled == [job.id]
    assert done.state is JobState.CANCELLED
    assert done.error == "user asked"


async def test_cancel_ignores_late_completion(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    started = anyio.Event()

    async def stubborn(job: k2w.Job) -> str:
        if job.payload == "next":
            return "next"
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return "finished after all"
        return "unreachable"

    queue.set_handler("task", stubborn)
    job = await queue.add("task")
    await started.wait()

    await queue.cancel(job.id)
    # The worker writes results in the order the handlers ended, so once the next job
    # completed, the late result was written too.
    following = await queue.add("task", "next")
    await wait_final(queue, following.id)
    done = await job.refresh()

    assert done.state is JobState.CANCELLED
    assert done.result is None
    assert events.of_type("job:completed", job.id) == []


async def test_cancel_waiting_job_never_runs(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    gate = Gate()
    queue.set_handler("task", gate)
    blocker = await queue.add("task")
    waiting = await queue.add("task")
    await gate.wait_started(1)

    await queue.cancel(waiting.id)
    gate.open()
    await wait_final(queue, blocker.id)
    after = await queue.add("task")
    await wait_final(queue, after.id)

    assert gate.started == [blocker.id, after.id]
    assert (await waiting.refresh()).state is JobState.CANCELLED


async def test_cancel_delayed_job(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    job = await queue.add("task", delay=60)

    assert await queue.cancel(job.id) is True
    assert (await job.refresh()).state is JobState.CANCELLED


async def test_cancel_final_job_returns_false(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    job = await queue.add("task", 1)
    await wait_final(queue, job.id)

    assert await queue.cancel(job.id) is False
    assert (await job.refresh()).state is JobState.COMPLETED


async def test_cancel_unknown_job_raises(app: k2w.K2W) -> None:
    with pytest.raises(k2w.NotFoundError):
        await app.queue("q").cancel("missing")


# -- pause and resume -------------------------------------------------------------------------


async def test_pause_holds_new_jobs(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    await queue.pause()

    job = await queue.add("task")
    await clock.advance(60)
    await queue.counts()

    assert await queue.is_paused() is True
    assert (await job.refresh()).state is JobState.WAITING
    assert gate.started == []


async def test_resume_runs_held_jobs(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    await queue.pause()
    job = await queue.add("task", "held")

    await queue.resume()
    done = await wait_final(queue, job.id)

    assert await queue.is_paused() is False
    assert done.result == "held"


async def test_pause_lets_running_job_finish(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate(result="finished")
    queue.set_handler("task", gate)
    job = await queue.add("task")
    await gate.wait_started(1)

    await queue.pause()
    gate.open()
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED


async def test_pause_emits_queue_events(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")

    await queue.pause()
    await queue.resume()
    await events.wait_type("queue:resumed")

    assert events.types() == ["queue:paused", "queue:resumed"]


async def test_pause_survives_restart(app: k2w.K2W) -> None:
    await app.queue("q").pause()

    assert "q" in await app.queue_names()
    assert await app.queue("q").is_paused() is True


# -- drain and clean --------------------------------------------------------------------------


async def test_drain_removes_pending_jobs(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task")
    await queue.add("task")
    await queue.add("task", delay=30)

    removed = await queue.drain()

    assert removed == 3
    assert await queue.list_jobs() == []


async def test_drain_keeps_flow_members(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    parent = await queue.add_flow(k2w.FlowJob("parent", children=[k2w.FlowJob("child")]))

    removed = await queue.drain()

    assert removed == 0
    assert (await parent.refresh()).state is JobState.WAITING_CHILDREN


async def test_drain_keeps_running_jobs(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    running = await queue.add("task")
    await gate.wait_started(1)

    removed = await queue.drain()

    assert removed == 0
    assert (await running.refresh()).state is JobState.ACTIVE
    gate.open()


async def test_drain_emits_removed(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    job = await queue.add("task")

    await queue.drain()
    event = await events.wait_type("job:removed", job.id)

    assert event.data["reason"] == "drained"


async def finish_jobs(queue: k2w.Queue, events: EventLog, count: int) -> list[str]:
    """Add ``count`` jobs named "task" and wait until each of them ended."""
    job_ids = [(await queue.add("task")).id for _ in range(count)]
    for job_id in job_ids:
        await events.wait_ended(job_id)
    return job_ids


async def test_clean_removes_old_completed(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    old = await finish_jobs(queue, events, 3)
    await clock.advance(100)
    recent = await finish_jobs(queue, events, 1)

    removed = await queue.clean(JobState.COMPLETED, older_than_s=50)

    remaining = [job.id for job in await queue.list_jobs()]
    assert removed == 3
    assert remaining == recent
    assert set(old).isdisjoint(remaining)


async def test_clean_respects_limit(app: k2w.K2W, clock: TrackingClock, events: EventLog) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    await finish_jobs(queue, events, 3)
    await clock.advance(10)

    first = await queue.clean("completed", limit=2)
    second = await queue.clean("completed", limit=2)

    assert first == 2
    assert second == 1


async def test_clean_only_named_state(app: k2w.K2W, clock: TrackingClock, events: EventLog) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    queue.set_handler("broken", fails)
    await finish_jobs(queue, events, 1)
    failed = await queue.add("broken")
    await wait_final(queue, failed.id)
    await clock.advance(10)

    removed = await queue.clean(JobState.FAILED)

    assert removed == 1
    assert [job.state for job in await queue.list_jobs()] == [JobState.COMPLETED]


async def test_clean_deletes_job_logs(app: k2w.K2W, clock: TrackingClock, events: EventLog) -> None:
    queue = app.queue("q")

    async def logs(job: k2w.Job) -> None:
        await job.log("line")

    queue.set_handler("task", logs)
    [job_id] = await finish_jobs(queue, events, 1)
    await clock.advance(10)

    await queue.clean(JobState.COMPLETED)

    assert await queue.get_logs(job_id) == []


@pytest.mark.parametrize("state", ["waiting", "delayed", "active", "waiting-children"])
async def test_clean_rejects_unfinished_states(app: k2w.K2W, state: str) -> None:
    with pytest.raises(k2w.InvalidInputError, match=state):
        await app.queue("q").clean(state)


# -- retention ----------------------------------------------------------------------------------


async def settle_retention(queue: k2w.Queue, clock: TrackingClock) -> None:
    """Wait until the worker applied retention to every job that has ended so far.

    The worker applies retention when it finds nothing to claim, just before it sleeps.
    A far-off delayed job makes it sleep on the clock, which the test can observe.
    """
    delay = 777.5
    await queue.add("sentinel", delay=delay)
    await clock.wait_for_sleeper(clock.now() + delay)


async def test_keep_completed_keeps_newest(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q", k2w.QueueSettings(keep_completed=2))
    queue.set_handler("task", returns_payload)
    finished = await finish_jobs(queue, events, 5)

    await settle_retention(queue, clock)

    completed = await queue.list_jobs(JobState.COMPLETED)
    assert [job.id for job in completed] == finished[-2:]


async def test_keep_failed_keeps_newest(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q", k2w.QueueSettings(keep_failed=1))
    queue.set_handler("task", fails)
    finished = await finish_jobs(queue, events, 3)

    await settle_retention(queue, clock)

    failed = await queue.list_jobs(JobState.FAILED)
    assert [job.id for job in failed] == finished[-1:]


async def test_keep_completed_zero_keeps_none(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q", k2w.QueueSettings(keep_completed=0))
    queue.set_handler("task", returns_payload)
    await finish_jobs(queue, events, 2)

    await settle_retention(queue, clock)

    assert await queue.list_jobs(JobState.COMPLETED) == []


async def test_keep_completed_s_removes_old(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q", k2w.QueueSettings(keep_completed_s=60))
    queue.set_handler("task", returns_payload)
    [old] = await finish_jobs(queue, events, 1)
    await clock.advance(61)
    [recent] = await finish_jobs(queue, events, 1)

    await settle_retention(queue, clock)

    remaining = [job.id for job in await queue.list_jobs(JobState.COMPLETED)]
    assert remaining == [recent]
    assert old not in remaining


async def test_retention_off_keeps_everything(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    await finish_jobs(queue, events, 5)

    await settle_retention(queue, clock)

    assert len(await queue.list_jobs(JobState.COMPLETED)) == 5


# -- logs -------------------------------------------------------------------------------------


async def test_job_log_lines_read_back(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def chatty(job: k2w.Job) -> None:
        await job.log("fetching")
        await job.log("tải xong 3 tệp")

    queue.set_handler("task", chatty)
    job = await queue.add("task")
    await wait_final(queue, job.id)

    assert await queue.get_logs(job.id) == ["fetching", "tải xong 3 tệp"]


async def test_job_logs_empty_for_unknown(app: k2w.K2W) -> None:
    assert await app.queue("q").get_logs("missing") == []


async def test_progress_stored_on_job(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def progress(job: k2w.Job) -> None:
        await job.update_progress(40, message="almost")

    queue.set_handler("task", progress)
    job = await queue.add("task")
    done = await wait_final(queue, job.id)

    assert done.progress == 40


@pytest.mark.parametrize("value", [-1, 101])
async def test_progress_out_of_range_rejected(app: k2w.K2W, value: float) -> None:
    queue = app.queue("q")
    errors: list[str] = []

    async def progress(job: k2w.Job) -> None:
        try:
            await job.update_progress(value)
        except k2w.InvalidInputError as exc:
            errors.append(str(exc))

    queue.set_handler("task", progress)
    job = await queue.add("task")
    await wait_final(queue, job.id)

    assert errors == [f"progress must be between 0 and 100, got {value}"]


# -- waiting ----------------------------------------------------------------------------------


async def test_wait_returns_completed_job(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    job = await queue.add("task", {"x": 1})

    done = await queue.wait(job.id, timeout=60)

    assert done.state is JobState.COMPLETED
    assert done.result == {"x": 1}


async def test_wait_returns_failed_job(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", fails)
    job = await queue.add("task")

    done = await queue.wait(job.id, timeout=60)

    assert done.state is JobState.FAILED


async def test_wait_returns_cancelled_job(app: k2w.K2W) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task")
    await gate.wait_started(1)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(queue.cancel, job.id)
        done = await queue.wait(job.id, timeout=60)

    assert done.state is JobState.CANCELLED


async def test_wait_raises_when_drained(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    job = await queue.add("task")

    async def drain_when_waiting() -> None:
        await clock.wait_for_sleeper(START + 60)
        await queue.drain()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(drain_when_waiting)
        with pytest.raises(k2w.NotFoundError):
            await queue.wait(job.id, timeout=60)


async def test_wait_raises_when_schedule_removed(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    await queue.upsert_schedule("tick", "task", every=60)
    [occurrence] = await queue.list_jobs(JobState.DELAYED)
    outcome: list[BaseException] = []

    async def wait() -> None:
        try:
            await queue.wait(occurrence.id, timeout=25)
        except (k2w.NotFoundError, k2w.WaitTimeoutError) as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(wait)
        await clock.wait_for_sleeper(START + 25)
        await queue.remove_schedule("tick")
        await clock.advance(25)

    assert isinstance(outcome[0], k2w.NotFoundError)


async def test_wait_raises_when_cleaned(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    job = await queue.add("task")
    await wait_final(queue, job.id)
    await clock.advance(10)
    await queue.clean(JobState.COMPLETED)

    with pytest.raises(k2w.NotFoundError):
        await queue.wait(job.id, timeout=60)


async def test_wait_unknown_job_raises(app: k2w.K2W) -> None:
    with pytest.raises(k2w.NotFoundError):
        await app.queue("q").wait("missing", timeout=60)


async def test_wait_times_out_in_virtual_time(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    job = await queue.add("task")
    outcome: list[BaseException] = []

    async def wait() -> None:
        try:
            await queue.wait(job.id, timeout=25)
        except k2w.WaitTimeoutError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(wait)
        await clock.wait_for_sleeper(START + 25)
        await clock.advance(24.9)
        before_deadline = list(outcome)
        await clock.advance(0.1)

    assert before_deadline == []
    assert len(outcome) == 1
    assert "is still waiting after 25 s" in str(outcome[0])
    assert (await job.refresh()).state is JobState.WAITING


async def test_wait_zero_timeout_raises_at_once(app: k2w.K2W) -> None:
    job = await app.queue("idle").add("task")

    with pytest.raises(k2w.WaitTimeoutError):
        await app.queue("idle").wait(job.id, timeout=0)


@pytest.mark.parametrize("timeout", [None, -1])
async def test_wait_requires_timeout(app: k2w.K2W, timeout: float | None) -> None:
    job = await app.queue("idle").add("task")

    with pytest.raises(k2w.InvalidInputError, match="timeout"):
        await app.queue("idle").wait(job.id, timeout=timeout)  # type: ignore[arg-type]


async def test_wait_result_returns_value(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    job = await queue.add("task", 42)

    assert await queue.wait_result(job.id, timeout=60) == 42


async def test_wait_result_raises_on_failure(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", fails)
    job = await queue.add("task")

    with pytest.raises(k2w.JobFailedError) as caught:
        await queue.wait_result(job.id, timeout=60)

    assert caught.value.state == "failed"
    assert caught.value.error == "ValueError: nope"


async def test_job_wait_delegates_to_queue(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", returns_payload)
    job = await queue.add("task", "via job")

    done = await job.wait(timeout=60)

    assert done.result == "via job"
