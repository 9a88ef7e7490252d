"""Retries: attempts, backoff strategies, unrecoverable errors, manual retry, timeouts."""

from __future__ import annotations

import random

import anyio
import pytest

import k2w
from k2w import JobState
from support.engine import (
    RNG_SEED,
    START,
    EventLog,
    Gate,
    TrackingClock,
    wait_final,
)

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


class Flaky:
    """A handler that fails its first ``failures`` calls with ``error``, then returns."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ValueError("flaky")
        self.calls = 0

    async def __call__(self, job: k2w.Job) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


async def retry_delays(
    queue: k2w.Queue, clock: TrackingClock, events: EventLog, job_id: str, retries: int
) -> list[float]:
    """Return the ``delay`` of each of the first ``retries`` retries, advancing past each."""
    delays = []
    for count in range(1, retries + 1):
        event = await events.wait_type("job:retrying", job_id, count=count)
        delays.append(event.data["delay"])
        await clock.advance(event.data["delay"])
    return delays


async def test_retry_succeeds_within_attempts(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    flaky = Flaky(failures=2)
    queue.set_handler("task", flaky)
    job = await queue.add("task", attempts=3, backoff=k2w.Backoff.fixed(1))

    await retry_delays(queue, clock, events, job.id, retries=2)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert done.attempts_made == 3
    assert flaky.calls == 3


async def test_retry_fails_after_last_attempt(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=99))
    job = await queue.add("task", attempts=3, backoff=k2w.Backoff.fixed(1))

    await retry_delays(queue, clock, events, job.id, retries=2)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.attempts_made == 3
    assert done.error == "ValueError: flaky"
    assert len(events.of_type("job:retrying", job.id)) == 2


async def test_backoff_fixed_waits_same_delay(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=3))
    job = await queue.add("task", attempts=4, backoff=k2w.Backoff.fixed(5))

    delays = await retry_delays(queue, clock, events, job.id, retries=3)

    assert delays == [5.0, 5.0, 5.0]


async def test_backoff_fixed_sets_run_at(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=1))
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.fixed(5))

    event = await events.wait_type("job:retrying", job.id)
    retrying = await job.refresh()

    assert event.data["runAt"] == START + 5
    assert retrying.state is JobState.DELAYED
    assert retrying.record.run_at == START + 5
    assert retrying.error == "ValueError: flaky"


async def test_backoff_fixed_not_run_early(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    flaky = Flaky(failures=1)
    queue.set_handler("task", flaky)
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.fixed(5))
    await events.wait_type("job:retrying", job.id)

    await clock.wait_for_sleeper(START + 5)
    await clock.advance(4.9)

    assert (await job.refresh()).state is JobState.DELAYED
    assert flaky.calls == 1


async def test_backoff_exponential_doubles(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=4))
    backoff = k2w.Backoff.exponential(2, jitter=False)
    job = await queue.add("task", attempts=5, backoff=backoff)

    delays = await retry_delays(queue, clock, events, job.id, retries=4)

    assert delays == [2.0, 4.0, 8.0, 16.0]


async def test_backoff_exponential_capped(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=4))
    backoff = k2w.Backoff.exponential(2, jitter=False, max_delay=5)
    job = await queue.add("task", attempts=5, backoff=backoff)

    delays = await retry_delays(queue, clock, events, job.id, retries=4)

    assert delays == [2.0, 4.0, 5.0, 5.0]


async def test_backoff_jitter_draws_full_range(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=4))
    job = await queue.add("task", attempts=5, backoff=k2w.Backoff.exponential(2, jitter=True))

    delays = await retry_delays(queue, clock, events, job.id, retries=4)

    # The app draws from random.Random(RNG_SEED), uniformly up to the cap ("full jitter").
    # The event's delay is run_at minus now, so it carries the rounding of epoch seconds.
    rng = random.Random(RNG_SEED)
    expected = [rng.uniform(0, cap) for cap in (2.0, 4.0, 8.0, 16.0)]
    assert delays == pytest.approx(expected, abs=1e-6)


async def test_backoff_jitter_differs_from_ceiling(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=4))
    job = await queue.add("task", attempts=5, backoff=k2w.Backoff.exponential(2, jitter=True))

    delays = await retry_delays(queue, clock, events, job.id, retries=4)

    assert all(0 <= delay <= cap for delay, cap in zip(delays, (2, 4, 8, 16), strict=True))
    assert delays != [2.0, 4.0, 8.0, 16.0]


async def test_backoff_default_is_jittered_exponential(app: k2w.K2W) -> None:
    job = await app.queue("idle").add("task", attempts=2)

    assert job.record.backoff == k2w.Backoff.exponential(1.0, jitter=True).to_dict()


async def test_backoff_custom_strategy_used(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    seen: list[tuple[int, str]] = []

    def linear(attempts_made: int, error: BaseException | None) -> float:
        seen.append((attempts_made, type(error).__name__))
        return 3.0 * attempts_made

    queue.backoff_strategy("linear", linear)
    queue.set_handler("task", Flaky(failures=3, error=KeyError("missing")))
    job = await queue.add("task", attempts=4, backoff=k2w.Backoff.custom("linear"))

    delays = await retry_delays(queue, clock, events, job.id, retries=3)

    assert delays == [3.0, 6.0, 9.0]
    assert seen == [(1, "KeyError"), (2, "KeyError"), (3, "KeyError")]


async def test_backoff_custom_negative_means_now(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    queue.backoff_strategy("negative", lambda attempts, error: -10.0)
    queue.set_handler("task", Flaky(failures=1))
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.custom("negative"))

    event = await events.wait_type("job:retrying", job.id)
    done = await wait_final(queue, job.id)

    assert event.data["delay"] == 0.0
    assert done.state is JobState.COMPLETED


async def test_backoff_unregistered_custom_fails_job(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=1))
    job = await queue.add("task", attempts=2, backoff=k2w.Backoff.custom("unknown"))

    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.attempts_made == 1
    assert "no backoff strategy named 'unknown'" in (done.error or "")


async def test_backoff_unregistered_keeps_worker_running(app: k2w.K2W) -> None:
    queue = app.queue("q")
    flaky = Flaky(failures=1)
    queue.set_handler("task", flaky)
    broken = await queue.add("task", attempts=2, backoff=k2w.Backoff.custom("unknown"))
    await wait_final(queue, broken.id)

    later = await queue.add("task")
    done = await wait_final(queue, later.id)

    assert done.state is JobState.COMPLETED


@pytest.mark.parametrize(
    "make",
    [
        lambda: k2w.Backoff.fixed(-1),
        lambda: k2w.Backoff.exponential(10, max_delay=5),
        lambda: k2w.Backoff("custom"),
    ],
    ids=["negative", "cap-below-delay", "custom-without-name"],
)
def test_backoff_rejects_invalid_settings(make: object) -> None:
    with pytest.raises(k2w.InvalidInputError):
        make()  # type: ignore[operator]


async def test_unrecoverable_skips_remaining_attempts(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    flaky = Flaky(failures=9, error=k2w.UnrecoverableError("bad credentials"))
    queue.set_handler("task", flaky)
    job = await queue.add("task", attempts=5, backoff=k2w.Backoff.fixed(1))

    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.attempts_made == 1
    assert done.error == "UnrecoverableError: bad credentials"
    assert events.of_type("job:retrying", job.id) == []


async def test_unrecoverable_subclass_skips_attempts(app: k2w.K2W) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=9, error=k2w.ProviderAuthError("401")))
    job = await queue.add("task", attempts=5, backoff=k2w.Backoff.fixed(1))

    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert done.attempts_made == 1


async def test_manual_retry_runs_failed_job(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    flaky = Flaky(failures=1)
    queue.set_handler("task", flaky)
    job = await queue.add("task")
    failed = await wait_final(queue, job.id)

    retried = await queue.retry(job.id)
    done = await events.wait_state(queue, job.id, JobState.COMPLETED)

    assert failed.state is JobState.FAILED
    assert retried.state is JobState.WAITING
    assert done.attempts_made == 1
    assert done.error is None
    assert flaky.calls == 2


async def test_manual_retry_cancelled_job(app: k2w.K2W, events: EventLog) -> None:
    job = await app.queue("idle").add("task")
    await app.queue("idle").cancel(job.id)

    retried = await app.queue("idle").retry(job.id)

    assert retried.state is JobState.WAITING


@pytest.mark.parametrize("state", ["waiting", "completed"])
async def test_manual_retry_rejects_unfinished_or_completed(app: k2w.K2W, state: str) -> None:
    queue = app.queue("q")
    queue.set_handler("task", Flaky(failures=0))
    idle = await app.queue("idle").add("task")
    done = await queue.add("task")
    await wait_final(queue, done.id)
    job_id = idle.id if state == "waiting" else done.id

    with pytest.raises(k2w.InvalidInputError, match=f"is {state}"):
        await queue.retry(job_id)


async def test_manual_retry_unknown_job(app: k2w.K2W) -> None:
    with pytest.raises(k2w.NotFoundError):
        await app.queue("q").retry("missing")


# -- timeouts ---------------------------------------------------------------------------------


async def test_timeout_cancels_handler(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task", timeout=5)
    await gate.wait_started(1)

    await clock.advance(5)
    done = await wait_final(queue, job.id)

    assert gate.cancelled == [job.id]
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert done.error.startswith("JobTimeoutError: ")
    assert "ran longer than its timeout of 5" in done.error


async def test_timeout_not_before_deadline(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate(result="in time")
    queue.set_handler("task", gate)
    job = await queue.add("task", timeout=5)
    await gate.wait_started(1)

    await clock.advance(4.9)
    gate.open()
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert gate.cancelled == []


async def test_timeout_retried_when_attempts_remain(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    gate = Gate()
    queue.set_handler("task", gate)
    job = await queue.add("task", timeout=5, attempts=2, backoff=k2w.Backoff.fixed(3))
    await gate.wait_started(1)

    await clock.advance(5)
    retrying = await events.wait_type("job:retrying", job.id)
    await clock.advance(3)
    await gate.wait_started(2)
    await clock.advance(5)
    done = await wait_final(queue, job.id)

    assert retrying.data["error"].startswith("JobTimeoutError: ")
    assert retrying.data["delay"] == 3.0
    assert done.state is JobState.FAILED
    assert done.attempts_made == 2
    assert gate.cancelled == [job.id, job.id]


async def test_timeout_handler_swallowing_cancel(
    app: k2w.K2W, clock: TrackingClock, events: EventLog
) -> None:
    queue = app.queue("q")
    started = anyio.Event()

    async def stubborn(job: k2w.Job) -> str:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return "finished anyway"
        return "unreachable"

    queue.set_handler("task", stubborn)
    job = await queue.add("task", timeout=5)
    await started.wait()

    await clock.advance(5)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert (done.error or "").startswith("JobTimeoutError: ")
