"""FilePublisher: Markdown and HTML files with front matter, written atomically."""

from __future__ import annotations

import os
import unicodedata
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from k2w._errors import InvalidInputError
from k2w._providers._files import FilePublisher
from k2w._providers._models import GeneratedImage, PublishRequest
from k2w._providers._offline import render_placeholder_svg

pytestmark = pytest.mark.anyio

TITLE = "Máy lọc không khí: cách chọn đúng"
FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_publisher(tmp_path: Path) -> FilePublisher:
    return FilePublisher(tmp_path, now=lambda: FIXED_NOW)


def make_request(**changes: Any) -> PublishRequest:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "keyword": "máy lọc không khí",
        "language": "vi",
        "slug": "may-loc-khong-khi",
        "title": TITLE,
        "meta_description": "Tìm hiểu máy lọc không khí: khái niệm, cách chọn, lưu ý.",
        "html": "<p>Nội dung về máy lọc không khí.</p>\n<h2>Phần một</h2>\n<p>Đoạn văn.</p>",
        "offline": True,
    }
    values.update(changes)
    return PublishRequest(**values)


def svg_image() -> GeneratedImage:
    svg = render_placeholder_svg(TITLE, slug="may-loc-khong-khi")
    return GeneratedImage(
        data=svg.encode("utf-8"),
        media_type="image/svg+xml",
        alt_text=TITLE,
        generator="placeholder",
        offline=True,
    )


def read_front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header, _, body = text[4:].partition("\n---\n")
    front_matter = yaml.safe_load(header)
    assert isinstance(front_matter, dict)
    return front_matter, body


async def test_writes_markdown_with_front_matter(tmp_path: Path) -> None:
    result = await make_publisher(tmp_path).publish(make_request())

    markdown = tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md"
    assert result.location == str(markdown)
    front_matter, body = read_front_matter(markdown)
    assert front_matter == {
        "title": TITLE,
        "slug": "may-loc-khong-khi",
        "description": "Tìm hiểu máy lọc không khí: khái niệm, cách chọn, lưu ý.",
        "keyword": "máy lọc không khí",
        "language": "vi",
        "date": "2026-01-02T03:04:05+00:00",
        "image": None,
        "image_alt": None,
        "draft": True,
        "offline": True,
        "generator": "k2w (offline)",
    }
    assert body.startswith("\n<p>Nội dung về máy lọc không khí.</p>")


async def test_front_matter_keeps_unicode_readable(tmp_path: Path) -> None:
    await make_publisher(tmp_path).publish(make_request())

    raw = (tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md").read_bytes()
    assert TITLE.encode("utf-8") in raw
    assert b"\\u" not in raw


async def test_front_matter_survives_yaml_special_characters(tmp_path: Path) -> None:
    title = 'Title: with "quotes", #hash, - dash & a: colon'

    await make_publisher(tmp_path).publish(make_request(title=title, tags=["a: b", "c"]))

    front_matter, _ = read_front_matter(tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md")
    assert front_matter["title"] == title
    assert front_matter["tags"] == ["a: b", "c"]


async def test_writes_html_document(tmp_path: Path) -> None:
    await make_publisher(tmp_path).publish(
        make_request(title='A <b> & "c"', image=svg_image(), image_alt="Ảnh <minh họa>")
    )

    document = (tmp_path / "run-1" / "vi" / "may-loc-khong-khi.html").read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in document
    assert '<meta charset="utf-8">' in document
    assert "<title>A &lt;b&gt; &amp; &quot;c&quot;</title>" in document
    assert '<meta name="description" content="Tìm hiểu máy lọc không khí' in document
    assert '<img src="../images/may-loc-khong-khi.svg" alt="Ảnh &lt;minh họa&gt;">' in document
    assert "<p>Đoạn văn.</p>" in document

    parser = HTMLParser()
    parser.feed(document)
    parser.close()


async def test_image_written_once_for_all_languages(tmp_path: Path) -> None:
    publisher = make_publisher(tmp_path)

    vietnamese = await publisher.publish(make_request(image=svg_image()))
    english = await publisher.publish(make_request(language="en", image=svg_image()))

    image_path = tmp_path / "run-1" / "images" / "may-loc-khong-khi.svg"
    assert vietnamese.image_location == str(image_path)
    assert english.image_location == str(image_path)
    assert image_path.read_bytes() == svg_image().data
    front_matter, _ = read_front_matter(tmp_path / "run-1" / "en" / "may-loc-khong-khi.md")
    assert front_matter["image"] == "../images/may-loc-khong-khi.svg"
    assert sorted(path.name for path in (tmp_path / "run-1").iterdir()) == [
        "en",
        "images",
        "vi",
    ]


async def test_republish_replaces_files(tmp_path: Path) -> None:
    publisher = make_publisher(tmp_path)

    first = await publisher.publish(make_request())
    second = await publisher.publish(make_request(title="Tiêu đề mới", status="publish"))

    assert first.created is True
    assert second.created is False
    front_matter, _ = read_front_matter(tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md")
    assert front_matter["title"] == "Tiêu đề mới"
    assert front_matter["draft"] is False
    leftovers = [name for name in os.listdir(tmp_path / "run-1" / "vi") if name.startswith(".")]
    assert leftovers == []
    assert sorted(second.files) == sorted(first.files)


async def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publisher = make_publisher(tmp_path)
    await publisher.publish(make_request())
    markdown = tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md"
    before = markdown.read_bytes()

    def failing_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        await publisher.publish(make_request(title="Never written"))

    assert markdown.read_bytes() == before
    assert [name for name in os.listdir(markdown.parent) if name.startswith(".")] == []


@pytest.mark.parametrize(
    "slug",
    ["../escape", "a/b", "Máy", "UPPER", "with space", "", "a\\b", "x.md", "-" * 201],
)
async def test_rejects_unsafe_slug(tmp_path: Path, slug: str) -> None:
    with pytest.raises(InvalidInputError, match="slug"):
        await make_publisher(tmp_path).publish(make_request(slug=slug))

    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("field", "value"), [("run_id", "../up"), ("language", "vi/../..")])
async def test_rejects_unsafe_run_id_and_language(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        await make_publisher(tmp_path).publish(make_request(**{field: value}))


async def test_vietnamese_written_as_nfc(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", TITLE)
    assert decomposed != TITLE

    await make_publisher(tmp_path).publish(make_request(title=decomposed))

    for suffix in (".md", ".html"):
        text = (tmp_path / "run-1" / "vi" / f"may-loc-khong-khi{suffix}").read_text("utf-8")
        assert TITLE in text
        assert unicodedata.is_normalized("NFC", text)


async def test_request_date_is_kept(tmp_path: Path) -> None:
    await make_publisher(tmp_path).publish(make_request(date="2025-12-31T23:00:00+07:00"))

    front_matter, _ = read_front_matter(tmp_path / "run-1" / "vi" / "may-loc-khong-khi.md")
    assert front_matter["date"] == "2025-12-31T23:00:00+07:00"
