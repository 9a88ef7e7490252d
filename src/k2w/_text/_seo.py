"""SEO analysis of an article: measure the page, run every check, weigh the results."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from k2w._text._keyphrase import count_phrase, phrase_words
from k2w._text._normalize import normalize_text
from k2w._text._outline import HEADING_TAGS, Block, Outline, parse_outline
from k2w._text._seo_checks import CHECKS
from k2w._text._seo_facts import PageFacts
from k2w._text._seo_models import SeoPage, SeoReport
from k2w._text._slug import make_slug

__all__ = ["analyze_seo"]

_SUBHEADING_TAGS = frozenset({"h2", "h3"})
_WEB_SCHEMES = frozenset({"http", "https"})

# Long enough that comparing slugs never cuts one short.
_UNLIMITED_SLUG_LENGTH = 10_000


def analyze_seo(page: SeoPage) -> SeoReport:
    """Run every SEO check on ``page`` and return the checks with their weighted score.

    The checks and their bands are listed in docs/seo.md. Lengths are in characters after
    NFC, word counts follow :func:`count_words`, and the keyphrase matches whole words,
    ignoring case but not accents. NFC and NFD input give the same report.

    >>> page = SeoPage(
    ...     keyphrase="máy lọc không khí", language="vi", title="Máy lọc không khí",
    ...     meta_description="", slug="may-loc-khong-khi", html="<p>Máy lọc không khí.</p>",
    ... )
    >>> [check.id for check in analyze_seo(page).findings][:2]
    ['title_length', 'meta_description_length']
    """
    facts = _measure(page)
    checks = [check(facts) for check in CHECKS]

    total_weight = sum(check.weight for check in checks)
    weighted = sum(check.score * check.weight for check in checks)
    return SeoReport(score=round(weighted / total_weight), checks=checks)


def _measure(page: SeoPage) -> PageFacts:
    language = page.language
    keyphrase = phrase_words(page.keyphrase, language)
    outline = parse_outline(page.html)
    block_words = [phrase_words(block.text, language) for block in outline.blocks]

    def occurrences(text: str) -> int:
        return count_phrase(keyphrase, phrase_words(text, language))

    subheadings = [block for block in outline.blocks if block.tag in _SUBHEADING_TAGS]
    alt_texts = _alt_texts(page, outline)
    internal, outbound = _count_links(outline.links, page.site_host)

    return PageFacts(
        page=page,
        title_length=len(normalize_text(page.title)),
        meta_description_length=len(normalize_text(page.meta_description)),
        keyphrase_word_count=len(keyphrase),
        keyphrase_in_title=occurrences(page.title),
        first_paragraph_occurrences=_first_paragraph_occurrences(outline.blocks, occurrences),
        subheading_count=len(subheadings),
        subheadings_with_keyphrase=sum(1 for block in subheadings if occurrences(block.text)),
        page_slug=_slug_or_empty(page.slug),
        keyphrase_slug=make_slug(page.keyphrase, max_length=_UNLIMITED_SLUG_LENGTH),
        keyphrase_in_meta_description=occurrences(page.meta_description),
        alt_texts=alt_texts,
        alt_texts_with_keyphrase=sum(1 for alt in alt_texts if occurrences(alt)),
        image_count=len(outline.images) + (page.image_alt is not None),
        images_without_alt=_images_without_alt(page, outline),
        total_words=sum(len(words) for words in block_words),
        keyphrase_occurrences=sum(count_phrase(keyphrase, words) for words in block_words),
        h1_count=outline.heading_counts["h1"],
        longest_run_without_subheading=_longest_run_without_subheading(outline.blocks, block_words),
        paragraph_word_counts=[
            len(words)
            for block, words in zip(outline.blocks, block_words, strict=True)
            if block.tag == "p"
        ],
        internal_links=internal,
        outbound_links=outbound,
    )


def _first_paragraph_occurrences(
    blocks: list[Block], occurrences: Callable[[str], int]
) -> int | None:
    # The first <p> counts. An article without one is judged by its first non-heading text.
    paragraphs = [block for block in blocks if block.tag == "p"]
    if not paragraphs:
        paragraphs = [block for block in blocks if block.tag not in HEADING_TAGS]
    if not paragraphs:
        return None
    return occurrences(paragraphs[0].text)


def _slug_or_empty(slug: str) -> str:
    if not normalize_text(slug):
        return ""
    return make_slug(slug, max_length=_UNLIMITED_SLUG_LENGTH)


def _alt_texts(page: SeoPage, outline: Outline) -> list[str]:
    candidates = [page.image_alt] + [image.alt for image in outline.images]
    return [normalize_text(alt) for alt in candidates if alt and normalize_text(alt)]


def _images_without_alt(page: SeoPage, outline: Outline) -> int:
    alts = [image.alt for image in outline.images]
    if page.image_alt is not None:
        alts.append(page.image_alt)
    return sum(1 for alt in alts if not alt or not normalize_text(alt))


def _longest_run_without_subheading(blocks: list[Block], block_words: list[list[str]]) -> int:
    # Only H2 and H3 end a run. Text in other headings neither ends a run nor counts in it.
    longest = 0
    run = 0
    for block, words in zip(blocks, block_words, strict=True):
        if block.tag in _SUBHEADING_TAGS:
            longest = max(longest, run)
            run = 0
        elif block.tag not in HEADING_TAGS:
            run += len(words)
    return max(longest, run)


def _count_links(hrefs: list[str], site_host: str | None) -> tuple[int, int]:
    """Count internal and outbound links; same-page anchors and mailto: count as neither.

    A relative URL is internal. An absolute http(s) URL is internal when its host, without
    a leading "www.", equals ``site_host``, and outbound otherwise. Subdomains of the site
    count as outbound.
    """
    internal = 0
    outbound = 0
    for href in hrefs:
        url = urlsplit(href.strip())
        if not url.scheme and not url.netloc:
            if url.path or url.query:
                internal += 1
            continue

        if url.scheme and url.scheme.lower() not in _WEB_SCHEMES:
            continue

        host = (url.hostname or "").removeprefix("www.")
        if site_host is not None and host == site_host:
            internal += 1
        else:
            outbound += 1

    return internal, outbound
