"""Waiting on an event with a deadline read from the injectable clock."""

from __future__ import annotations

import anyio

from .._clock import Clock

__all__ = ["wait_until"]


async def wait_until(event: anyio.Event, clock: Clock, deadline: float | None) -> bool:
    """Wait until ``event`` is set or ``clock`` reaches ``deadline``; True if the event won.

    A ``deadline`` of None waits for the event alone.
    """
    if event.is_set():
        return True
    if deadline is None:
        await event.wait()
        return True
    if deadline <= clock.now():
        await anyio.lowlevel.checkpoint()
        return event.is_set()

    async with anyio.create_task_group() as task_group:

        async def sleeper() -> None:
            await clock.sleep_until(deadline)
            task_group.cancel_scope.cancel()

        task_group.start_soon(sleeper)
        await event.wait()
        task_group.cancel_scope.cancel()
    return event.is_set()
