"""Priorities: lower numbers first, FIFO among equals, range checks, and optional aging."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import k2w
from k2w import JobState
from support.engine import GUARD_S, TrackingClock

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio


class Recorder:
    """A handler that records the payload of each job it runs, in order."""

    def __init__(self) -> None:
        self.order: list[Any] = []
        self._changed = anyio.Event()

    async def __call__(self, job: k2w.Job) -> None:
        self.order.append(job.payload)
        self._changed.set()

    async def wait_count(self, count: int) -> None:
        with anyio.fail_after(GUARD_S):
            while len(self.order) < count:
                self._changed = anyio.Event()
                await self._changed.wait()


async def test_priority_lower_runs_first(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    await queue.pause()
    for payload, priority in [("a", 5), ("b", 1), ("c", 5), ("d", 0), ("e", 1), ("f", 9)]:
        await queue.add("task", payload, priority=priority)
    recorder = Recorder()
    queue.set_handler("task", recorder)

    await queue.resume()
    await recorder.wait_count(6)

    assert recorder.order == ["d", "b", "e", "a", "c", "f"]


async def test_priority_equal_runs_fifo(app: k2w.K2W) -> None:
    queue = app.queue("q", k2w.QueueSettings(concurrency=1))
    await queue.pause()
    for payload in range(8):
        await queue.add("task", payload, priority=3)
    recorder = Recorder()
    queue.set_handler("task", recorder)

    await queue.resume()
    await recorder.wait_count(8)

    assert recorder.order == list(range(8))


async def test_priority_default_is_100(app: k2w.K2W) -> None:
    job = await app.queue("idle").add("task")

    assert job.priority == 100


@pytest.mark.parametrize("priority", [0, k2w.MAX_PRIORITY])
async def test_priority_bounds_accepted(app: k2w.K2W, priority: int) -> None:
    job = await app.queue("idle").add("task", priority=priority)

    assert job.priority == priority


@pytest.mark.parametrize(
    "priority",
    [-1, k2w.MAX_PRIORITY + 1, 1.5, True, "1", None],
    ids=["negative", "above-max", "float", "bool", "string", "none"],
)
async def test_priority_out_of_range_rejected(app: k2w.K2W, priority: Any) -> None:
    with pytest.raises(k2w.InvalidInputError, match="priority"):
        await app.queue("idle").add("task", priority=priority)


async def test_flow_rejects_invalid_priority(app: k2w.K2W) -> None:
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("child", priority=-3)])

    with pytest.raises(k2w.InvalidInputError):
        await app.queue("idle").add_flow(flow)


async def run_flood(
    app: k2w.K2W, clock: TrackingClock, *, aging_s: float | None, steps: int
) -> list[Any]:
    """Run a flood of urgent jobs, one per virtual second, next to one old low job.

    Each urgent job adds the next one and runs for one second of virtual time, so an
    urgent job is always waiting. Returns the names of the first ``steps + 1`` jobs to
    start, in order.
    """
    queue = app.queue("q", k2w.QueueSettings(concurrency=1, priority_aging_s=aging_s))
    recorder = Recorder()
    releases: list[anyio.Event] = []

    async def urgent(job: k2w.Job) -> None:
        release = anyio.Event()
        releases.append(release)
        await recorder(job)
        await queue.add("urgent", "urgent", priority=0)
        await release.wait()

    await queue.pause()
    await queue.add("low", "low", priority=3)
    await queue.add("urgent", "urgent", priority=0)
    queue.set_handler("urgent", urgent)
    queue.set_handler("low", recorder)
    await queue.resume()

    for step in range(steps):
        await recorder.wait_count(step + 1)
        if recorder.order[step] == "urgent":
            await clock.advance(1)
            releases[-1].set()
    await recorder.wait_count(steps + 1)
    return recorder.order[: steps + 1]


async def test_priority_flood_starves_without_aging(app: k2w.K2W, clock: TrackingClock) -> None:
    order = await run_flood(app, clock, aging_s=None, steps=10)

    assert order == ["urgent"] * 11


async def test_priority_aging_prevents_starvation(app: k2w.K2W, clock: TrackingClock) -> None:
    order = await run_flood(app, clock, aging_s=1.0, steps=6)

    assert "low" in order


async def test_priority_aging_lowers_stored_priority(app: k2w.K2W, clock: TrackingClock) -> None:
    await run_flood(app, clock, aging_s=1.0, steps=2)

    [low] = [job for job in await app.queue("q").list_jobs(JobState.WAITING) if job.name == "low"]
    assert low.priority == 1
