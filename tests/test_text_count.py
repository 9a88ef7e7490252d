"""Word splitting and word and syllable counts."""

from __future__ import annotations

import unicodedata

import pytest

from k2w._errors import InvalidInputError
from k2w._text import count_syllables, count_words, split_words


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("máy lọc không khí cho phòng ngủ", "vi", 7),
        ("Máy lọc — không khí!!! (cho) phòng ngủ...", "vi", 7),
        ("du lịch Đà Lạt tự túc 3 ngày 2 đêm", "vi", 10),
        ("Phở bò 🍜 Hà Nội", "vi", 4),
        ("  ", "vi", 0),
        ("- … ! ?", "en", 0),
        ("best air purifier for bedroom", "en", 5),
        ("don't over-think it", "en", 3),
        ("東京タワー", "ja", 5),
        ("서울 시내 관광", "ko", 3),
    ],
)
def test_count_words_table(text: str, language: str, expected: int) -> None:
    assert count_words(text, language) == expected
    assert count_words(nfd(text), language) == expected


def test_count_words_equals_syllables_for_vietnamese() -> None:
    text = "Chọn máy lọc không khí theo diện tích phòng, độ ồn và chi phí màng lọc."

    assert count_words(text, "vi") == count_syllables(text, "vi")
    assert count_words(text, "vi") == 16


def test_split_words_vietnamese_hyphen_separates() -> None:
    assert split_words("Mát-xcơ-va", "vi") == ["Mát", "xcơ", "va"]


def test_split_words_english_hyphen_joins() -> None:
    assert split_words("e-mail and Wi-Fi", "en") == ["e-mail", "and", "Wi-Fi"]


def test_split_words_keeps_decimal_numbers() -> None:
    assert split_words("1,5 triệu và 99,97% bụi, 3.14", "vi") == [
        "1,5",
        "triệu",
        "và",
        "99,97",
        "bụi",
        "3.14",
    ]


def test_split_words_drops_trailing_separators() -> None:
    assert split_words("end. 2024, next-", "en") == ["end", "2024", "next"]


def test_split_words_returns_nfc() -> None:
    words = split_words(nfd("Hà Nội"), "vi")

    assert words == ["Hà", "Nội"]
    assert all(unicodedata.is_normalized("NFC", word) for word in words)


def test_split_words_keeps_thai_marks() -> None:
    assert split_words("ภาษาไทย ง่าย", "th") == ["ภาษาไทย", "ง่าย"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("make", 1),
        ("table", 2),
        ("coffee", 2),
        ("jumped", 1),
        ("wanted", 2),
        ("makes", 1),
        ("boxes", 2),
        ("people", 2),
        ("beautiful", 3),
        ("yes", 1),
        ("the", 1),
        ("2024", 1),
    ],
)
def test_count_syllables_english_words(word: str, expected: int) -> None:
    assert count_syllables(word, "en") == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("máy lọc không khí", "vi", 4),
        ("Mát-xcơ-va", "vi", 3),
        ("purificateur", "fr", 5),
        ("Luftreiniger", "de", 4),
        ("東京タワー", "ja", 5),
        ("北京", "zh", 2),
        ("서울 시내", "ko", 4),
        ("ภาษาไทย", "th", 1),
    ],
)
def test_count_syllables_table(text: str, language: str, expected: int) -> None:
    assert count_syllables(text, language) == expected
    assert count_syllables(nfd(text), language) == expected


def test_count_syllables_ignores_punctuation() -> None:
    assert count_syllables("— máy, lọc! 🍜", "vi") == 2


@pytest.mark.parametrize("function", [count_words, count_syllables, split_words])
def test_counts_reject_unknown_language(function: object) -> None:
    assert callable(function)
    with pytest.raises(InvalidInputError, match="unsupported language 'xx'"):
        function("text", "xx")


def test_count_words_accepts_upper_case_language() -> None:
    assert count_words("Mát-xcơ-va", "VI") == 3
