"""Data exchanged with providers: article requests, articles, images, publish results."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Article",
    "ArticleRequest",
    "GeneratedImage",
    "ImageRequest",
    "PublishRequest",
    "PublishResult",
    "Section",
    "Usage",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Model):
    """Tokens, time and estimated cost of the provider calls behind one result."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    model: str | None = None
    cached_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_s=self.latency_s + other.latency_s,
            cost_usd=self.cost_usd + other.cost_usd,
            model=self.model or other.model,
            cached_calls=self.cached_calls + other.cached_calls,
        )


class ArticleRequest(_Model):
    """The request the content stage sends a text provider."""

    keyword: str
    language: str
    slug: str
    outline: list[str] = Field(default_factory=list)
    min_words: int = 600


class Section(_Model):
    """One H2 section of an article; ``html`` is its body without the heading."""

    heading: str
    html: str


class Article(_Model):
    """An article as written (or translated) by a text provider."""

    keyword: str
    language: str
    title: str
    meta_description: str
    sections: list[Section]
    intro_html: str = ""
    generator: str
    offline: bool = False
    translated_from: str | None = None
    untranslated: bool = False
    usage: Usage = Field(default_factory=Usage)

    @property
    def html(self) -> str:
        """The body as HTML: the intro, then each section under an ``<h2>``."""
        parts = [self.intro_html] if self.intro_html else []
        for section in self.sections:
            parts.append(f"<h2>{_escape(section.heading)}</h2>\n{section.html}")
        return "\n".join(parts)


class ImageRequest(_Model):
    """The request the images stage sends an image provider."""

    keyword: str
    title: str
    slug: str
    language: str
    size: str = "1024x1024"


class GeneratedImage(_Model):
    """An image's bytes and what describes it."""

    data: bytes
    media_type: Literal["image/png", "image/jpeg", "image/webp", "image/svg+xml"]
    alt_text: str
    generator: str
    offline: bool = False
    usage: Usage = Field(default_factory=Usage)

    @property
    def extension(self) -> str:
        """The file extension for :attr:`media_type`, without the dot."""
        return {
            "image/png": "png",
            "image/jpeg": "jpg",
            "image/webp": "webp",
            "image/svg+xml": "svg",
        }[self.media_type]


class PublishRequest(_Model):
    """One article in one language, ready to publish."""

    run_id: str
    keyword: str
    language: str
    slug: str
    title: str
    meta_description: str
    html: str
    image: GeneratedImage | None = None
    image_alt: str | None = None
    tags: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    status: Literal["draft", "publish", "future"] = "draft"
    date: str | None = None
    seo_meta: dict[str, str] = Field(default_factory=dict)
    offline: bool = False
    generator: str | None = None


class PublishResult(_Model):
    """The outcome of one publish: where the article went and which fields were not stored."""

    publisher: str
    language: str
    slug: str
    location: str
    created: bool
    image_location: str | None = None
    files: list[str] = Field(default_factory=list)
    remote_id: int | None = None
    unsaved_fields: list[str] = Field(default_factory=list)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
