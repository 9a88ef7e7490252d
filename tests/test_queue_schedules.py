"""Delays, run_at and repeatable schedules (every N seconds or cron), in virtual time."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import k2w
from k2w import JobState
from support.engine import START, EventLog, Gate, TrackingClock, open_app, query, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


class Counter:
    """A handler that counts its calls per job id and returns at once."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, job: k2w.Job) -> str:
        self.calls.append(job.id)
        return job.id


async def pending_occurrences(queue: k2w.Queue, schedule_id: str) -> list[k2w.Job]:
    pending = await queue.list_jobs(JobState.DELAYED) + await queue.list_jobs(JobState.WAITING)
    return [job for job in pending if job.record.schedule_id == schedule_id]


# -- delay and run_at -------------------------------------------------------------------


async def test_delay_holds_job_until_due(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    job = await queue.add("task", delay=30)

    await clock.wait_for_sleeper(START + 30)
    await clock.advance(29.9)
    before = await job.refresh()

    assert before.state is JobState.DELAYED
    assert counter.calls == []


async def test_delay_runs_job_once_due(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    job = await queue.add("task", delay=30)

    await clock.wait_for_sleeper(START + 30)
    await clock.advance(30)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert done.record.started_at == START + 30


async def test_run_at_holds_job_until_time(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    job = await queue.add("task", run_at=START + 45)

    await clock.wait_for_sleeper(START + 45)
    await clock.advance(44)
    assert (await job.refresh()).state is JobState.DELAYED

    await clock.advance(1)
    done = await wait_final(queue, job.id)
    assert counter.calls == [job.id]
    assert done.record.started_at == START + 45


async def test_run_at_in_past_runs_now(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Counter())

    job = await queue.add("task", run_at=START - 100)
    done = await wait_final(queue, job.id)

    assert job.state is JobState.WAITING
    assert done.state is JobState.COMPLETED


async def test_delayed_job_emits_delayed_event(app: k2w.K2W, events: EventLog) -> None:
    job = await app.queue("idle").add("task", delay=12)

    event = await events.wait_type("job:delayed", job.id)

    assert event.data["runAt"] == START + 12


# -- schedules: every N seconds ------------------------------------------------------------


async def test_schedule_every_adds_one_occurrence(app: k2w.K2W) -> None:
    queue = app.queue("q")

    schedule = await queue.upsert_schedule("tick", "task", {"n": 1}, every=60)

    pending = await pending_occurrences(queue, "tick")
    assert schedule.next_run_at == START + 60
    assert len(pending) == 1
    assert pending[0].record.run_at == START + 60
    assert pending[0].payload == {"n": 1}


async def test_schedule_every_runs_each_period(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    await queue.upsert_schedule("tick", "task", every=60)

    for period in range(1, 4):
        await clock.advance(60)
        await events.wait_type("job:completed", count=period)

    assert len(counter.calls) == 3
    assert len(set(counter.calls)) == 3


async def test_schedule_keeps_one_pending_occurrence(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Counter())
    await queue.upsert_schedule("tick", "task", every=60)

    await clock.advance(60)
    await events.wait_type("job:completed")
    await events.wait_type("job:delayed", count=2)
    pending = await pending_occurrences(queue, "tick")

    assert [job.record.run_at for job in pending] == [START + 120]


async def test_schedule_passes_job_options(app: k2w.K2W) -> None:
    queue = app.queue("q")

    await queue.upsert_schedule("tick", "task", every=5, priority=3, attempts=4)

    [pending] = await pending_occurrences(queue, "tick")
    assert pending.priority == 3
    assert pending.max_attempts == 4


async def test_schedule_upsert_replaces_occurrence(app: k2w.K2W, clock: TrackingClock) -> None:
    queue = app.queue("q")
    await queue.upsert_schedule("tick", "task", every=60)

    await queue.upsert_schedule("tick", "task", every=300)

    pending = await pending_occurrences(queue, "tick")
    [schedule] = await queue.get_schedules()
    assert [job.record.run_at for job in pending] == [START + 300]
    assert schedule.every == 300


async def test_schedule_concurrent_upserts_one_pending(app: k2w.K2W) -> None:
    queue = app.queue("q")

    async def upsert(every: float) -> None:
        await queue.upsert_schedule("tick", "task", every=every)

    async with anyio.create_task_group() as task_group:
        for every in (60, 90, 120):
            task_group.start_soon(upsert, every)

    pending = await pending_occurrences(queue, "tick")
    [schedule] = await queue.get_schedules()
    assert len(pending) == 1
    assert pending[0].record.run_at == schedule.next_run_at


async def test_schedule_not_doubled_after_restart(db_path: Path, clock: TrackingClock) -> None:
    counter = Counter()
    async with open_app(db_path, clock) as app:
        queue = app.queue("q")
        queue.set_handler("task", counter)
        events = EventLog(app)
        await queue.upsert_schedule("tick", "task", every=60)
        await clock.advance(60)
        await events.wait_type("job:completed")
        await events.wait_type("job:delayed", count=2)

    async with open_app(db_path, clock) as app:
        queue = app.queue("q")
        events = EventLog(app)
        queue.set_handler("task", counter)
        pending_after_restart = await pending_occurrences(queue, "tick")
        await clock.advance(60)
        await events.wait_type("job:completed")
        await events.wait_type("job:delayed")

    assert len(pending_after_restart) == 1
    assert len(counter.calls) == 2
    assert len(set(counter.calls)) == 2


async def test_schedule_missed_periods_run_once(db_path: Path, clock: TrackingClock) -> None:
    counter = Counter()
    async with open_app(db_path, clock) as app:
        await app.queue("q").upsert_schedule("tick", "task", every=60)

    clock.set(START + 600)
    async with open_app(db_path, clock) as app:
        queue = app.queue("q")
        events = EventLog(app)
        queue.set_handler("task", counter)
        await events.wait_type("job:completed")
        await events.wait_type("job:delayed")
        pending = await pending_occurrences(queue, "tick")

    assert len(counter.calls) == 1
    assert [job.record.run_at for job in pending] == [START + 660]


async def test_schedule_two_apps_add_once(db_path: Path, clock: TrackingClock) -> None:
    async with open_app(db_path, clock) as app:
        await app.queue("q").upsert_schedule("tick", "task", every=60)

    async with open_app(db_path, clock), open_app(db_path, clock):
        await clock.wait_for_sleeper(START + 60, count=2)
        await clock.advance(60)
        # Each scheduler, once its pass is over, sleeps until the following occurrence.
        await clock.wait_for_sleeper(START + 120, count=2)
        rows = query(db_path, "SELECT run_at FROM jobs WHERE schedule_id = 'tick'")

    assert sorted(row["run_at"] for row in rows) == [START + 60, START + 120]


# -- schedules: cron ------------------------------------------------------------------------


async def test_schedule_cron_uses_time_zone(app: k2w.K2W) -> None:
    queue = app.queue("q")

    # 08:30 in Ho Chi Minh City (UTC+7) is 01:30 UTC, and the clock starts at 00:00 UTC.
    schedule = await queue.upsert_schedule(
        "morning", "task", cron="30 8 * * *", timezone="Asia/Ho_Chi_Minh"
    )

    assert schedule.next_run_at == START + 90 * 60
    assert schedule.timezone == "Asia/Ho_Chi_Minh"


async def test_schedule_cron_runs_daily(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    await queue.upsert_schedule("morning", "task", cron="30 8 * * *", timezone="Asia/Ho_Chi_Minh")

    await clock.advance(90 * 60)
    await events.wait_type("job:completed")
    await events.wait_type("job:delayed", count=2)
    [pending] = await pending_occurrences(queue, "morning")

    assert len(counter.calls) == 1
    assert pending.record.run_at == START + 90 * 60 + 24 * 3600


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "not a cron"}, "invalid cron expression"),
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"cron": "0 7 * * *", "timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"every": 60, "timezone": "UTC+7"}, "unknown time zone"),
        ({"every": 0}, "every must be > 0"),
        ({"every": 60, "cron": "0 7 * * *"}, "exactly one"),
        ({}, "exactly one"),
    ],
    ids=["garbage", "minute-61", "zone", "zone-offset", "zero-every", "both", "neither"],
)
async def test_schedule_rejects_invalid_options(
    app: k2w.K2W, options: dict[str, object], message: str
) -> None:
    with pytest.raises(k2w.InvalidInputError, match=message):
        await app.queue("q").upsert_schedule("bad", "task", **options)  # type: ignore[arg-type]


async def test_schedule_rejected_stores_nothing(app: k2w.K2W) -> None:
    queue = app.queue("q")

    with pytest.raises(k2w.InvalidInputError):
        await queue.upsert_schedule("bad", "task", cron="nope")

    assert await queue.get_schedules() == []
    assert await queue.list_jobs() == []


# -- removing schedules ---------------------------------------------------------------------


async def test_remove_schedule_deletes_occurrence(app: k2w.K2W) -> None:
    queue = app.queue("q")
    await queue.upsert_schedule("tick", "task", every=60)

    removed = await queue.remove_schedule("tick")

    assert removed is True
    assert await queue.get_schedules() == []
    assert await pending_occurrences(queue, "tick") == []


async def test_remove_schedule_stops_runs(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    counter = Counter()
    queue.set_handler("task", counter)
    await queue.upsert_schedule("tick", "task", every=60)
    await queue.remove_schedule("tick")
    sentinel = await queue.add("task", delay=120)

    await clock.advance(60)
    await clock.advance(60)
    await wait_final(queue, sentinel.id)

    assert counter.calls == [sentinel.id]


async def test_remove_schedule_keeps_running_occurrence(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate(result="finished")
    queue.set_handler("task", gate)
    await queue.upsert_schedule("tick", "task", every=60)
    await clock.advance(60)
    await gate.wait_started(1)

    await queue.remove_schedule("tick")
    gate.open()
    done = await wait_final(queue, gate.started[0])

    assert done.state is JobState.COMPLETED


async def test_remove_unknown_schedule_false(app: k2w.K2W) -> None:
    assert await app.queue("q").remove_schedule("missing") is False
