"""Normalisation, de-duplication keys and validation for keywords.

Vietnamese has two accepted ways to place the tone mark in the vowel pairs "oa", "oe" and
"uy" at the end of a syllable. The older style puts it on the first vowel ("hòa", "khỏe",
"thủy"), and the newer style on the second ("hoà", "khoẻ", "thuỷ"). Both spell the same word,
so :func:`keyword_key` rewrites the older style into the newer one.
"""

from __future__ import annotations

import re
import unicodedata

from k2w._errors import InvalidInputError

__all__ = [
    "MAX_KEYWORD_LENGTH",
    "InvalidKeywordError",
    "canonical_tone_placement",
    "keyword_key",
    "normalize_text",
    "validate_keyword",
]

MAX_KEYWORD_LENGTH = 200
"""Maximum length of a keyword in characters, counted after NFC normalisation."""

# Tab, line feed, vertical tab, form feed and carriage return arrive from pasted text and
# text areas, so they are read as spaces. Every other C0 or C1 control character is rejected.
_WHITESPACE_CONTROLS = frozenset("\t\n\v\f\r")

# The five Vietnamese tone marks as combining characters: grave, acute, tilde, hook above
# and dot below.
_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"

# In NFD text: a syllable made of an optional consonant onset and one of the pairs "oa",
# "oe" or "uy" with the tone mark on the first vowel, with no letter or mark after it.
# "đ" has no decomposition, so it appears as itself in NFD text.
_OLD_STYLE_SYLLABLE = re.compile(
    rf"(?<![\w\u0300-\u036f])"
    rf"(?P<onset>[bcdfghklmnpqrstvxđ]*)"
    rf"(?P<pair>o(?P<tone_oa>[{_TONE_MARKS}])[ae]|u(?P<tone_uy>[{_TONE_MARKS}])y)"
    rf"(?![\w\u0300-\u036f])"
)


class InvalidKeywordError(InvalidInputError):
    """A keyword that :func:`validate_keyword` rejected.

    ``str(error)`` is the English message. ``message_vi`` carries the same message in
    Vietnamese for showing to the person who typed the keyword, ``reason`` is a stable code
    (``"not_a_string"``, ``"empty"``, ``"too_long"``, ``"control_character"``,
    ``"lone_surrogate"``) and ``index`` is the index that was passed in, if any.
    """

    def __init__(self, message_en: str, *, message_vi: str, reason: str, index: int | None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_vi = message_vi
        self.reason = reason
        self.index = index


def normalize_text(text: str) -> str:
    """Return ``text`` in NFC with each run of Unicode whitespace made one space, stripped.

    >>> normalize_text("  Máy\\u00a0lọc\\n không   khí ")
    'Máy lọc không khí'
    """
    composed = unicodedata.normalize("NFC", text)
    return " ".join(composed.split())


def canonical_tone_placement(text: str) -> str:
    """Move tone marks in final "oa", "oe" and "uy" onto the second vowel, returning NFC.

    The text should already be lower case. Syllables with a final consonant ("hoàn",
    "khuyết") are written the same way in both styles and are left alone.

    >>> canonical_tone_placement("hòa bình")
    'hoà bình'
    """
    decomposed = unicodedata.normalize("NFD", text)
    rewritten = _OLD_STYLE_SYLLABLE.sub(_move_tone_to_second_vowel, decomposed)
    return unicodedata.normalize("NFC", rewritten)


def _move_tone_to_second_vowel(match: re.Match[str]) -> str:
    tone = match.group("tone_oa") or match.group("tone_uy")
    pair = match.group("pair").replace(tone, "")
    return match.group("onset") + pair + tone


def keyword_key(text: str) -> str:
    """Return the key under which two keywords count as duplicates.

    The key is :func:`normalize_text`, then ``str.casefold``, then the newer tone mark
    placement, so "Hòa Bình", "hoà  bình" and their NFD forms share one key. Accents are
    otherwise kept: "hoa" and "hòa" stay different.

    >>> keyword_key("Sức  KHỎE") == keyword_key("sức khoẻ")
    True
    """
    folded = normalize_text(text).casefold()
    return canonical_tone_placement(folded)


def validate_keyword(text: object, *, index: int | None = None) -> str:
    """Return the keyword normalised by :func:`normalize_text`, or raise if it is invalid.

    A keyword must be a ``str``, must not be blank, must be at most
    :data:`MAX_KEYWORD_LENGTH` characters long after normalising, and must not contain
    control characters other than whitespace, nor lone surrogates. ``index`` is the
    keyword's position in the caller's list, shown as given at the start of the message
    ("keyword 3: ...").

    Raises:
        InvalidKeywordError: an :class:`~k2w._errors.InvalidInputError` whose message names
            the problem, the value and the fix, in English and in ``message_vi``.
    """
    prefix_en = "" if index is None else f"keyword {index}: "
    prefix_vi = "" if index is None else f"từ khóa {index}: "

    if not isinstance(text, str):
        type_name = type(text).__name__
        raise InvalidKeywordError(
            f"{prefix_en}expected a keyword as str, got {type_name}; pass the keyword as text",
            message_vi=f"{prefix_vi}từ khóa phải là chuỗi (str), nhận được {type_name}; "
            "hãy truyền từ khóa dưới dạng văn bản",
            reason="not_a_string",
            index=index,
        )

    _reject_invisible_characters(text, index, prefix_en, prefix_vi)
    normalized = normalize_text(text)

    if not normalized:
        raise InvalidKeywordError(
            f"{prefix_en}keyword is empty or only whitespace ({text!r}); "
            "remove it or type some words",
            message_vi=f"{prefix_vi}từ khóa trống hoặc chỉ có khoảng trắng ({text!r}); "
            "hãy xóa nó hoặc nhập nội dung",
            reason="empty",
            index=index,
        )

    if len(normalized) > MAX_KEYWORD_LENGTH:
        length = len(normalized)
        raise InvalidKeywordError(
            f"{prefix_en}keyword is {length} characters long, over the limit of "
            f"{MAX_KEYWORD_LENGTH} ({normalized[:40]!r}...); shorten it",
            message_vi=f"{prefix_vi}từ khóa dài {length} ký tự, vượt giới hạn "
            f"{MAX_KEYWORD_LENGTH} ký tự ({normalized[:40]!r}...); hãy rút ngắn",
            reason="too_long",
            index=index,
        )

    return normalized


def _reject_invisible_characters(
    text: str, index: int | None, prefix_en: str, prefix_vi: str
) -> None:
    for offset, char in enumerate(text):
        category = unicodedata.category(char)
        position = offset + 1

        if category == "Cc" and char not in _WHITESPACE_CONTROLS:
            raise InvalidKeywordError(
                f"{prefix_en}keyword contains the control character U+{ord(char):04X} at "
                f"character {position} ({text!r}); remove it",
                message_vi=f"{prefix_vi}từ khóa chứa ký tự điều khiển U+{ord(char):04X} ở vị "
                f"trí ký tự {position} ({text!r}); hãy xóa ký tự này",
                reason="control_character",
                index=index,
            )

        if category == "Cs":
            raise InvalidKeywordError(
                f"{prefix_en}keyword contains the lone surrogate U+{ord(char):04X} at "
                f"character {position}, which cannot be stored as UTF-8; "
                "decode the source text correctly",
                message_vi=f"{prefix_vi}từ khóa chứa ký tự thay thế đơn lẻ U+{ord(char):04X} "
                f"ở vị trí ký tự {position}, không thể lưu dưới dạng UTF-8; "
                "hãy giải mã văn bản nguồn cho đúng",
                reason="lone_surrogate",
                index=index,
            )
