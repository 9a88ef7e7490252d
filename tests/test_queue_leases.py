"""Leases: stalled jobs go back through their backoff, and dead processes' jobs recover."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

import k2w
from k2w import JobState
from support.engine import (
    GUARD_S,
    START,
    EventLog,
    Gate,
    TrackingClock,
    dead_owner,
    job_row,
    open_app,
    query,
    wait_final,
)

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio

CRASH_CHILD = Path(__file__).resolve().parent / "support" / "crash_child.py"
LEASE_S = 30.0


def hand_lease_to(db: Path, job_id: str, owner: str, expires_at: float | None = None) -> None:
    """Make the stored lease of an active job belong to ``owner``, as another process's."""
    if expires_at is None:
        query(db, "UPDATE jobs SET lease_owner = ? WHERE id = ?", (owner, job_id))
    else:
        query(
            db,
            "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
            (owner, expires_at, job_id),
        )


async def lose_lease(
    app: k2w.K2W, db: Path, clock: TrackingClock, events: EventLog, job_id: str, stall: int
) -> k2w.Event:
    """Expire a running job's lease in another owner's name and return its job:stalled."""
    active = await events.wait_type("job:active", job_id, count=stall)
    hand_lease_to(db, job_id, "elsewhere:1:lost")
    await clock.advance(active.ts + LEASE_S - clock.now())
    return await events.wait_type("job:stalled", job_id, count=stall)


async def test_expired_lease_counts_as_stall(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    job = await queue.add("task", attempts=3, backoff=k2w.Backoff.fixed(7))

    stalled = await lose_lease(app, db_path, clock, events, job.id, stall=1)
    retrying = await events.wait_type("job:retrying", job.id)
    record = await job.refresh()

    assert stalled.data["stalls"] == 1
    assert record.state is JobState.DELAYED
    assert record.stalls == 1
    assert record.attempts_made == 1
    assert retrying.data["delay"] == 7.0
    assert record.record.run_at == clock.now() + 7


async def test_stalled_job_runs_after_backoff(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task", attempts=3, backoff=k2w.Backoff.fixed(7))
    await lose_lease(app, db_path, clock, events, job.id, stall=1)
    await events.wait_type("job:retrying", job.id)

    await clock.advance(6.9)
    before = await job.refresh()
    await clock.advance(0.1)
    await gate.wait_started(2)
    gate.open()
    done = await wait_final(queue, job.id)

    assert before.state is JobState.DELAYED
    assert done.state is JobState.COMPLETED
    assert done.attempts_made == 2
    assert done.stalls == 1


async def test_stall_uses_exponential_backoff(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    backoff = k2w.Backoff.exponential(4, jitter=False)
    job = await queue.add("task", attempts=3, max_stalls=5, backoff=backoff)

    await lose_lease(app, db_path, clock, events, job.id, stall=1)
    first = await events.wait_type("job:retrying", job.id)
    await clock.advance(first.data["delay"])
    await lose_lease(app, db_path, clock, events, job.id, stall=2)
    second = await events.wait_type("job:retrying", job.id, count=2)

    assert first.data["delay"] == 4.0
    assert second.data["delay"] == 8.0


async def test_stalls_over_max_fail_job(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    job = await queue.add("task", attempts=5, max_stalls=1, backoff=k2w.Backoff.fixed(1))

    await lose_lease(app, db_path, clock, events, job.id, stall=1)
    await clock.advance(1)
    await lose_lease(app, db_path, clock, events, job.id, stall=2)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.stalls == 2
    assert done.attempts_made == 2
    assert done.error == "stalled 2 times, more than the allowed 1"


async def test_stall_on_last_attempt_fails_job(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    job = await queue.add("task", attempts=1, max_stalls=3)

    await lose_lease(app, db_path, clock, events, job.id, stall=1)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.stalls == 1
    assert done.error == "stalled on its last attempt (1 of 1)"


async def test_zero_max_stalls_fails_first_stall(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Gate())
    job = await queue.add("task", attempts=3, max_stalls=0)

    await lose_lease(app, db_path, clock, events, job.id, stall=1)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED


async def test_heartbeat_keeps_long_job_leased(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate(result="long")
    queue.set_handler("task", gate)
    job = await queue.add("task")
    await gate.wait_started(1)

    # Sixty steps of five seconds make ten lease lengths. After each step the test makes a
    # write of its own. The store runs writes in order, so a renewal that the step started
    # is done before time moves on, and renewals stay a third of a lease apart.
    for _ in range(60):
        await clock.advance(5)
        await app.queue("sync").pause()
    gate.open()
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert done.stalls == 0
    assert events.of_type("job:stalled") == []


async def test_heartbeat_extends_stored_lease(
    app: k2w.K2W, db_path: Path, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task")
    await gate.wait_started(1)
    first_expiry = job_row(db_path, job.id)["lease_expires_at"]

    await clock.wait_for_sleeper(START + LEASE_S / 3)
    await clock.advance(LEASE_S / 3)
    with anyio.fail_after(GUARD_S):
        while job_row(db_path, job.id)["lease_expires_at"] == first_expiry:
            await queue.counts()

    assert first_expiry == START + LEASE_S
    assert job_row(db_path, job.id)["lease_expires_at"] == START + LEASE_S / 3 + LEASE_S
    gate.open()


# -- recovery at start-up ---------------------------------------------------------------------


async def leave_active(db: Path, clock: TrackingClock, owner: str, **options: object) -> str:
    """Store a job as active under ``owner``, as a process that stopped mid-job leaves it."""
    async with open_app(db, clock) as app:
        job = await app.queue("q").add("task", **options)  # type: ignore[arg-type]
    query(
        db,
        "UPDATE jobs SET state = 'active', attempts_made = 1, started_at = ?, "
        "lease_owner = ?, lease_expires_at = ?, lease_token = lease_token + 1 WHERE id = ?",
        (START, owner, START + 3600, job.id),
    )
    return job.id


async def test_dead_owner_job_recovered_at_start(db_path: Path, clock: TrackingClock) -> None:
    job_id = await leave_active(
        db_path, clock, dead_owner(), attempts=3, backoff=k2w.Backoff.fixed(0)
    )

    async with open_app(db_path, clock) as app:
        queue = app.queue("q")
        gate = Gate(result="again")
        gate.open()
        queue.set_handler("task", gate)
        done = await wait_final(queue, job_id)
        history = await app.events.history()

    assert clock.now() == START
    assert done.state is JobState.COMPLETED
    assert done.attempts_made == 2
    assert done.stalls == 1
    assert "job:stalled" in [event.type for event in history if event.job_id == job_id]


async def test_dead_owner_job_waits_its_backoff(db_path: Path, clock: TrackingClock) -> None:
    job_id = await leave_active(
        db_path, clock, dead_owner(), attempts=3, backoff=k2w.Backoff.fixed(20)
    )

    async with open_app(db_path, clock) as app:
        recovered = await app.queue("q").get_job(job_id)

    assert recovered.state is JobState.DELAYED
    assert recovered.record.run_at == START + 20
    assert recovered.stalls == 1


async def test_dead_owner_last_attempt_fails(db_path: Path, clock: TrackingClock) -> None:
    job_id = await leave_active(db_path, clock, dead_owner(), attempts=1)

    async with open_app(db_path, clock) as app:
        recovered = await app.queue("q").get_job(job_id)

    assert recovered.state is JobState.FAILED
    assert recovered.stalls == 1


async def test_live_owner_job_left_active(db_path: Path, clock: TrackingClock) -> None:
    live_owner = f"{socket.gethostname()}:{os.getppid()}:alive"
    job_id = await leave_active(db_path, clock, live_owner, attempts=3)

    async with open_app(db_path, clock) as app:
        after_restart = await app.queue("q").get_job(job_id)

    assert after_restart.state is JobState.ACTIVE
    assert after_restart.stalls == 0


async def test_other_host_job_left_active(db_path: Path, clock: TrackingClock) -> None:
    job_id = await leave_active(db_path, clock, "another-host:1:x", attempts=3)

    async with open_app(db_path, clock) as app:
        after_restart = await app.queue("q").get_job(job_id)

    assert after_restart.state is JobState.ACTIVE


async def test_recovery_without_custom_strategy_yet(
    db_path: Path, clock: TrackingClock, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await leave_active(
        db_path, clock, dead_owner(), attempts=3, backoff=k2w.Backoff.custom("linear")
    )

    with caplog.at_level(logging.ERROR, logger="k2w.queue"):
        async with open_app(db_path, clock) as app:
            recovered = await app.queue("q").get_job(job_id)

    assert recovered.state is JobState.DELAYED
    assert recovered.record.run_at == START
    assert f"computing the backoff of stalled job {job_id} failed" in caplog.text


# -- a killed process -------------------------------------------------------------------------


@pytest.mark.slow
async def test_killed_process_jobs_recovered(db_path: Path, clock: TrackingClock) -> None:
    count = 3
    ready: list[str] = []
    with anyio.fail_after(GUARD_S * 3):
        async with await anyio.open_process(
            [sys.executable, str(CRASH_CHILD), str(db_path), str(count)],
            stdout=subprocess.PIPE,
        ) as process:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            while len(ready) < count:
                line = await lines.receive_until(b"\n", 1000)
                ready.append(line.decode().removeprefix("ready "))
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()

    stored = [job_row(db_path, job_id) for job_id in ready]
    async with open_app(db_path, clock) as app:
        queue = app.queue("crash")
        gate = Gate(result="recovered")
        gate.open()
        queue.set_handler("block", gate)
        done = [await wait_final(queue, job_id) for job_id in ready]

    assert process.returncode == -signal.SIGKILL
    assert [row["state"] for row in stored] == ["active"] * count
    assert [job.state for job in done] == [JobState.COMPLETED] * count
    assert [job.attempts_made for job in done] == [2] * count
    assert [job.stalls for job in done] == [1] * count
    assert [job.result for job in done] == ["recovered"] * count
    assert clock.now() == START
