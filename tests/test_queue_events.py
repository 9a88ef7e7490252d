"""Job events: one per transition, in seq order, each announced after its commit."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

import k2w
from k2w import JobState
from support.engine import (
    START,
    EventLog,
    Gate,
    TrackingClock,
    job_row,
    open_app,
)

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def test_events_for_completed_job(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")

    async def work(job: k2w.Job) -> str:
        await job.update_progress(50, message="half")
        return "done"

    queue.set_handler("task", work)
    job = await queue.add("task")
    await events.wait_ended(job.id)

    assert events.types(job.id) == ["job:added", "job:active", "job:progress", "job:completed"]


async def test_events_for_retried_then_failed_job(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")

    async def fails(job: k2w.Job) -> None:
        raise ValueError("no")

    queue.set_handler("task", fails)
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.fixed(1))
    await events.wait_type("job:retrying", job.id)
    await clock.advance(1)
    await events.wait_ended(job.id)

    assert events.types(job.id) == [
        "job:added",
        "job:active",
        "job:retrying",
        "job:waiting",
        "job:active",
        "job:failed",
    ]


async def test_events_for_delayed_job(app: k2w.K2W, clock: TrackingClock, events: EventLog) -> None:
    queue = app.queue("q")
    gate = Gate(result=1)
    gate.open()
    queue.set_handler("task", gate)
    job = await queue.add("task", delay=5)
    await clock.wait_for_sleeper(START + 5)
    await clock.advance(5)
    await events.wait_ended(job.id)

    assert events.types(job.id) == ["job:delayed", "job:waiting", "job:active", "job:completed"]


async def test_events_for_cancelled_job(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    job = await queue.add("task")

    await queue.cancel(job.id)
    await events.wait_ended(job.id)

    assert events.types(job.id) == ["job:added", "job:cancelled"]


async def test_events_for_rate_limited_job(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    calls = 0

    async def limited(job: k2w.Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise k2w.RateLimitedError("busy", retry_after=3)
        return "ok"

    queue.set_handler("task", limited)
    job = await queue.add("task")
    await events.wait_type("job:delayed", job.id)
    await clock.advance(3)
    await events.wait_ended(job.id)

    assert events.types(job.id) == [
        "job:added",
        "job:active",
        "job:delayed",
        "job:waiting",
        "job:active",
        "job:completed",
    ]


async def test_event_payloads_describe_job(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    gate = Gate(result="r")
    gate.open()
    queue.set_handler("task", gate)
    job = await queue.add("task", workflow_id="run-1", user_id="u1", attempts=3)
    await events.wait_ended(job.id)

    active = events.of_type("job:active", job.id)[0]
    completed = events.of_type("job:completed", job.id)[0]
    assert active.data == {"name": "task", "attempt": 1, "maxAttempts": 3}
    assert active.queue == "q"
    assert active.workflow_id == "run-1"
    assert active.user_id == "u1"
    assert completed.data["durationS"] == 0.0
    assert completed.to_wire()["jobId"] == job.id


async def test_event_seq_strictly_increasing(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=4))

    async def work(job: k2w.Job) -> None:
        for step in (25, 50, 75):
            await job.update_progress(step)

    queue.set_handler("task", work)
    jobs = await queue.add_bulk([{"name": "task"} for _ in range(20)])
    for job in jobs:
        await events.wait_ended(job.id)

    seqs = [event.seq for event in events.items]
    assert all(later > earlier for earlier, later in itertools.pairwise(seqs))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_event_seq_matches_history(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("idle")
    for _ in range(5):
        await queue.add("task")
    await events.wait_type("job:added", count=5)

    history = await app.events.history()

    assert [event.seq for event in history] == [event.seq for event in events.items]
    assert await app.events.last_seq() == history[-1].seq


async def test_event_seq_continues_after_restart(db_path: Path, clock: TrackingClock) -> None:
    async with open_app(db_path, clock) as app:
        await app.queue("idle").add("task")
        before = await app.events.last_seq()

    async with open_app(db_path, clock) as app:
        job = await app.queue("idle").add("task")
        [event] = await app.events.history(after=before)

    assert event.seq == before + 1
    assert event.job_id == job.id


def record_stored_state(db: Path, seen: list[tuple[str, str]]) -> Callable[[k2w.Event], None]:
    """Return a subscriber hook that reads each job event's job with its own connection.

    A second, plain sqlite3 connection sees only what was committed.
    """

    def hook(event: k2w.Event) -> None:
        if event.job_id is not None and event.type.startswith("job:"):
            seen.append((event.type, job_row(db, event.job_id)["state"]))

    return hook


async def test_state_committed_before_announced(app: k2w.K2W, db_path: Path) -> None:
    queue = app.queue("q")
    seen: list[tuple[str, str]] = []
    events = EventLog(app, hook=record_stored_state(db_path, seen))
    gate = Gate()
    await queue.pause()
    job = await queue.add("task")
    await events.wait_type("job:added", job.id)
    queue.set_handler("task", gate)

    await queue.resume()
    await events.wait_type("job:active", job.id)
    await queue.cancel(job.id)
    await events.wait_ended(job.id)

    assert seen == [
        ("job:added", "waiting"),
        ("job:active", "active"),
        ("job:cancelled", "cancelled"),
    ]


async def test_retry_committed_before_announced(app: k2w.K2W, db_path: Path) -> None:
    queue = app.queue("q")
    seen: list[tuple[str, str]] = []
    events = EventLog(app, hook=record_stored_state(db_path, seen))

    async def fails(job: k2w.Job) -> None:
        raise ValueError("no")

    queue.set_handler("task", fails)
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.fixed(60))
    await events.wait_type("job:retrying", job.id)

    assert ("job:retrying", "delayed") in seen


async def test_final_states_committed_before_announced(app: k2w.K2W, db_path: Path) -> None:
    queue = app.queue("q")
    seen: list[tuple[str, str]] = []
    events = EventLog(app, hook=record_stored_state(db_path, seen))

    async def work(job: k2w.Job) -> str:
        if job.payload == "bad":
            raise k2w.UnrecoverableError("bad")
        return "good"

    queue.set_handler("task", work)
    good = await queue.add("task", "good")
    bad = await queue.add("task", "bad")
    await events.wait_ended(good.id)
    await events.wait_ended(bad.id)

    assert ("job:completed", "completed") in seen
    assert ("job:failed", "failed") in seen


async def test_job_state_enum_values(app: k2w.K2W) -> None:
    assert [state.value for state in JobState] == [
        "waiting",
        "delayed",
        "active",
        "waiting-children",
        "completed",
        "failed",
        "cancelled",
    ]


async def test_progress_reports_are_throttled(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("chatty", k2w.QueueSettings(progress_interval_s=1.0))

    async def chatty(job: k2w.Job) -> None:
        for step in range(1, 100):
            await job.update_progress(step)
        await clock.advance(1.0)
        await job.update_progress(99.5)
        await job.update_progress(99.6, message="almost there")
        await job.update_progress(100)

    queue.set_handler("task", chatty)
    job = await queue.add("task")
    await events.wait_ended(job.id)

    reports = [e.data["progress"] for e in events.of_type("job:progress", job.id)]
    assert reports == [1, 99.5, 99.6, 100]
