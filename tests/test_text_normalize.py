"""Normalising text, de-duplication keys and keyword validation."""

from __future__ import annotations

import re
import unicodedata

import pytest

from k2w._errors import InvalidInputError
from k2w._text import (
    MAX_KEYWORD_LENGTH,
    InvalidKeywordError,
    keyword_key,
    normalize_text,
    validate_keyword,
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  máy lọc  ", "máy lọc"),
        ("máy\tlọc\nkhông\r\nkhí", "máy lọc không khí"),
        ("máy\u00a0lọc\u3000khí\u2003x", "máy lọc khí x"),
        ("", ""),
        (" \t\n ", ""),
    ],
)
def test_normalize_text_collapses_whitespace(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_composes_nfd() -> None:
    result = normalize_text(nfd("Đà Lạt"))

    assert result == "Đà Lạt"
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    ("old_style", "new_style"),
    [
        ("hòa", "hoà"),
        ("thủy", "thuỷ"),
        ("khỏe", "khoẻ"),
        ("hóa", "hoá"),
        ("Thúy", "Thuý"),
        ("họa sĩ", "hoạ sĩ"),
        ("ủy ban", "uỷ ban"),
        ("Hòa Bình", "hoà bình"),
        ("sức khỏe tốt", "Sức Khoẻ Tốt"),
    ],
)
def test_keyword_key_merges_tone_styles(old_style: str, new_style: str) -> None:
    assert keyword_key(old_style) == keyword_key(new_style)
    assert keyword_key(nfd(old_style)) == keyword_key(new_style)
    assert keyword_key(old_style) == keyword_key(nfd(new_style))


def test_keyword_key_uses_newer_placement() -> None:
    assert keyword_key("hòa") == "hoà"
    assert keyword_key("thủy") == "thuỷ"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("hoa", "hòa"),
        ("ho", "hồ"),
        ("may loc", "máy lọc"),
        ("thuy", "thủy"),
    ],
)
def test_keyword_key_keeps_accents(first: str, second: str) -> None:
    assert keyword_key(first) != keyword_key(second)


@pytest.mark.parametrize("word", ["hoàng", "toán", "khuyến", "ngoài", "xoáy", "quý"])
def test_keyword_key_leaves_same_style_syllables(word: str) -> None:
    assert keyword_key(word) == word


def test_keyword_key_folds_case_and_spacing() -> None:
    assert keyword_key("  Máy   LỌC không\tkhí ") == "máy lọc không khí"


def test_keyword_key_is_nfc() -> None:
    key = keyword_key(nfd("Thủy Điện Hòa Bình"))

    assert unicodedata.is_normalized("NFC", key)
    assert key == "thuỷ điện hoà bình"


def test_validate_keyword_returns_normalized() -> None:
    assert validate_keyword("  máy  lọc\nkhông khí ") == "máy lọc không khí"
    assert validate_keyword(nfd("Đà Lạt")) == "Đà Lạt"


def test_validate_keyword_rejects_non_string() -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword(42)

    assert "int" in str(caught.value)
    assert caught.value.reason == "not_a_string"
    assert "int" in caught.value.message_vi


def test_validate_keyword_error_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        validate_keyword(None)
    with pytest.raises(ValueError, match="empty"):
        validate_keyword("")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\u00a0\u3000"])
def test_validate_keyword_rejects_blank(blank: str) -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword(blank)

    assert caught.value.reason == "empty"
    assert "empty" in str(caught.value)


def test_validate_keyword_accepts_max_length() -> None:
    keyword = "a" * MAX_KEYWORD_LENGTH

    assert validate_keyword(keyword) == keyword


def test_validate_keyword_rejects_too_long() -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword("á" * (MAX_KEYWORD_LENGTH + 1))

    message = str(caught.value)
    assert caught.value.reason == "too_long"
    assert str(MAX_KEYWORD_LENGTH + 1) in message
    assert str(MAX_KEYWORD_LENGTH) in message
    assert "201" in caught.value.message_vi


def test_validate_keyword_counts_length_after_nfc() -> None:
    # 200 letters with tone marks are 400 code points in NFD but 200 characters in NFC.
    keyword = nfd("ộ" * MAX_KEYWORD_LENGTH)

    assert validate_keyword(keyword) == "ộ" * MAX_KEYWORD_LENGTH


def test_validate_keyword_length_ignores_extra_spaces() -> None:
    keyword = "  " + "a" * MAX_KEYWORD_LENGTH + "  "

    assert validate_keyword(keyword) == "a" * MAX_KEYWORD_LENGTH


@pytest.mark.parametrize(
    ("keyword", "code", "position"),
    [
        ("máy\x00lọc", "U+0000", "character 4"),
        ("\x07bell", "U+0007", "character 1"),
        ("lọc\x1f", "U+001F", "character 4"),
        ("abc\x7f", "U+007F", "character 4"),
        ("x\x85y", "U+0085", "character 2"),
    ],
)
def test_validate_keyword_rejects_control_character(keyword: str, code: str, position: str) -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword(keyword)

    message = str(caught.value)
    assert caught.value.reason == "control_character"
    assert code in message
    assert position in message
    assert code in caught.value.message_vi


def test_validate_keyword_rejects_lone_surrogate() -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword("abc\ud800")

    assert caught.value.reason == "lone_surrogate"
    assert "U+D800" in str(caught.value)


def test_validate_keyword_prefixes_index() -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword("   ", index=3)

    assert str(caught.value).startswith("keyword 3: ")
    assert caught.value.message_vi.startswith("từ khóa 3: ")
    assert caught.value.index == 3


def test_validate_keyword_no_index_prefix() -> None:
    with pytest.raises(InvalidKeywordError) as caught:
        validate_keyword("")

    assert re.match(r"keyword \d+: ", str(caught.value)) is None
    assert caught.value.index is None
