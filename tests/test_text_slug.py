"""ASCII slugs for Vietnamese text."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from k2w._errors import InvalidInputError
from k2w._text import make_slug

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parent.parent / "examples"


def load_slug_cases() -> list[tuple[str, str]]:
    cases = []
    for line in (DATA / "vietnamese-slugs.tsv").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        text, expected = line.split("\t")
        cases.append((text, expected))
    return cases


SLUG_CASES = load_slug_cases()


@pytest.mark.parametrize(("text", "expected"), SLUG_CASES)
def test_slug_table_nfc(text: str, expected: str) -> None:
    assert make_slug(unicodedata.normalize("NFC", text)) == expected


@pytest.mark.parametrize(("text", "expected"), SLUG_CASES)
def test_slug_table_nfd(text: str, expected: str) -> None:
    assert make_slug(unicodedata.normalize("NFD", text)) == expected


def test_slug_table_covers_example_keywords() -> None:
    keywords = (EXAMPLES / "keywords-vi.txt").read_text(encoding="utf-8").splitlines()
    table = {text for text, _ in SLUG_CASES}

    assert len(SLUG_CASES) >= 17
    for keyword in filter(None, keywords):
        assert keyword in table


@pytest.mark.parametrize(("letter", "expected"), [("Đ", "d"), ("đ", "d"), ("Đường đi", "duong-di")])
def test_slug_maps_d_with_stroke(letter: str, expected: str) -> None:
    assert make_slug(letter) == expected


def test_slug_drops_emoji() -> None:
    assert make_slug("🍜 Phở 🍜 bò 🔥") == "pho-bo"


def test_slug_drops_punctuation() -> None:
    assert make_slug("“Cà phê” – ngon, rẻ & nhanh!?") == "ca-phe-ngon-re-nhanh"


def test_slug_joins_around_slash() -> None:
    assert make_slug("A/B testing / SEO") == "a-b-testing-seo"


def test_slug_removes_apostrophes() -> None:
    assert make_slug("Don’t panic, it's fine") == "dont-panic-its-fine"


def test_slug_transliterates_other_scripts() -> None:
    assert make_slug("東京") == "dong-jing"


@pytest.mark.parametrize("text", ["🍜", "🍜🔥✨", "!!!", "—"])
def test_slug_falls_back_to_hash(text: str) -> None:
    slug = make_slug(text)

    assert re.fullmatch(r"k-[0-9a-f]{8}", slug)


def test_slug_fallback_is_stable() -> None:
    assert make_slug("🍜") == make_slug("🍜")
    assert make_slug("🍜") == make_slug("  🍜  ")
    assert make_slug("🍜") != make_slug("🔥")


def test_slug_truncates_at_word_boundary() -> None:
    slug = make_slug("du lịch Đà Lạt tự túc 3 ngày 2 đêm", max_length=20)

    assert slug == "du-lich-da-lat-tu"
    assert len(slug) <= 20


def test_slug_default_max_length_is_80() -> None:
    slug = make_slug("máy lọc không khí " * 20)

    assert len(slug) <= 80
    assert slug.startswith("may-loc-khong-khi-may-loc")
    assert not slug.endswith("-")


def test_slug_truncation_nfd_matches_nfc() -> None:
    text = "thủ tục đăng ký kinh doanh hộ cá thể"

    for length in range(10, 40):
        nfc = make_slug(text, max_length=length)
        decomposed = make_slug(unicodedata.normalize("NFD", text), max_length=length)
        assert nfc == decomposed, length


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_slug_rejects_blank_text(blank: str) -> None:
    with pytest.raises(InvalidInputError, match="blank"):
        make_slug(blank)


def test_slug_rejects_small_max_length() -> None:
    with pytest.raises(InvalidInputError, match="max_length=5"):
        make_slug("Phở bò", max_length=5)
