"""The input and output models of the SEO analysis."""

from __future__ import annotations

import unicodedata
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from k2w._errors import InvalidInputError
from k2w._text._count import split_words
from k2w._text._language import validate_language
from k2w._text._normalize import normalize_text

__all__ = ["CheckStatus", "SeoCheck", "SeoPage", "SeoReport"]

CheckStatus = Literal["good", "ok", "bad"]
"""Outcome of one SEO check: ``"good"`` meets the target, ``"ok"`` is acceptable but could
be better, ``"bad"`` needs fixing."""


class SeoPage(BaseModel):
    """An article as input to the SEO analysis.

    Every text field is stored in NFC, so NFC and NFD input give the same report. Invalid
    fields raise :class:`pydantic.ValidationError`, which is a ``ValueError``.
    """

    model_config = ConfigDict(frozen=True)

    keyphrase: str = Field(description="The focus keyphrase, usually the article's keyword.")
    language: str = Field(description="Language code of the article, such as 'vi'.")
    title: str = Field(description="The SEO title, as shown in search results.")
    meta_description: str = Field(description="The meta description.")
    slug: str = Field(description="The URL slug of the article.")
    html: str = Field(description="The article body as HTML, without the title.")
    image_alt: str | None = Field(
        default=None, description="Alt text of the featured image, if the article has one."
    )
    site_host: str | None = Field(
        default=None,
        description="Host name of the site ('example.com'). Links to it count as internal. "
        "Without it, only relative links are internal.",
    )

    @field_validator("title", "meta_description", "slug", "html", "image_alt")
    @classmethod
    def _compose(cls, value: str | None) -> str | None:
        return None if value is None else unicodedata.normalize("NFC", value)

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        return validate_language(value)

    @field_validator("keyphrase")
    @classmethod
    def _check_keyphrase(cls, value: str) -> str:
        keyphrase = normalize_text(value)
        if not split_words(keyphrase, "en"):
            raise InvalidInputError(
                f"keyphrase {value!r} contains no words; pass the article's main keyword"
            )
        return keyphrase

    @field_validator("site_host")
    @classmethod
    def _check_site_host(cls, value: str | None) -> str | None:
        if value is None:
            return None

        text = value.strip()
        url = text if "://" in text else "//" + text
        host = urlsplit(url).hostname
        if not host:
            raise InvalidInputError(
                f"site_host {value!r} has no host name; pass a host such as 'example.com'"
            )
        return host.removeprefix("www.")


class SeoCheck(BaseModel):
    """The result of one SEO check."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable snake_case name of the check, such as 'title_length'.")
    status: CheckStatus
    score: int = Field(ge=0, le=100, description="100 for good, 50 for ok, 0 for bad.")
    weight: int = Field(ge=1, description="Weight of this check in the report's score.")
    value: int | float | None = Field(
        description="The measured number (a length, count or percentage), or None for "
        "a yes-or-no check."
    )
    message_en: str = Field(description="What was measured and what to aim for, in English.")
    message_vi: str = Field(description="The same message in Vietnamese.")


class SeoReport(BaseModel):
    """The result of :func:`analyze_seo`: an overall score and every check."""

    model_config = ConfigDict(frozen=True)

    score: int = Field(ge=0, le=100, description="Weighted mean of the check scores, rounded.")
    checks: list[SeoCheck]

    @property
    def findings(self) -> list[SeoCheck]:
        """The checks whose status is not ``"good"``, in report order."""
        return [check for check in self.checks if check.status != "good"]
