"""Pieces the example servers share: the run request body, the example keywords and a
slowed offline writer.

The example servers import this module by name, which works when they run as scripts
(``python examples/sse.py``) because Python puts the script's folder on ``sys.path``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

import k2w

__all__ = [
    "EXAMPLE_KEYWORDS",
    "WORKFLOW_EVENTS",
    "RunRequest",
    "SlowWriter",
    "load_keywords",
    "valid_user_id",
]

EXAMPLE_KEYWORDS = Path(__file__).with_name("keywords-vi.txt")
"""Ten Vietnamese search keywords, one per line."""

WORKFLOW_EVENTS = (
    "workflow:queued",
    "workflow:progress",
    "workflow:complete",
    "workflow:failed",
    "workflow:cancelled",
)
"""The run-level event types; a progress bar needs only these, not the ``job:*`` ones."""

_USER_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class RunRequest(BaseModel):
    """The JSON body that starts a run: ``{"keywords": [...], "languages": [...], "locale": "vi"}``.

    k2w itself validates the keywords and language codes and raises
    :class:`k2w.InvalidInputError` with a message that explains what to fix.
    """

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(min_length=1)
    languages: list[str] | None = None
    locale: Literal["en", "vi"] | None = None


def load_keywords(path: Path = EXAMPLE_KEYWORDS) -> list[str]:
    """Read one keyword per line from ``path``, skipping blank lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def valid_user_id(value: object) -> str | None:
    """Return ``value`` if it is a usable user id (1–64 letters, digits or ``_.@-``), else None.

    The examples take the user id from the client as it is. A real application derives
    it from the session or a verified token instead, so that nobody can read another
    user's events by naming them.
    """
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    return None


class SlowWriter:
    """k2w's offline writer, waiting ``delay`` seconds before each article and translation.

    A run of ten keywords with the offline providers finishes in well under a second.
    This writer stretches the run, so a person can watch the progress bars move.
    """

    name = "offline-slow"
    offline = True

    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise ValueError(f"delay must be 0 or more seconds, got {delay}")
        self._writer = k2w.OfflineWriter()
        self._delay = delay

    async def write_article(
        self, request: k2w.ArticleRequest, *, cache: k2w.ResponseCache | None = None
    ) -> k2w.Article:
        """Wait, then write the offline sample article for ``request``."""
        await anyio.sleep(self._delay)
        return await self._writer.write_article(request, cache=cache)

    async def translate_article(
        self,
        article: k2w.Article,
        target_language: str,
        *,
        cache: k2w.ResponseCache | None = None,
    ) -> k2w.Article:
        """Wait, then return the offline writer's marked, untranslated copy."""
        await anyio.sleep(self._delay)
        return await self._writer.translate_article(article, target_language, cache=cache)

    async def aclose(self) -> None:
        """Release the wrapped writer."""
        await self._writer.aclose()
