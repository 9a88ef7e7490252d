"""The event bus, the event type and the message catalogue."""

from ._bus import EventBus, EventCallback, Subscription
from ._event import PROGRESS_TYPES, Event
from ._messages import LOCALES, MESSAGES, Locale, localize

__all__ = [
    "LOCALES",
    "MESSAGES",
    "PROGRESS_TYPES",
    "Event",
    "EventBus",
    "EventCallback",
    "Locale",
    "Subscription",
    "localize",
]
