"""The event bus: replay then live with no gap, isolated and bounded subscribers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import k2w
from k2w._store._records import EventRecord
from support.engine import GUARD_S, START, EventLog, TrackingClock, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def add_jobs(queue: k2w.Queue, count: int, **options: Any) -> list[str]:
    return [(await queue.add("task", **options)).id for _ in range(count)]


async def take_until(stream: AsyncIterator[k2w.Event], last_seq: int) -> list[k2w.Event]:
    """Read ``stream`` until it yields the event with ``last_seq``."""
    received: list[k2w.Event] = []
    with anyio.fail_after(GUARD_S):
        async for event in stream:
            received.append(event)
            if event.seq >= last_seq:
                break
    return received


# -- stream: replay, then live ----------------------------------------------------------------


async def test_stream_replays_after_seq(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 10)
    history = await app.events.history()
    after = history[3].seq

    replayed = [event async for event in app.events.stream(after=after, follow=False)]

    assert [event.seq for event in replayed] == [event.seq for event in history[4:]]


async def test_stream_without_follow_stops(app: k2w.K2W) -> None:
    await add_jobs(app.queue("idle"), 3)

    replayed = [event async for event in app.events.stream(follow=False)]

    assert len(replayed) == 3


async def test_stream_switches_to_live_without_gap(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 30)
    after = (await app.events.history())[9].seq
    total = 30 + 200

    async with anyio.create_task_group() as task_group:
        # The producer commits events while the stream reads the log and switches to the
        # live feed, so events land before, during and after the switch.
        task_group.start_soon(add_jobs, queue, 200)
        stream = app.events.stream(after=after)
        received = await take_until(stream, last_seq=total)
        await stream.aclose()

    assert [event.seq for event in received] == list(range(after + 1, total + 1))


async def test_stream_live_events_in_order(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    stream = app.events.stream(after=await app.events.last_seq())

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(add_jobs, queue, 50)
        received = await take_until(stream, last_seq=50)
    await stream.aclose()

    assert [event.seq for event in received] == list(range(1, 51))


async def test_stream_resumes_after_reconnect(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 5)
    first = app.events.stream(after=0)
    seen = await take_until(first, last_seq=3)
    await first.aclose()

    await add_jobs(queue, 5)
    second = app.events.stream(after=seen[-1].seq)
    resumed = await take_until(second, last_seq=10)
    await second.aclose()

    assert [event.seq for event in seen + resumed] == list(range(1, 11))


async def test_stream_filters_by_workflow(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 2, workflow_id="run-a")
    await add_jobs(queue, 2, workflow_id="run-b")

    replayed = [e async for e in app.events.stream(workflow_id="run-b", follow=False)]

    assert [event.workflow_id for event in replayed] == ["run-b", "run-b"]


async def test_stream_filters_by_type(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 2)
    await add_jobs(queue, 1, delay=5)

    replayed = [e async for e in app.events.stream(types=["job:delayed"], follow=False)]

    assert [event.type for event in replayed] == ["job:delayed"]


async def test_stream_catches_up_after_lag(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task")
    stream = app.events.stream(after=0)
    first = await anext(stream)

    # More events than a subscriber buffers (1000) arrive while the stream is not read.
    # One more arrives after the stream took one event off its buffer.
    await queue.add_bulk([{"name": "task"} for _ in range(1100)])
    second = await anext(stream)
    await queue.add("task")
    rest = await take_until(stream, last_seq=1102)
    await stream.aclose()

    seqs = [first.seq, second.seq, *(event.seq for event in rest)]
    assert seqs == list(range(1, 1103))


# -- callbacks ----------------------------------------------------------------------------------


async def test_subscribe_calls_async_callback(app: k2w.K2W) -> None:
    received: list[str] = []
    done = anyio.Event()

    async def on_event(event: k2w.Event) -> None:
        await anyio.lowlevel.checkpoint()
        received.append(event.type)
        done.set()

    app.events.subscribe(on_event)
    await app.queue("idle").add("task")
    with anyio.fail_after(GUARD_S):
        await done.wait()

    assert received == ["job:added"]


async def test_raising_subscriber_is_isolated(
    app: k2w.K2W, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def broken(event: k2w.Event) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("subscriber bug")

    app.events.subscribe(broken)
    healthy = EventLog(app)
    queue = app.queue("idle")

    with caplog.at_level(logging.ERROR, logger="k2w.events"):
        jobs = await add_jobs(queue, 3)
        await healthy.wait_type("job:added", jobs[-1])
        # The broken subscriber's task may trail the healthy one, so wait for a marker.
        marker = EventLog(app, types=("queue:paused",))
        await queue.pause()
        await marker.wait_type("queue:paused")

    records = [r for r in caplog.records if r.name == "k2w.events"]
    assert healthy.types() == ["job:added"] * 3 + ["queue:paused"]
    assert records
    assert all(r.levelno == logging.ERROR for r in records)
    assert "raised on job:added" in records[0].getMessage()
    assert records[0].exc_info is not None


async def test_raising_subscriber_keeps_receiving(app: k2w.K2W) -> None:
    calls: list[str] = []
    called = anyio.Event()

    def broken(event: k2w.Event) -> None:
        calls.append(event.type)
        called.set()
        raise RuntimeError("subscriber bug")

    app.events.subscribe(broken)
    queue = app.queue("idle")

    with anyio.fail_after(GUARD_S):
        for count in range(1, 4):
            await queue.add("task")
            while len(calls) < count:
                called = anyio.Event()
                await called.wait()

    assert calls == ["job:added"] * 3


async def test_subscription_closed_stops_callbacks(app: k2w.K2W) -> None:
    log = EventLog(app)
    closed = EventLog(app)
    queue = app.queue("idle")
    await queue.add("task")
    await closed.wait_type("job:added")

    closed.subscription.close()
    second = await queue.add("task")
    await log.wait_type("job:added", second.id)

    assert closed.subscription.closed is True
    assert closed.types() == ["job:added"]


async def test_subscribe_filters_by_user(app: k2w.K2W) -> None:
    alice = EventLog(app, user_id="alice")
    bob = EventLog(app, user_id="bob")
    everyone = EventLog(app)
    queue = app.queue("idle")

    await queue.add("task", user_id="alice")
    await queue.add("task", user_id="bob")
    await queue.add("task")
    await everyone.wait_type("job:added", count=3)
    await alice.wait_type("job:added")
    await bob.wait_type("job:added")
    marker_job = await queue.add("task", user_id="alice")
    await alice.wait_type("job:added", marker_job.id)

    assert [event.user_id for event in alice.items] == ["alice", "alice"]
    assert [event.user_id for event in bob.items] == ["bob"]


async def test_stream_filters_by_user(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    await queue.add("task", user_id="alice")
    await queue.add("task", user_id="bob")

    replayed = [e async for e in app.events.stream(user_id="bob", follow=False)]

    assert [event.user_id for event in replayed] == ["bob"]


async def test_subscribe_outside_app_raises(app: k2w.K2W) -> None:
    bus = k2w.EventBus(app._store)

    with pytest.raises(RuntimeError, match=r"subscribe inside K2W\.open"):
        bus.subscribe(print)


# -- slow subscribers -------------------------------------------------------------------------


async def run_progress_job(app: k2w.K2W, steps: int) -> str:
    # No throttling: every report must reach the bus for these tests.
    queue = app.queue("q", k2w.QueueSettings(progress_interval_s=0))

    async def progress(job: k2w.Job) -> None:
        for step in range(1, steps + 1):
            await job.update_progress(step * 10)

    queue.set_handler("task", progress)
    job = await queue.add("task")
    await wait_final(queue, job.id)
    return job.id


async def drain(subscription: k2w.Subscription) -> list[k2w.Event]:
    """Read every event a subscription has buffered, including a lag notice."""
    subscription.close()
    received = []
    while (event := await subscription.get()) is not None:
        received.append(event)
    return received


async def test_slow_subscriber_coalesces_progress(app: k2w.K2W) -> None:
    slow = app.events.open_subscription(types=("job:progress",), max_buffer=2)

    job_id = await run_progress_job(app, steps=8)
    received = await drain(slow)

    # Each new progress event replaces the oldest buffered one of the same job.
    assert [event.progress for event in received] == [70.0, 80.0]
    assert slow.coalesced == 6
    assert slow.dropped == 0
    assert received[-1].job_id == job_id


async def test_slow_subscriber_gets_lag_notice(app: k2w.K2W) -> None:
    slow = app.events.open_subscription(max_buffer=3)

    await run_progress_job(app, steps=4)
    received = await drain(slow)

    lagged = received[-1]
    assert [event.type for event in received[:3]] == ["job:added", "job:active", "job:progress"]
    assert received[2].progress == 40.0
    assert lagged.type == "stream:lagged"
    assert lagged.data["resumeAfter"] == received[2].seq
    assert lagged.data["dropped"] == slow.dropped


async def test_lag_notice_resume_point_complete(app: k2w.K2W) -> None:
    slow = app.events.open_subscription(max_buffer=3)

    await run_progress_job(app, steps=4)
    received = await drain(slow)
    lagged = received[-1]
    missed = await app.events.history(after=lagged.data["resumeAfter"])

    # Coalesced progress events are gone for good. Every other event is either
    # delivered or read back from the resume point.
    delivered = {event.seq for event in received[:-1]} | {event.seq for event in missed}
    history = await app.events.history()
    assert {e.seq for e in history if e.type != "job:progress"} <= delivered
    assert all(event.seq <= lagged.data["resumeAfter"] for event in received[:-1])


async def test_lagged_subscriber_not_ahead_of_notice(app: k2w.K2W) -> None:
    slow = app.events.open_subscription(max_buffer=2)
    queue = app.queue("idle")
    await add_jobs(queue, 4)

    first = await slow.get()
    assert first is not None
    await queue.add("task")
    received = [first, *await drain(slow)]

    assert received[-1].type == "stream:lagged"
    assert [event.seq for event in received[:-1]] == [1, 2]
    assert received[-1].data["resumeAfter"] == 2


async def test_slow_subscriber_never_blocks_workers(app: k2w.K2W) -> None:
    slow = app.events.open_subscription(max_buffer=1)
    queue = app.queue("q")

    async def work(job: k2w.Job) -> None:
        await job.update_progress(50)

    queue.set_handler("task", work)
    job_ids = await add_jobs(queue, 20)
    done = [await wait_final(queue, job_id) for job_id in job_ids]

    assert {job.state for job in done} == {k2w.JobState.COMPLETED}
    assert slow.dropped > 0
    slow.close()


# -- the event log ------------------------------------------------------------------------------


async def test_prune_keeps_newest(app: k2w.K2W) -> None:
    await add_jobs(app.queue("idle"), 6)

    removed = await app.events.prune(keep_last=2)

    assert removed == 4
    assert [event.seq for event in await app.events.history()] == [5, 6]


async def test_prune_removes_old(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 3)
    await clock.advance(100)
    await add_jobs(queue, 1)

    removed = await app.events.prune(older_than_s=50)

    assert removed == 3
    assert [event.ts for event in await app.events.history()] == [START + 100]


async def test_seq_not_reused_after_prune(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("idle")
    await add_jobs(queue, 3)
    before = await app.events.last_seq()
    await clock.advance(100)
    await app.events.prune(older_than_s=50)

    job_id = (await queue.add("task")).id
    [event] = await app.events.history(after=0)

    assert event.job_id == job_id
    assert event.seq == before + 1


def buffered_types(subscription: k2w.Subscription) -> list[str]:
    """Return the types of the events buffered in ``subscription``."""
    return [event.type for event in subscription._buffer]


def records(*types: str) -> list[EventRecord]:
    return [
        EventRecord(seq, START, event_type, {}, None, "u1", None, "q")
        for seq, event_type in enumerate(types, start=1)
    ]


async def test_subscriptions_opened_and_closed_between_publishes(app: k2w.K2W) -> None:
    bus = app.events
    completed = bus.open_subscription(types=["job:completed"])
    bus.publish(records("job:added", "job:completed"))
    everything = bus.open_subscription()
    other_user = bus.open_subscription(user_id="u2")
    bus.publish(records("job:added", "job:completed"))
    completed.close()
    bus.publish(records("job:active", "job:completed"))

    assert buffered_types(completed) == ["job:completed", "job:completed"]
    assert buffered_types(everything) == [
        "job:added",
        "job:completed",
        "job:active",
        "job:completed",
    ]
    assert buffered_types(other_user) == []


def test_event_wire_form_is_camel_case() -> None:
    event = k2w.Event(
        seq=7,
        type="job:progress",
        ts=START,
        data={"progress": 50, "timeRemaining": 12.5},
        workflow_id="run-1",
        user_id="u1",
        job_id="job-1",
        queue="q",
    )

    assert event.to_wire() == {
        "seq": 7,
        "type": "job:progress",
        "ts": START,
        "workflowId": "run-1",
        "userId": "u1",
        "jobId": "job-1",
        "queue": "q",
        "progress": 50,
        "timeRemaining": 12.5,
    }
