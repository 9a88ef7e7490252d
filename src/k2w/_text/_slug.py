"""ASCII slugs for Vietnamese and other text, built on python-slugify."""

from __future__ import annotations

import hashlib

from slugify import slugify

from k2w._errors import InvalidInputError
from k2w._text._normalize import normalize_text

__all__ = ["FALLBACK_SLUG_PREFIX", "make_slug"]

FALLBACK_SLUG_PREFIX = "k-"
"""Start of the hash-based slug used when text has no letters or digits that slugify keeps."""

_FALLBACK_HASH_LENGTH = 8
_MIN_SLUG_LENGTH = len(FALLBACK_SLUG_PREFIX) + _FALLBACK_HASH_LENGTH

# text-unidecode 1.3 already maps "đ" to "d", but NFKD does not decompose it, so the
# mapping is made explicit here rather than left to the transliteration table. python-slugify
# drops the typographic apostrophe but turns the ASCII one into a separator ("it-s").
_REPLACEMENTS = (("Đ", "D"), ("đ", "d"), ("'", ""))


def make_slug(text: str, *, max_length: int = 80) -> str:
    """Return a lower-case ASCII slug of ``text``, words joined by ``-``.

    Tone marks and other accents are dropped ("Đà Lạt" gives "da-lat"), as are emoji and
    punctuation. Other scripts are transliterated by text-unidecode ("東京" gives
    "dong-jing"). A slug longer than ``max_length`` is cut at the last whole word that
    fits. NFC and NFD input give the same slug.

    When nothing is left (for example text made only of emoji), the slug is
    ``"k-"`` followed by the first 8 hex digits of the SHA-256 of the normalised text, so it
    is never empty and is stable across runs.

    >>> make_slug("Du lịch Đà Lạt 🌸")
    'du-lich-da-lat'

    Raises:
        InvalidInputError: ``text`` is blank, or ``max_length`` is below 10, the length
            of the fallback slug.
    """
    if max_length < _MIN_SLUG_LENGTH:
        raise InvalidInputError(
            f"max_length={max_length} is too small for a slug; "
            f"pass at least {_MIN_SLUG_LENGTH}, the length of the fallback slug"
        )

    normalized = normalize_text(text)
    if not normalized:
        raise InvalidInputError(
            f"cannot make a slug from blank text ({text!r}); pass text with at least one word"
        )

    slug = slugify(
        normalized,
        max_length=max_length,
        word_boundary=True,
        save_order=True,
        replacements=_REPLACEMENTS,
    )
    if slug:
        return slug

    return _fallback_slug(normalized)


def _fallback_slug(normalized: str) -> str:
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
    return FALLBACK_SLUG_PREFIX + digest[:_FALLBACK_HASH_LENGTH]
