"""Measurements, bands and weights shared by the SEO checks, and how a check is built."""

from __future__ import annotations

from dataclasses import dataclass

from k2w._text._seo_models import CheckStatus, SeoCheck, SeoPage

__all__ = [
    "KEYPHRASE_DENSITY",
    "META_DESCRIPTION_LENGTH",
    "PARAGRAPH_WORDS",
    "SUBHEADING_DISTANCE",
    "TITLE_LENGTH",
    "WEIGHTS",
    "Band",
    "PageFacts",
    "format_number_en",
    "format_number_vi",
    "make_check",
    "pluralize",
]


_STATUS_SCORES: dict[CheckStatus, int] = {"good": 100, "ok": 50, "bad": 0}

WEIGHTS: dict[str, int] = {
    "title_length": 3,
    "meta_description_length": 2,
    "keyphrase_in_title": 3,
    "keyphrase_in_first_paragraph": 2,
    "keyphrase_in_subheading": 1,
    "keyphrase_in_slug": 2,
    "keyphrase_in_meta_description": 2,
    "keyphrase_in_image_alt": 1,
    "keyphrase_density": 2,
    "single_h1": 1,
    "subheading_distribution": 1,
    "paragraph_length": 1,
    "image_alt_text": 1,
    "internal_links": 1,
    "outbound_links": 1,
}
"""Weight of each check in the report's score, in report order."""


@dataclass(frozen=True)
class Band:
    """Ranges of a measured value: inside ``good`` is good, inside ``ok`` is ok, else bad."""

    good_min: float
    good_max: float
    ok_min: float
    ok_max: float

    def status(self, value: float) -> CheckStatus:
        """Return the status of ``value`` in this band."""
        if self.good_min <= value <= self.good_max:
            return "good"
        if self.ok_min <= value <= self.ok_max:
            return "ok"
        return "bad"


TITLE_LENGTH = Band(good_min=30, good_max=60, ok_min=20, ok_max=70)
META_DESCRIPTION_LENGTH = Band(good_min=120, good_max=156, ok_min=80, ok_max=170)
KEYPHRASE_DENSITY = Band(good_min=0.5, good_max=3.0, ok_min=0.25, ok_max=4.0)
SUBHEADING_DISTANCE = Band(good_min=0, good_max=300, ok_min=0, ok_max=350)
PARAGRAPH_WORDS = Band(good_min=0, good_max=150, ok_min=0, ok_max=200)


@dataclass(frozen=True)
class PageFacts:
    """Measurements of one page that the checks read.

    Word counts follow ``split_words`` and counts of keyphrase matches follow
    ``count_phrase``. ``first_paragraph_occurrences`` is ``None`` when the page has no text
    outside headings.
    """

    page: SeoPage
    title_length: int
    meta_description_length: int
    keyphrase_word_count: int
    keyphrase_in_title: int
    first_paragraph_occurrences: int | None
    subheading_count: int
    subheadings_with_keyphrase: int
    page_slug: str
    keyphrase_slug: str
    keyphrase_in_meta_description: int
    alt_texts: list[str]
    alt_texts_with_keyphrase: int
    image_count: int
    images_without_alt: int
    total_words: int
    keyphrase_occurrences: int
    h1_count: int
    longest_run_without_subheading: int
    paragraph_word_counts: list[int]
    internal_links: int
    outbound_links: int


def make_check(
    check_id: str, status: CheckStatus, value: float | None, message_en: str, message_vi: str
) -> SeoCheck:
    """Build a check, taking its score from ``status`` and its weight from :data:`WEIGHTS`."""
    return SeoCheck(
        id=check_id,
        status=status,
        score=_STATUS_SCORES[status],
        weight=WEIGHTS[check_id],
        value=value,
        message_en=message_en,
        message_vi=message_vi,
    )


def format_number_en(value: float) -> str:
    """Format ``value`` without trailing zeros: 0.5, 2.88, 3."""
    return f"{value:g}"


def format_number_vi(value: float) -> str:
    """Format ``value`` with the decimal comma that Vietnamese uses: 0,5, 2,88, 3."""
    return f"{value:g}".replace(".", ",")


def pluralize(count: int, singular: str, plural: str) -> str:
    """Return ``count`` followed by the singular or plural English noun."""
    return f"{count} {singular if count == 1 else plural}"
