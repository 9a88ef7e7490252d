"""Concurrency limits, rate limits and handlers that report being rate limited."""

from __future__ import annotations

import pytest

import k2w
from k2w import JobState
from k2w._queue._worker import Worker
from support.engine import START, EventLog, Gate, TrackingClock, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


async def test_concurrency_limit_fills_slots(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=3))
    gate = Gate()
    queue.set_handler("task", gate)
    for _ in range(10):
        await queue.add("task")

    await gate.wait_started(3)
    counts = await queue.counts()

    assert counts["active"] == 3
    assert counts["waiting"] == 7
    gate.open()


async def test_concurrency_limit_never_exceeded(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=3))
    gate = Gate()
    queue.set_handler("task", gate)
    jobs = [await queue.add("task") for _ in range(10)]
    await gate.wait_started(3)

    gate.open()
    for job in jobs:
        await wait_final(queue, job.id)

    assert gate.max_running == 3
    assert len(gate.started) == 10


async def test_concurrency_one_runs_serially(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    gate = Gate()
    queue.set_handler("task", gate)
    first = await queue.add("task")
    second = await queue.add("task")
    await gate.wait_started(1)

    waiting = await second.refresh()
    gate.open()
    await wait_final(queue, second.id)

    assert gate.started == [first.id, second.id]
    assert waiting.state is JobState.WAITING
    assert gate.max_running == 1


async def test_concurrency_limits_each_queue_alone(app: k2w.K2W) -> None:
    gate = Gate()
    for name in ("a", "b"):
        queue = app.queue(name, k2w.QueueSettings(concurrency=1))
        queue.set_handler("task", gate)
        await queue.add("task")

    await gate.wait_started(2)

    assert gate.max_running == 2
    gate.open()


# -- rate limits ------------------------------------------------------------------------------


async def test_rate_limit_caps_starts_per_window(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q", k2w.QueueSettings(rate_limit=k2w.RateLimit(2, 10)))
    gate = Gate(result="done")
    gate.open()
    queue.set_handler("task", gate)
    for _ in range(5):
        await queue.add("task")

    await events.wait_type("job:completed", count=2)
    await clock.wait_for_sleeper(START + 10)
    await clock.advance(9.9)
    started_before_window = len(gate.started)
    await clock.advance(0.1)
    await events.wait_type("job:completed", count=4)
    await clock.advance(10)
    await events.wait_type("job:completed", count=5)

    starts = [event.ts - START for event in events.of_type("job:active")]
    assert started_before_window == 2
    assert starts == [0.0, 0.0, 10.0, 10.0, 20.0]


async def test_rate_limit_rejects_invalid_settings() -> None:
    with pytest.raises(k2w.InvalidInputError, match="max_jobs"):
        k2w.RateLimit(0, 10)
    with pytest.raises(k2w.InvalidInputError, match="per_seconds"):
        k2w.RateLimit(1, 0)


class LimitedOnce:
    """A handler that reports a rate limit on its first call, then returns."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        self.calls: list[str] = []

    async def __call__(self, job: k2w.Job) -> str:
        self.calls.append(job.id)
        if len(self.calls) == 1:
            raise k2w.RateLimitedError("slow down", retry_after=self.retry_after)
        return "ok"


async def test_rate_limited_error_delays_job(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", LimitedOnce(retry_after=30))
    job = await queue.add("task")

    event = await events.wait_type("job:delayed", job.id)
    delayed = await job.refresh()

    assert delayed.state is JobState.DELAYED
    assert delayed.record.run_at == START + 30
    assert event.data["rateLimited"] is True
    assert event.data["delay"] == 30.0


async def test_rate_limited_error_keeps_attempts(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", LimitedOnce(retry_after=30))
    job = await queue.add("task", attempts=1)

    await events.wait_type("job:delayed", job.id)
    delayed = await job.refresh()
    await clock.advance(30)
    done = await wait_final(queue, job.id)

    assert delayed.attempts_made == 0
    assert done.state is JobState.COMPLETED
    assert done.attempts_made == 1
    assert events.of_type("job:retrying", job.id) == []


async def test_rate_limited_error_not_run_early(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    limited = LimitedOnce(retry_after=30)
    queue.set_handler("task", limited)
    job = await queue.add("task")
    await events.wait_type("job:delayed", job.id)

    await clock.wait_for_sleeper(START + 30)
    await clock.advance(29.9)

    assert limited.calls == [job.id]
    assert (await job.refresh()).state is JobState.DELAYED


async def test_rate_limited_error_pauses_queue(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    limited = LimitedOnce(retry_after=30)
    queue.set_handler("task", limited)
    first = await queue.add("task")
    await events.wait_type("job:delayed", first.id)

    second = await queue.add("task")
    await clock.advance(29)
    second_while_limited = await second.refresh()
    await clock.advance(1)
    await wait_final(queue, second.id)

    assert second_while_limited.state is JobState.WAITING
    assert limited.calls[0] == first.id
    assert set(limited.calls[1:]) == {first.id, second.id}


# -- a worker with nothing it may start sleeps --------------------------------------------------


class PassCounter:
    """Counts the passes of queue "q"'s dispatcher loop, each of which picks a wake-up time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes = 0
        original = Worker._next_deadline

        async def counting(worker: Worker) -> float | None:
            self.passes += worker._queue.name == "q"
            return await original(worker)

        monkeypatch.setattr(Worker, "_next_deadline", counting)


async def idle_round_trips(app: k2w.K2W, job_id: str, rounds: int = 40) -> None:
    """Give the other tasks ``rounds`` writes and reads of the database to run in.

    Both kinds, because a looping dispatcher waits on reads when its queue is full and on
    writes (its claims) when its queue is paused.
    """
    for _ in range(rounds):
        await app.queue("other").pause()
        await app.queue("q").get_job(job_id)


async def test_full_worker_waits_for_free_slot(
    app: k2w.K2W, clock: TrackingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    gate = Gate()
    queue.set_handler("task", gate)
    running = await queue.add("task")
    await gate.wait_started(1)
    await queue.add("task", delay=5)
    counter = PassCounter(monkeypatch)

    await clock.advance(6)
    await idle_round_trips(app, running.id)

    assert counter.passes <= 3
    gate.open()


async def test_paused_worker_waits_for_resume(
    app: k2w.K2W, clock: TrackingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    await queue.pause()
    job = await queue.add("task", delay=5)
    counter = PassCounter(monkeypatch)

    await clock.advance(6)
    await idle_round_trips(app, job.id)

    assert counter.passes <= 3


async def test_aging_worker_waits_for_free_slot(
    app: k2w.K2W, clock: TrackingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1, priority_aging_s=1))
    gate = Gate()
    queue.set_handler("task", gate)
    running = await queue.add("task")
    await gate.wait_started(1)
    await queue.add("task")
    counter = PassCounter(monkeypatch)

    await clock.advance(5)
    await idle_round_trips(app, running.id)

    assert counter.passes <= 3
    gate.open()


async def test_limited_worker_waits_for_retry_after(
    app: k2w.K2W, clock: TrackingClock, events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", LimitedOnce(retry_after=30))
    limited = await queue.add("task")
    await events.wait_type("job:delayed", limited.id)
    await queue.add("task", delay=5)
    counter = PassCounter(monkeypatch)

    await clock.advance(6)
    await idle_round_trips(app, limited.id)

    assert counter.passes <= 3
