"""The event bus: committed events fanned out to callbacks and async iterators.

Every event reaches the bus only after the transaction that wrote it committed, in
``seq`` order. Publishing never blocks: each subscriber has a bounded buffer of its
own. When a buffer is full, a new progress event replaces the buffered one of the same
job or run (the newest progress is all that matters); any other event that does not fit
is dropped and the subscriber is told, with a ``stream:lagged`` event, which ``seq`` to
resume from. :meth:`EventBus.stream` resumes from the log by itself, so an iterator
never loses an event.
"""

from __future__ import annotations

import collections
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from .._store._records import EventRecord
from .._store._sqlite import SQLiteStore
from ._event import PROGRESS_TYPES, Event

__all__ = ["EventBus", "EventCallback", "Subscription"]

logger = logging.getLogger("k2w.events")

EventCallback = Callable[[Event], Awaitable[None] | None]

LAGGED = "stream:lagged"
_REPLAY_PAGE = 500


@dataclass(frozen=True, slots=True)
class _Filter:
    user_id: str | None
    workflow_id: str | None
    types: frozenset[str] | None

    def matches_record(self, record: EventRecord) -> bool:
        if self.user_id is not None and record.user_id != self.user_id:
            return False
        if self.workflow_id is not None and record.workflow_id != self.workflow_id:
            return False
        return self.types is None or record.type in self.types

    def matches(self, event: Event) -> bool:
        if event.type == LAGGED:
            return True
        if self.user_id is not None and event.user_id != self.user_id:
            return False
        if self.workflow_id is not None and event.workflow_id != self.workflow_id:
            return False
        return self.types is None or event.type in self.types


class Subscription:
    """A live feed of matching events with a bounded buffer.

    Close it with :meth:`close` (or leave the ``async with`` block) to stop receiving.
    """

    def __init__(self, bus: EventBus, event_filter: _Filter, max_buffer: int) -> None:
        self._bus = bus
        self._filter = event_filter
        self._max_buffer = max_buffer
        self._buffer: collections.deque[Event] = collections.deque()
        self._wakeup = anyio.Event()
        self._closed = False
        self._lagged_after: int | None = None
        self._last_put = 0
        self.dropped = 0
        self.coalesced = 0

    @property
    def closed(self) -> bool:
        """True once the subscription was closed."""
        return self._closed

    def close(self) -> None:
        """Stop receiving events; a waiting :meth:`get` returns None."""
        if not self._closed:
            self._closed = True
            self._bus._remove(self)
            self._wakeup.set()

    def _wants(self, record: EventRecord) -> bool:
        """Return True when ``record`` must be built into an event and put; count drops.

        Deciding on the stored record first means a stuck subscriber costs the workers a
        few comparisons per event, not the building of events it will never read.
        """
        if not self._filter.matches_record(record):
            return False
        if self._lagged_after is not None:
            # Once an event was dropped, later ones are dropped too until the lag notice is
            # read. Delivered ahead of the notice, they would move a reader's last seen
            # ``seq`` past the gap, and resuming from there would skip the dropped events.
            self.dropped += 1
            return False
        if len(self._buffer) >= self._max_buffer and record.type not in PROGRESS_TYPES:
            self.dropped += 1
            self._lagged_after = self._last_put
            return False
        return True

    def _put(self, event: Event) -> None:
        if len(self._buffer) < self._max_buffer:
            self._append(event)
            return
        key = event.coalesce_key()
        if key is not None and self._replace(key, event):
            self.coalesced += 1
            return
        self.dropped += 1
        if self._lagged_after is None:
            self._lagged_after = self._last_put

    def _append(self, event: Event) -> None:
        self._buffer.append(event)
        self._last_put = event.seq
        if not self._wakeup.is_set():
            self._wakeup.set()

    def _replace(self, key: tuple[str, str | None], event: Event) -> bool:
        for index, buffered in enumerate(self._buffer):
            if buffered.coalesce_key() == key:
                del self._buffer[index]
                self._append(event)
                return True
        return False

    async def get(self) -> Event | None:
        """Return the next event, waiting for one; None once closed."""
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._lagged_after is not None:
                resume_after, self._lagged_after = self._lagged_after, None
                return _lagged_event(resume_after, self.dropped)
            if self._closed:
                return None
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lagged_event(resume_after: int, dropped: int) -> Event:
    return Event(
        seq=resume_after,
        type=LAGGED,
        ts=0.0,
        data={
            "resumeAfter": resume_after,
            "dropped": dropped,
            "message": (
                "this subscriber fell behind and missed events; read them again from the "
                f"event log with stream(after={resume_after})"
            ),
        },
    )


class EventBus:
    """Fan-out of committed events; reach it as ``app.events``."""

    def __init__(self, store: SQLiteStore, *, max_buffer: int = 1000) -> None:
        self._store = store
        self._max_buffer = max_buffer
        self._subscriptions: list[Subscription] = []
        # Who may want an event of each type: the subscriptions that name the type plus
        # those that take every type. Built on first use after a change, so publishing
        # skips the subscriptions an event cannot match.
        self._by_type: dict[str, tuple[Subscription, ...]] = {}
        self._task_group: TaskGroup | None = None
        self._listeners: list[Callable[[list[EventRecord]], None]] = []

    def start(self, task_group: TaskGroup) -> None:
        """Deliver callbacks from tasks in ``task_group``."""
        self._task_group = task_group

    def add_listener(self, listener: Callable[[list[EventRecord]], None]) -> None:
        """Call ``listener`` synchronously with every committed batch, before subscribers.

        For k2w's own layers (waking workers, resolving waits); it must not block.
        """
        self._listeners.append(listener)

    def publish(self, records: list[EventRecord]) -> None:
        """Fan out a committed batch of events; never blocks."""
        for listener in self._listeners:
            listener(records)
        if not self._subscriptions:
            return
        by_type = self._by_type
        for record in records:
            subscriptions = by_type.get(record.type)
            if subscriptions is None:
                subscriptions = self._subscriptions_for(record.type)
            event: Event | None = None
            for subscription in subscriptions:
                if not subscription._wants(record):
                    continue
                if event is None:
                    event = Event.from_record(record)
                subscription._put(event)

    def _subscriptions_for(self, event_type: str) -> tuple[Subscription, ...]:
        """Return (and remember) the subscriptions in the order they were opened that an
        event of ``event_type`` may match."""
        matching = tuple(
            subscription
            for subscription in self._subscriptions
            if subscription._filter.types is None or event_type in subscription._filter.types
        )
        self._by_type[event_type] = matching
        return matching

    def _changed(self) -> None:
        self._by_type = {}

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._changed()

    def open_subscription(
        self,
        *,
        user_id: str | None = None,
        workflow_id: str | None = None,
        types: Collection[str] | None = None,
        max_buffer: int | None = None,
    ) -> Subscription:
        """Return a live :class:`Subscription` to read with ``await subscription.get()``."""
        subscription = Subscription(
            self,
            _Filter(user_id, workflow_id, None if types is None else frozenset(types)),
            max_buffer or self._max_buffer,
        )
        self._subscriptions.append(subscription)
        self._changed()
        return subscription

    def subscribe(
        self,
        callback: EventCallback,
        *,
        user_id: str | None = None,
        workflow_id: str | None = None,
        types: Collection[str] | None = None,
        max_buffer: int | None = None,
    ) -> Subscription:
        """Call ``callback`` (sync or async) with each matching live event, in order.

        Each subscription is served by a task of its own, so a slow callback delays only
        itself. A callback that raises is logged and keeps its subscription. A sync
        callback runs on the event loop and must be quick; do slow work in an async one.

        Example::

            def on_event(event: k2w.Event) -> None:
                print(event.type, event.to_wire())

            app.events.subscribe(on_event, user_id="u1")
        """
        if self._task_group is None:
            raise RuntimeError("the event bus is not running; subscribe inside K2W.open()")
        subscription = self.open_subscription(
            user_id=user_id, workflow_id=workflow_id, types=types, max_buffer=max_buffer
        )
        self._task_group.start_soon(_deliver, subscription, callback)
        return subscription

    async def stream(
        self,
        *,
        after: int = 0,
        user_id: str | None = None,
        workflow_id: str | None = None,
        types: Sequence[str] | None = None,
        follow: bool = True,
    ) -> AsyncGenerator[Event, None]:
        """Yield stored events with ``seq > after``, then live ones, with no gap or repeat.

        Pass the last ``seq`` a client saw as ``after`` to resume after a reconnect. If
        the consumer falls behind, the stream reads the missed events back from the log.
        With ``follow=False`` it stops after the stored events.

        Example::

            async for event in app.events.stream(workflow_id=run.id, after=0):
                print(event.seq, event.type, event.progress)
        """
        subscription = (
            self.open_subscription(user_id=user_id, workflow_id=workflow_id, types=types)
            if follow
            else None
        )
        last = after
        try:
            async for event in self._replay(last, user_id, workflow_id, types):
                last = event.seq
                yield event
            if subscription is None:
                return
            while True:
                live = await subscription.get()
                if live is None:
                    return
                if live.type == LAGGED:
                    async for missed in self._replay(last, user_id, workflow_id, types):
                        last = missed.seq
                        yield missed
                    continue
                if live.seq <= last:
                    continue
                last = live.seq
                yield live
        finally:
            if subscription is not None:
                subscription.close()

    async def _replay(
        self,
        after: int,
        user_id: str | None,
        workflow_id: str | None,
        types: Sequence[str] | None,
    ) -> AsyncIterator[Event]:
        while True:
            records = await self._store.read_events(
                after=after,
                user_id=user_id,
                workflow_id=workflow_id,
                types=types or (),
                limit=_REPLAY_PAGE,
            )
            for record in records:
                after = record.seq
                yield Event.from_record(record)
            if len(records) < _REPLAY_PAGE:
                return

    async def history(
        self,
        *,
        after: int = 0,
        user_id: str | None = None,
        workflow_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        """Return up to ``limit`` stored events with ``seq > after``."""
        records = await self._store.read_events(
            after=after, user_id=user_id, workflow_id=workflow_id, types=types or (), limit=limit
        )
        return [Event.from_record(r) for r in records]

    async def last_seq(self) -> int:
        """Return the newest committed event's ``seq``."""
        return await self._store.last_seq()

    async def prune(
        self, *, older_than_s: float | None = None, keep_last: int | None = None
    ) -> int:
        """Delete stored events older than ``older_than_s`` seconds or beyond ``keep_last``."""
        older_than = None if older_than_s is None else self._store.clock.now() - older_than_s
        return await self._store.prune_events(older_than=older_than, keep_last=keep_last)


async def _deliver(subscription: Subscription, callback: EventCallback) -> None:
    name = getattr(callback, "__qualname__", repr(callback))
    while True:
        event = await subscription.get()
        if event is None:
            return
        try:
            outcome: Any = callback(event)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception(
                "event subscriber %s raised on %s (seq %d)", name, event.type, event.seq
            )
