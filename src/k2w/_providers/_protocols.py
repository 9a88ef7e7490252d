"""The small protocols that pipeline stages call. No provider depends on the queue."""

from __future__ import annotations

from typing import Protocol

from ._models import (
    Article,
    ArticleRequest,
    GeneratedImage,
    ImageRequest,
    PublishRequest,
    PublishResult,
)

__all__ = ["ImageGenerator", "Publisher", "ResponseCache", "TextGenerator"]


class ResponseCache(Protocol):
    """A store of successful provider responses, keyed by a hash of the request.

    The pipeline passes one per run, so a retried or resumed stage does not pay again
    for a call that already succeeded.
    """

    async def get(self, key: str) -> str | None:
        """Return the stored response for ``key``, or ``None``."""
        ...

    async def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        ...


class TextGenerator(Protocol):
    """Writes and translates articles."""

    name: str
    offline: bool

    async def write_article(
        self, request: ArticleRequest, *, cache: ResponseCache | None = None
    ) -> Article:
        """Write the article that ``request`` describes."""
        ...

    async def translate_article(
        self, article: Article, target_language: str, *, cache: ResponseCache | None = None
    ) -> Article:
        """Return ``article`` in ``target_language``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ImageGenerator(Protocol):
    """Makes a featured image for an article."""

    name: str
    offline: bool

    async def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Return the image that ``request`` describes."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Publisher(Protocol):
    """Writes a finished article somewhere, idempotently by slug and language."""

    name: str

    async def publish(self, request: PublishRequest) -> PublishResult:
        """Create or replace the article of ``request.slug`` in ``request.language``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
