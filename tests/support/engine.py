"""Shared pieces for the job engine tests.

An app opened on a temporary database in virtual time (:class:`k2w.FakeClock`), an
event log that tests wait on instead of sleeping, and plain ``sqlite3`` access for
playing the part of another process (a dead worker, a second writer).

Test modules load the fixtures with ``pytest_plugins = ("support.engine",)``. They
import the module before pytest loads it as a plugin, which is too late for assertion
rewriting. The module has no asserts, so it opts out with PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import collections
import random
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import pytest

import k2w

#: Real seconds a wait may take before the test fails instead of hanging. Waits end on
#: events long before this; it matters only when the code under test is broken.
GUARD_S = 10.0

#: The FakeClock's default start: 2026-01-01T00:00:00Z (07:00 in Asia/Ho_Chi_Minh).
START = 1_767_225_600.0

#: A virtual timeout for waits that must end on the job's own events, never on the clock.
FOREVER_S = 10.0 * 365 * 24 * 3600

_END_TYPES = frozenset({"job:completed", "job:failed", "job:cancelled"})

#: The seed of the engine's random generator, so jittered backoffs can be predicted.
RNG_SEED = 7


class TrackingClock(k2w.FakeClock):
    """A FakeClock that lets a test wait until some task sleeps until a given time.

    Advancing the clock wakes only the tasks that already sleep. So a test that must
    not move time before, say, a wait has computed its deadline waits for that sleeper.
    """

    def __init__(self, start: float = START) -> None:
        super().__init__(start)
        self._sleeping: collections.Counter[float] = collections.Counter()
        self._changed = anyio.Event()

    async def sleep_until(self, deadline: float) -> None:
        self._sleeping[deadline] += 1
        self._changed.set()
        try:
            await super().sleep_until(deadline)
        finally:
            self._sleeping[deadline] -= 1

    async def wait_for_sleeper(self, deadline: float, *, count: int = 1) -> None:
        """Wait until ``count`` tasks sleep until ``deadline``."""
        with anyio.fail_after(GUARD_S):
            while self._sleeping[deadline] < count:
                self._changed = anyio.Event()
                await self._changed.wait()


@asynccontextmanager
async def open_app(db: Path, clock: k2w.FakeClock) -> AsyncIterator[k2w.K2W]:
    """Open an app on ``db`` in the virtual time of ``clock``, with offline providers."""
    config = k2w.K2WConfig(out_dir=db.parent / "out", event_retention_s=None)
    async with k2w.K2W.open(db, config=config, clock=clock, rng=random.Random(RNG_SEED)) as app:
        yield app


@pytest.fixture
def clock() -> TrackingClock:
    return TrackingClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "k2w.db"


@pytest.fixture
async def app(db_path: Path, clock: TrackingClock) -> AsyncIterator[k2w.K2W]:
    async with open_app(db_path, clock) as opened:
        yield opened


@pytest.fixture
async def events(app: k2w.K2W) -> EventLog:
    return EventLog(app)


class EventLog:
    """Every event an app publishes from now on, in order, with waits on them."""

    def __init__(
        self, app: k2w.K2W, *, hook: Callable[[k2w.Event], None] | None = None, **filters: Any
    ) -> None:
        self.items: list[k2w.Event] = []
        self._hook = hook
        self._arrived = anyio.Event()
        self.subscription = app.events.subscribe(self._on_event, **filters)

    def _on_event(self, event: k2w.Event) -> None:
        # The hook runs before the event is logged, so a wait that returns an event also
        # means the hook has seen it.
        if self._hook is not None:
            self._hook(event)
        self.items.append(event)
        self._arrived.set()

    def types(self, job_id: str | None = None) -> list[str]:
        """Return the types of the events seen so far, only those of ``job_id`` if given."""
        return [e.type for e in self.items if job_id is None or e.job_id == job_id]

    def of_type(self, event_type: str, job_id: str | None = None) -> list[k2w.Event]:
        """Return the events of one type seen so far, only those of ``job_id`` if given."""
        return [
            e for e in self.items if e.type == event_type and (job_id is None or e.job_id == job_id)
        ]

    async def wait_for(
        self, predicate: Callable[[k2w.Event], bool], *, after: int = 0
    ) -> k2w.Event:
        """Return the first event at index ``after`` or later that matches ``predicate``."""
        index = after
        with anyio.fail_after(GUARD_S):
            while True:
                while index < len(self.items):
                    event = self.items[index]
                    index += 1
                    if predicate(event):
                        return event
                self._arrived = anyio.Event()
                await self._arrived.wait()

    async def wait_type(
        self, event_type: str, job_id: str | None = None, *, count: int = 1
    ) -> k2w.Event:
        """Return the ``count``-th event of ``event_type`` (for ``job_id`` if given)."""
        seen = 0

        def matches(event: k2w.Event) -> bool:
            nonlocal seen
            if event.type == event_type and (job_id is None or event.job_id == job_id):
                seen += 1
            return seen >= count

        return await self.wait_for(matches)

    async def wait_ended(self, job_id: str) -> k2w.Event:
        """Return the event that ended ``job_id``: completed, failed or cancelled."""
        return await self.wait_for(
            lambda event: event.job_id == job_id and event.type in _END_TYPES
        )

    async def wait_state(self, queue: k2w.Queue, job_id: str, state: k2w.JobState) -> k2w.Job:
        """Return the job once the store shows it in ``state``, re-reading on its events."""
        with anyio.fail_after(GUARD_S):
            while True:
                seen = len(self.items)
                job = await queue.get_job(job_id)
                if job.state is state:
                    return job
                await self.wait_for(lambda event: event.job_id == job_id, after=seen)


class Gate:
    """A handler that records each call and blocks until :meth:`open` is called."""

    def __init__(self, result: Any = None) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.running = 0
        self.max_running = 0
        self.result = result
        self._opened = anyio.Event()
        self._changed = anyio.Event()

    def open(self) -> None:
        """Let every blocked and future call return."""
        self._opened.set()

    async def wait_started(self, count: int) -> None:
        """Wait until ``count`` calls have started."""
        await self._wait(lambda: len(self.started) >= count)

    async def wait_cancelled(self, count: int) -> None:
        """Wait until ``count`` calls have seen their cancellation and returned."""
        await self._wait(lambda: len(self.cancelled) >= count)

    async def _wait(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(GUARD_S):
            while not condition():
                self._changed = anyio.Event()
                await self._changed.wait()

    async def __call__(self, job: k2w.Job) -> Any:
        self.started.append(job.id)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self._changed.set()
        try:
            await self._opened.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(job.id)
            raise
        finally:
            self.running -= 1
            self._changed.set()
        return self.result


def query(db: Path, statement: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Run one statement on ``db`` with a plain sqlite3 connection and commit it."""
    with closing(sqlite3.connect(db, timeout=GUARD_S)) as conn:
        conn.row_factory = sqlite3.Row
        with conn:
            return conn.execute(statement, params).fetchall()


def job_row(db: Path, job_id: str) -> sqlite3.Row:
    """Return the committed row of ``job_id``, read with a connection of its own."""
    [row] = query(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
    return row


def dead_owner() -> str:
    """Return a lease owner naming a process on this host that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{int(child.stdout)}:dead"


async def wait_final(queue: k2w.Queue, job_id: str) -> k2w.Job:
    """Wait until ``job_id`` is final; the virtual clock never ends the wait by itself."""
    with anyio.fail_after(GUARD_S):
        return await queue.wait(job_id, timeout=FOREVER_S)
