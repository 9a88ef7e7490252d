"""Typed inputs and outputs of the seven stages; a stage's stored output is its checkpoint."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._providers._models import Article, PublishResult, Usage

__all__ = [
    "KEYWORD_STAGES",
    "STAGES",
    "STAGE_WEIGHTS",
    "ImageResult",
    "KeywordPlan",
    "KeywordsResult",
    "PublishingResult",
    "RunOptions",
    "SeoResult",
    "Stage",
    "TranslationResult",
    "job_id",
    "queue_name",
]

Stage = Literal["keywords", "content", "images", "seo", "translation", "publishing", "analytics"]

STAGES: tuple[Stage, ...] = (
    "keywords",
    "content",
    "images",
    "seo",
    "translation",
    "publishing",
    "analytics",
)
#: The stages that run once per keyword, in order; ``keywords`` and ``analytics`` run once
#: per run.
KEYWORD_STAGES: tuple[Stage, ...] = ("content", "images", "seo", "translation", "publishing")

#: Share of a run's progress bar per stage, in percent. The per-keyword shares are split
#: evenly between the keywords. Writing dominates the time with a real LLM, so it has the
#: largest share.
STAGE_WEIGHTS: dict[Stage, float] = {
    "keywords": 5.0,
    "content": 40.0,
    "images": 15.0,
    "seo": 5.0,
    "translation": 20.0,
    "publishing": 10.0,
    "analytics": 5.0,
}


def queue_name(stage: Stage) -> str:
    """Return the queue a stage's jobs run on."""
    return f"k2w.{stage}"


def job_id(run_id: str, stage: Stage, index: int | None = None) -> str:
    """Return the deterministic id of a stage's job, which makes a re-plan idempotent."""
    return f"{run_id}.{stage}" if index is None else f"{run_id}.{index}.{stage}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunOptions(_Model):
    """Options a run was submitted with, stored with the run."""

    languages: list[str] = Field(default_factory=list)
    source_language: str | None = None
    locale: Literal["en", "vi"] = "en"
    priority: int = 100
    publish_status: Literal["draft", "publish"] = "draft"


class KeywordPlan(_Model):
    """One keyword as the keywords stage planned it."""

    index: int
    keyword: str
    slug: str
    language: str
    languages: list[str]
    outline: list[str] = Field(default_factory=list)


class KeywordsResult(_Model):
    """Output of the keywords stage."""

    plans: list[KeywordPlan]
    duplicates: list[str] = Field(default_factory=list)


class ImageResult(_Model):
    """Output of the images stage: an image, or the reason there is none."""

    data_b64: str | None = None
    media_type: str | None = None
    alt_text: str | None = None
    generator: str | None = None
    offline: bool = False
    skipped: bool = False
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)


class SeoResult(_Model):
    """Output of the seo stage: the sanitised article and its SEO report."""

    title: str
    meta_description: str
    slug: str
    html: str
    score: int
    report: dict[str, Any]


class TranslationResult(_Model):
    """Output of the translation stage: the article per target language."""

    articles: dict[str, Article] = Field(default_factory=dict)
    html: dict[str, str] = Field(default_factory=dict)


class PublishingResult(_Model):
    """Output of the publishing stage: one result per language."""

    results: list[PublishResult]
