"""Clocks: every delay, backoff, lease and schedule in k2w reads time through one.

:class:`SystemClock` is the real one. :class:`FakeClock` is virtual time for tests:
it never moves by itself, and :meth:`FakeClock.advance` wakes every sleeper whose
deadline has passed.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol

import anyio

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Source of wall-clock time (seconds since the epoch) and of sleeps on it."""

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once :meth:`now` has reached ``deadline``."""
        ...


class SystemClock:
    """The real clock: ``time.time()`` and anyio sleeps."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.time()
        if delay > 0:
            await anyio.sleep(delay)
        else:
            await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """Virtual time for tests: starts at ``start`` and moves only on :meth:`advance`.

    Example::

        clock = FakeClock()
        async with K2W.open(":memory:", clock=clock) as app:
            job = await app.queue("q").add("task", delay=60)
            await clock.advance(60)        # the delayed job becomes due now
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (deadline, next(self._counter), event))
        await event.wait()

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and let woken tasks run."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()
        await _let_tasks_run()

    def set(self, now: float) -> None:
        """Jump to ``now`` without waking sleepers; for setting up a test."""
        self._now = now

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline a task sleeps on, or ``None`` when none sleeps."""
        return self._sleepers[0][0] if self._sleepers else None

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleepers={len(self._sleepers)})"


async def _let_tasks_run() -> None:
    # A handful of checkpoints lets woken tasks reach their next await point. Callers that
    # need a particular state wait on that state through events, never on this.
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
