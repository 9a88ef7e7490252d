"""Retry backoff and rate-limit settings for queues and jobs."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import InvalidInputError

__all__ = ["Backoff", "BackoffFunction", "RateLimit"]

#: A custom backoff: ``(attempts_made, error) -> seconds to wait``.
BackoffFunction = Callable[[int, BaseException | None], float]

BackoffKind = Literal["fixed", "exponential", "custom"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failed job waits before its next attempt.

    ``fixed``: always ``delay`` seconds. ``exponential``: ``delay * 2 ** (attempt - 1)``,
    capped at ``max_delay``. With ``jitter`` the wait is drawn uniformly between 0 and
    that value ("full jitter"), which spreads retries of many jobs that failed together.
    ``custom``: a function registered on the queue under ``name``; only the name is
    stored with the job, so it survives a restart.

    Example::

        Backoff.exponential(2.0, jitter=True, max_delay=300)
        Backoff.fixed(10)
        Backoff.custom("linear")   # after queue.backoff_strategy("linear", fn)
    """

    kind: BackoffKind = "exponential"
    delay: float = 1.0
    jitter: bool = True
    max_delay: float = 3600.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise InvalidInputError(f"backoff delay must be >= 0 seconds, got {self.delay}")
        if self.max_delay < self.delay:
            raise InvalidInputError(
                f"backoff max_delay ({self.max_delay}) must be >= delay ({self.delay})"
            )
        if self.kind == "custom" and not self.name:
            raise InvalidInputError("a custom backoff needs the name of a registered strategy")

    @classmethod
    def fixed(cls, delay: float) -> Backoff:
        """Wait ``delay`` seconds before every retry."""
        return cls("fixed", delay, jitter=False, max_delay=max(delay, 3600.0))

    @classmethod
    def exponential(
        cls, delay: float = 1.0, *, jitter: bool = True, max_delay: float = 3600.0
    ) -> Backoff:
        """Double the wait after each failed attempt, starting at ``delay`` seconds."""
        return cls("exponential", delay, jitter=jitter, max_delay=max_delay)

    @classmethod
    def custom(cls, name: str) -> Backoff:
        """Use the strategy registered with ``queue.backoff_strategy(name, function)``."""
        return cls("custom", 0.0, jitter=False, name=name)

    def to_dict(self) -> dict[str, Any]:
        """Return the form stored with each job."""
        return {
            "kind": self.kind,
            "delay": self.delay,
            "jitter": self.jitter,
            "max_delay": self.max_delay,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Backoff:
        """Rebuild a backoff from :meth:`to_dict`'s output (defaults when empty)."""
        if not data:
            return cls()
        return cls(
            data.get("kind", "exponential"),
            float(data.get("delay", 1.0)),
            jitter=bool(data.get("jitter", True)),
            max_delay=float(data.get("max_delay", 3600.0)),
            name=data.get("name"),
        )

    def compute(
        self,
        attempts_made: int,
        error: BaseException | None,
        *,
        strategies: dict[str, BackoffFunction],
        rng: random.Random,
    ) -> float:
        """Return the wait in seconds after ``attempts_made`` failed attempts."""
        if self.kind == "custom":
            assert self.name is not None
            strategy = strategies.get(self.name)
            if strategy is None:
                raise InvalidInputError(
                    f"no backoff strategy named {self.name!r} is registered on this queue; "
                    "register it with queue.backoff_strategy(name, function)"
                )
            return max(0.0, float(strategy(attempts_made, error)))
        if self.kind == "fixed":
            return self.delay
        ceiling = min(self.max_delay, self.delay * 2 ** max(0, attempts_made - 1))
        return rng.uniform(0.0, ceiling) if self.jitter else ceiling


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_jobs`` jobs start per ``per_seconds`` window, per queue."""

    max_jobs: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.max_jobs < 1:
            raise InvalidInputError(f"rate limit max_jobs must be >= 1, got {self.max_jobs}")
        if self.per_seconds <= 0:
            raise InvalidInputError(f"rate limit per_seconds must be > 0, got {self.per_seconds}")
