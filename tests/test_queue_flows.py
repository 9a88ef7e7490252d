"""Flows: a parent runs after its children, under each child failure policy."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import k2w
from k2w import ChildFailurePolicy, JobState
from support.engine import EventLog, Gate, wait_final

pytest_plugins = ("support.engine",)
pytestmark = pytest.mark.anyio

POLICIES = list(ChildFailurePolicy)


class Parent:
    """A parent handler that returns what it read from ``children_results``."""

    def __init__(self) -> None:
        self.seen: list[k2w.ChildResult] = []
        self.calls = 0

    async def __call__(self, job: k2w.Job) -> list[Any]:
        self.calls += 1
        self.seen = await job.children_results()
        return [child.result for child in self.seen]


async def child(job: k2w.Job) -> Any:
    if job.payload == "fail":
        raise k2w.UnrecoverableError("child broke")
    return job.payload


def register(queue: k2w.Queue) -> Parent:
    parent = Parent()
    queue.set_handler("parent", parent)
    queue.set_handler("child", child)
    return parent


async def test_flow_parent_runs_after_children(app: k2w.K2W) -> None:
    queue = app.queue("q")
    parent = register(queue)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("child", 1), k2w.FlowJob("child", 2)])

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert done.result == [1, 2]
    assert [c.state for c in parent.seen] == [JobState.COMPLETED, JobState.COMPLETED]


async def test_flow_parent_waits_while_child_runs(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    register(queue)
    gate = Gate(result="slow")
    queue.set_handler("slow", gate)
    job = await queue.add_flow(
        k2w.FlowJob("parent", children=[k2w.FlowJob("child", 1), k2w.FlowJob("slow")])
    )
    fast_child = next(c for c in await queue.list_jobs() if c.name == "child")

    await wait_final(queue, fast_child.id)
    await gate.wait_started(1)
    waiting = await job.refresh()
    gate.open()
    done = await wait_final(queue, job.id)

    assert waiting.state is JobState.WAITING_CHILDREN
    assert waiting.record.pending_children == 1
    assert done.result == [1, "slow"]


async def test_flow_children_know_parent(app: k2w.K2W) -> None:
    queue = app.queue("idle")

    job = await queue.add_flow(k2w.FlowJob("parent", children=[k2w.FlowJob("child")]))

    [only_child] = [c for c in await queue.list_jobs() if c.name == "child"]
    assert only_child.parent_id == job.id
    assert only_child.state is JobState.WAITING


async def test_flow_nested_runs_bottom_up(app: k2w.K2W) -> None:
    queue = app.queue("q")
    order: list[str] = []

    async def record(job: k2w.Job) -> str:
        order.append(job.payload)
        return str(job.payload)

    queue.set_handler("step", record)
    flow = k2w.FlowJob(
        "step",
        "root",
        children=[k2w.FlowJob("step", "middle", children=[k2w.FlowJob("step", "leaf")])],
    )

    job = await queue.add_flow(flow)
    await wait_final(queue, job.id)

    assert order == ["leaf", "middle", "root"]


async def test_flow_children_on_other_queue(app: k2w.K2W) -> None:
    parents = app.queue("parents")
    register(parents)
    app.queue("children").set_handler("child", child)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("child", 5, queue="children")])

    job = await parents.add_flow(flow)
    done = await wait_final(parents, job.id)

    assert done.result == [5]


async def test_flow_parent_emits_waiting(app: k2w.K2W, events: EventLog) -> None:
    queue = app.queue("q")
    register(queue)

    job = await queue.add_flow(k2w.FlowJob("parent", children=[k2w.FlowJob("child", 1)]))
    await wait_final(queue, job.id)

    assert events.types(job.id) == ["job:added", "job:waiting", "job:active", "job:completed"]


# -- a failing child --------------------------------------------------------------------------


async def test_flow_fail_policy_fails_parent(app: k2w.K2W) -> None:
    queue = app.queue("q")
    parent = register(queue)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("child", "fail")])

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED
    assert "child broke" in (done.error or "")
    assert parent.calls == 0


async def test_flow_fail_policy_cancels_waiting_sibling(app: k2w.K2W) -> None:
    queue = app.queue("q")
    register(queue)
    flow = k2w.FlowJob(
        "parent", children=[k2w.FlowJob("child", "fail"), k2w.FlowJob("later", queue="idle")]
    )

    job = await queue.add_flow(flow)
    await wait_final(queue, job.id)

    [sibling] = await app.queue("idle").list_jobs()
    assert sibling.state is JobState.CANCELLED


async def test_flow_fail_policy_cancels_running_sibling(app: k2w.K2W) -> None:
    queue = app.queue("q")
    register(queue)
    gate = Gate()
    queue.set_handler("slow", gate)
    broken = anyio.Event()

    async def fail_later(job: k2w.Job) -> None:
        await broken.wait()
        raise k2w.UnrecoverableError("child broke")

    queue.set_handler("fail-later", fail_later)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("slow"), k2w.FlowJob("fail-later")])
    job = await queue.add_flow(flow)
    await gate.wait_started(1)

    broken.set()
    done = await wait_final(queue, job.id)
    sibling = await wait_final(queue, gate.started[0])
    await gate.wait_cancelled(1)

    assert done.state is JobState.FAILED
    assert sibling.state is JobState.CANCELLED
    assert gate.cancelled == [sibling.id]


async def test_flow_ignore_policy_runs_parent(app: k2w.K2W) -> None:
    queue = app.queue("q")
    parent = register(queue)
    flow = k2w.FlowJob(
        "parent",
        children=[
            k2w.FlowJob("child", "ok"),
            k2w.FlowJob("child", "fail", on_failure=ChildFailurePolicy.IGNORE),
        ],
    )

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert [c.state for c in parent.seen] == [JobState.COMPLETED, JobState.FAILED]
    assert parent.seen[1].error == "UnrecoverableError: child broke"


async def test_flow_remove_policy_drops_failed_child(app: k2w.K2W) -> None:
    queue = app.queue("q")
    parent = register(queue)
    flow = k2w.FlowJob(
        "parent",
        children=[
            k2w.FlowJob("child", "ok"),
            k2w.FlowJob("child", "fail", on_failure=ChildFailurePolicy.REMOVE),
        ],
    )

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert [c.result for c in parent.seen] == ["ok"]


async def test_flow_failure_climbs_nested_parents(app: k2w.K2W) -> None:
    queue = app.queue("q")
    register(queue)
    flow = k2w.FlowJob(
        "parent", children=[k2w.FlowJob("parent", children=[k2w.FlowJob("child", "fail")])]
    )

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.FAILED


@pytest.mark.parametrize("policy", POLICIES)
async def test_flow_failing_child_ends_wait(app: k2w.K2W, policy: ChildFailurePolicy) -> None:
    queue = app.queue("q")
    register(queue)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("child", "fail", on_failure=policy)])

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    expected = JobState.FAILED if policy is ChildFailurePolicy.FAIL else JobState.COMPLETED
    assert done.state is expected


@pytest.mark.parametrize("policy", POLICIES)
async def test_flow_cancelled_child_ends_wait(app: k2w.K2W, policy: ChildFailurePolicy) -> None:
    queue = app.queue("q")
    parent = register(queue)
    flow = k2w.FlowJob("parent", children=[k2w.FlowJob("held", queue="idle", on_failure=policy)])
    job = await queue.add_flow(flow)
    [held] = await app.queue("idle").list_jobs()

    await app.queue("idle").cancel(held.id)
    done = await wait_final(queue, job.id)

    expected = JobState.FAILED if policy is ChildFailurePolicy.FAIL else JobState.COMPLETED
    assert done.state is expected
    assert len(parent.seen) == (1 if policy is ChildFailurePolicy.IGNORE else 0)


@pytest.mark.parametrize("policy", POLICIES)
async def test_flow_retried_child_keeps_parent_waiting(
    app: k2w.K2W, policy: ChildFailurePolicy, events: EventLog
) -> None:
    queue = app.queue("q")
    register(queue)
    calls = 0

    async def flaky(job: k2w.Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("first try")
        return "second try"

    queue.set_handler("flaky", flaky)
    flow = k2w.FlowJob(
        "parent",
        children=[
            k2w.FlowJob("flaky", attempts=2, backoff=k2w.Backoff.fixed(0), on_failure=policy)
        ],
    )

    job = await queue.add_flow(flow)
    done = await wait_final(queue, job.id)

    assert done.state is JobState.COMPLETED
    assert done.result == ["second try"]


# -- cancelling a parent ----------------------------------------------------------------------


async def test_flow_cancel_parent_cancels_children(app: k2w.K2W) -> None:
    queue = app.queue("idle")
    job = await queue.add_flow(
        k2w.FlowJob("parent", children=[k2w.FlowJob("child"), k2w.FlowJob("child")])
    )

    await queue.cancel(job.id)

    children = [c for c in await queue.list_jobs() if c.parent_id == job.id]
    assert [c.state for c in children] == [JobState.CANCELLED, JobState.CANCELLED]


async def test_flow_cancel_parent_stops_running_child(app: k2w.K2W) -> None:
    queue = app.queue("q")
    register(queue)
    gate = Gate()
    queue.set_handler("slow", gate)
    job = await queue.add_flow(k2w.FlowJob("parent", children=[k2w.FlowJob("slow")]))
    await gate.wait_started(1)

    await queue.cancel(job.id)
    child_job = await wait_final(queue, gate.started[0])
    await gate.wait_cancelled(1)

    assert child_job.state is JobState.CANCELLED
    assert gate.cancelled == [child_job.id]
