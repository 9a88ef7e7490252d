"""Language codes and the Vietnamese detection heuristic."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from k2w._errors import InvalidInputError
from k2w._text import SUPPORTED_LANGUAGES, detect_language, validate_language

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    "text",
    [
        "du lịch Đà Lạt",
        "phở",
        "cà phê",
        "bánh mì",
        "cách pha cà phê phin ngon",
        "kinh nghiem mua laptop cũ",
        "ĐỖ THỊ LẬP",
        "Hà Giang",
    ],
)
def test_detect_language_vietnamese(text: str) -> None:
    assert detect_language(text) == "vi"
    assert detect_language(unicodedata.normalize("NFD", text)) == "vi"


@pytest.mark.parametrize(
    "text",
    [
        "air purifier for bedroom",
        "café",
        "café au lait",
        "résumé template",
        "crème brûlée",
        "à la carte",
        "naïve",
        "du lich da lat",
        "東京タワー",
        "",
    ],
)
def test_detect_language_other(text: str) -> None:
    assert detect_language(text) == "en"
    assert detect_language(unicodedata.normalize("NFD", text)) == "en"


def test_detect_language_example_keywords() -> None:
    vietnamese = (EXAMPLES / "keywords-vi.txt").read_text(encoding="utf-8").splitlines()
    english = (EXAMPLES / "keywords-en.txt").read_text(encoding="utf-8").splitlines()

    for keyword in filter(None, vietnamese):
        assert detect_language(keyword) == "vi", keyword
    for keyword in filter(None, english):
        assert detect_language(keyword) == "en", keyword


@pytest.mark.parametrize("code", ["vi", "en", "fr", "de", "es", "ja", "ko", "zh", "th", "id"])
def test_supported_languages_has_code(code: str) -> None:
    english, vietnamese = SUPPORTED_LANGUAGES[code]

    assert english
    assert vietnamese.startswith("Tiếng ")


def test_supported_languages_is_read_only() -> None:
    with pytest.raises(TypeError):
        SUPPORTED_LANGUAGES["xx"] = ("X", "Y")  # type: ignore[index]


@pytest.mark.parametrize(("code", "expected"), [("vi", "vi"), ("EN", "en"), (" Fr ", "fr")])
def test_validate_language_normalizes(code: str, expected: str) -> None:
    assert validate_language(code) == expected


@pytest.mark.parametrize("code", ["xx", "vn", "", "en-US"])
def test_validate_language_rejects_unknown(code: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_language(code)

    message = str(caught.value)
    assert repr(code) in message
    assert "de, en, es, fr, id, ja, ko, th, vi, zh" in message


def test_validate_language_rejects_non_string() -> None:
    with pytest.raises(InvalidInputError, match="got int"):
        validate_language(1)
