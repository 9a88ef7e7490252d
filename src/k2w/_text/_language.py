"""Supported languages and a heuristic that separates Vietnamese keywords from English ones."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from k2w._errors import InvalidInputError

__all__ = ["SUPPORTED_LANGUAGES", "detect_language", "validate_language"]

SUPPORTED_LANGUAGES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "de": ("German", "Tiếng Đức"),
        "en": ("English", "Tiếng Anh"),
        "es": ("Spanish", "Tiếng Tây Ban Nha"),
        "fr": ("French", "Tiếng Pháp"),
        "id": ("Indonesian", "Tiếng Indonesia"),
        "ja": ("Japanese", "Tiếng Nhật"),
        "ko": ("Korean", "Tiếng Hàn"),
        "th": ("Thai", "Tiếng Thái"),
        "vi": ("Vietnamese", "Tiếng Việt"),
        "zh": ("Chinese", "Tiếng Trung"),
    }
)
"""Language codes (ISO 639-1) that k2w plans, writes and translates for, each mapped to
its name in English and in Vietnamese."""

# Letters that only Vietnamese uses among the Latin-script languages: "đ", the breve and
# horn vowels, and every precomposed letter of the Latin Extended Additional block that
# Vietnamese needs (U+1EA0 to U+1EF9: "ạ", "ả", "ấ", "ộ", "ữ", "ỹ" and the rest).
_VIETNAMESE_ONLY = re.compile("[đĐăĂơƠưƯĩĨũŨ\u1ea0-\u1ef9]")

# Accented letters that Vietnamese shares with French, Portuguese or Spanish ("à", "é",
# "ê", "ô"...). A word with one of them points to Vietnamese only if it is also shaped like
# a Vietnamese syllable.
_SHARED_ACCENTED = frozenset("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")

_WORD = re.compile(r"[^\W\d_]+")

# One Vietnamese syllable with its accents removed: an optional onset, one to three vowels
# and an optional final consonant. "cafe", "resume" and "cancion" do not fit.
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
    r"[aeiouy]{1,3}"
    r"(?:ch|ng|nh|[cmnpt])?"
)


def detect_language(text: str) -> str:
    """Return ``"vi"`` if ``text`` looks Vietnamese, else ``"en"``.

    This is a heuristic for keyword planning, not general language identification. After
    NFC, the text counts as Vietnamese when it contains a letter that only Vietnamese uses
    ("đ", "ơ", "ư", "ă", "ạ", "ộ"...). Otherwise, every word with an accent must use only
    accents that Vietnamese shares with other languages ("à", "é", "ê"...) and be shaped
    like a Vietnamese syllable. Then the text counts as Vietnamese when there are at least
    two such words or they make up at least half of the words.

    So "cà phê" and "bánh mì" give ``"vi"``, while "café", "résumé" and "à la carte" give
    ``"en"``. Known misses: short Spanish or Portuguese phrases like "sí" or "São Paulo" give
    ``"vi"``, and Vietnamese
    typed without accents ("du lich da lat") and every non-Latin script give ``"en"``.

    >>> detect_language("du lịch Đà Lạt")
    'vi'
    """
    composed = unicodedata.normalize("NFC", text)

    if _VIETNAMESE_ONLY.search(composed):
        return "vi"

    words = _WORD.findall(composed)
    accented = [word for word in words if not word.isascii()]
    if not accented:
        return "en"

    if not all(_is_vietnamese_shaped(word) for word in accented):
        return "en"

    if len(accented) >= 2 or len(accented) * 2 >= len(words):
        return "vi"
    return "en"


def _is_vietnamese_shaped(word: str) -> bool:
    if any(not char.isascii() and char not in _SHARED_ACCENTED for char in word):
        return False

    decomposed = unicodedata.normalize("NFD", word.casefold())
    base = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SYLLABLE.fullmatch(base) is not None


def validate_language(code: object) -> str:
    """Return ``code`` in lower case if it is a key of :data:`SUPPORTED_LANGUAGES`.

    Surrounding whitespace is ignored, so ``" VI "`` gives ``"vi"``.

    Raises:
        InvalidInputError: ``code`` is not a string, or not a supported language; the
            message lists the supported codes.
    """
    supported = ", ".join(sorted(SUPPORTED_LANGUAGES))

    if not isinstance(code, str):
        raise InvalidInputError(
            f"expected a language code as str, got {type(code).__name__}; pass one of: {supported}"
        )

    normalized = code.strip().lower()
    if normalized not in SUPPORTED_LANGUAGES:
        raise InvalidInputError(f"unsupported language {code!r}; pass one of: {supported}")

    return normalized
