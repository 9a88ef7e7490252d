"""A model that answers with XSS payloads leaves no active content in stored or published HTML."""

from __future__ import annotations

import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import k2w

DATA = Path(__file__).parent / "data"
PAYLOADS = [
    line
    for line in (DATA / "xss-payloads.txt").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
ACTIVE_TAGS = {"script", "iframe", "object", "embed", "form", "base", "frame", "frameset", "svg"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background"}

pytestmark = pytest.mark.anyio


class HostileWriter:
    """Writes articles whose HTML is made of XSS payloads, as a compromised model might."""

    name = "hostile"
    offline = True

    async def write_article(
        self, request: k2w.ArticleRequest, *, cache: k2w.ResponseCache | None = None
    ) -> k2w.Article:
        sections = [
            k2w.Section(heading=PAYLOADS[i], html=f"<p>{request.keyword}</p>{PAYLOADS[i + 1]}")
            for i in range(0, len(PAYLOADS) - 1, 2)
        ]
        return k2w.Article(
            keyword=request.keyword,
            language=request.language,
            title=f"{request.keyword} <script>alert(1)</script>",
            meta_description=f'{request.keyword} "><img src=x onerror=alert(1)>',
            intro_html=PAYLOADS[-1],
            sections=sections,
            generator="hostile",
        )

    async def translate_article(
        self,
        article: k2w.Article,
        target_language: str,
        *,
        cache: k2w.ResponseCache | None = None,
    ) -> k2w.Article:
        return article.model_copy(
            update={"language": target_language, "intro_html": PAYLOADS[0] + PAYLOADS[1]}
        )

    async def aclose(self) -> None:
        return None


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def active_content(html: str, *, allow_svg: bool = False) -> list[str]:
    """Return a description of each piece of active content found in ``html``.

    ``allow_svg`` accepts the inline SVG timeline that k2w's own report draws.
    """
    parser = _Tags()
    parser.feed(html)
    parser.close()
    found = []
    for tag, attrs in parser.tags:
        if tag in ACTIVE_TAGS and not (allow_svg and tag == "svg"):
            found.append(f"<{tag}>")
        for name, value in attrs:
            squeezed = "".join(c for c in (value or "") if c > " ").lower()
            if name.startswith("on"):
                found.append(f"{tag}[{name}]")
            if name in URL_ATTRIBUTES and squeezed.startswith(
                ("javascript:", "vbscript:", "data:")
            ):
                found.append(f"{tag}[{name}={value}]")
            if tag == "meta" and name == "http-equiv":
                found.append("<meta http-equiv>")
    return found


def _html_fields(value: Any) -> list[str]:
    """Every string under a key that holds HTML in a stored stage result."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if key in ("html", "intro_html") and isinstance(item, str):
                found.append(item)
            elif key == "html" and isinstance(item, dict):
                found.extend(text for text in item.values() if isinstance(text, str))
            else:
                found.extend(_html_fields(item))
        return found
    if isinstance(value, list):
        return [text for item in value for text in _html_fields(item)]
    return []


async def test_hostile_model_output_is_neutralised(tmp_path: Path) -> None:
    config = k2w.K2WConfig(out_dir=tmp_path / "out")
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config, text=HostileWriter()) as app:
        run = await app.submit(["máy lọc không khí"], languages=["vi", "en"])
        result = await run.wait(timeout=60)
    assert result.status == "completed"

    published = sorted((tmp_path / "out" / run.id).rglob("*.htm*")) + sorted(
        (tmp_path / "out" / run.id).rglob("*.md")
    )
    assert len(published) >= 4
    for path in published:
        text = path.read_text(encoding="utf-8")
        assert active_content(text, allow_svg=path.name == "report.html") == [], path.name
        assert not re.search(r"<script", text, re.IGNORECASE), path.name

    with sqlite3.connect(tmp_path / "k2w.db") as conn:
        rows = conn.execute(
            "SELECT name, result FROM jobs WHERE name IN ('content', 'seo', 'translation')"
        ).fetchall()
    assert {name for name, _ in rows} == {"content", "seo", "translation"}
    for name, stored in rows:
        fields = _html_fields(json.loads(stored))
        assert fields, name
        for html in fields:
            assert active_content(html) == [], name


def test_checker_finds_active_content() -> None:
    assert active_content('<img src=x onerror="alert(1)">') == ["img[onerror]"]
    assert active_content("<script>alert(1)</script>") == ["<script>"]
    assert active_content('<a href=" javascript:alert(1)">x</a>') == [
        "a[href= javascript:alert(1)]"
    ]
