"""The structure of an article's HTML: its text blocks, links and images.

The parser is lenient like a browser, not exact like one. Text belongs to the innermost
open block element, a new block closes an open ``<p>``, and a new ``<li>`` closes an open
``<li>``. Unclosed elements end with the document.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from k2w._text._normalize import normalize_text

__all__ = ["HEADING_TAGS", "LOOSE_TEXT", "Block", "Image", "Outline", "parse_outline"]

HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

_BLOCK_TAGS = HEADING_TAGS | {
    "address",
    "article",
    "aside",
    "blockquote",
    "caption",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}

# Block elements whose start closes an open <p>, as in the HTML parsing rules.
_CLOSES_PARAGRAPH = _BLOCK_TAGS - {"caption", "dd", "dt", "li", "tbody", "td", "tfoot", "th"}

_INVISIBLE_TAGS = frozenset({"head", "noscript", "script", "style", "template", "title"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "meta", "wbr"})

# Text outside any block element is kept in blocks with this tag.
LOOSE_TEXT = ""


@dataclass(frozen=True)
class Block:
    """Text of one block element: ``tag`` is its lower-case name, ``text`` its NFC text."""

    tag: str
    text: str


@dataclass(frozen=True)
class Image:
    """An ``<img>`` element: its ``src`` and its ``alt`` text, ``None`` if it has none."""

    src: str
    alt: str | None


@dataclass
class Outline:
    """Blocks in document order, the number of each heading tag, every link and image."""

    blocks: list[Block] = field(default_factory=list)
    heading_counts: Counter[str] = field(default_factory=Counter)
    links: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def parse_outline(html: str) -> Outline:
    """Parse ``html`` into its non-empty text blocks, links and images, all in NFC."""
    parser = _OutlineParser()
    parser.feed(unicodedata.normalize("NFC", html))
    parser.close()
    return parser.outline


class _OutlineParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = Outline()
        self._open_blocks: list[str] = []
        self._pending_text: list[str] = []
        self._invisible_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._invisible_depth += 1
            return
        if self._invisible_depth:
            return

        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.outline.links.append(attributes["href"] or "")
        elif tag == "img":
            self.outline.images.append(Image(attributes.get("src") or "", attributes.get("alt")))
        elif tag == "br":
            self._pending_text.append(" ")

        if tag in HEADING_TAGS:
            self.outline.heading_counts[tag] += 1
        if tag in _BLOCK_TAGS:
            self._open_block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._invisible_depth = max(0, self._invisible_depth - 1)
            return
        if self._invisible_depth:
            return

        if tag in _BLOCK_TAGS and tag in self._open_blocks:
            self._flush()
            while self._open_blocks.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._invisible_depth == 0:
            self._pending_text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
        self._open_blocks.clear()

    def _open_block(self, tag: str) -> None:
        self._flush()
        innermost = self._open_blocks[-1] if self._open_blocks else None
        if (innermost == "p" and tag in _CLOSES_PARAGRAPH) or (innermost == tag == "li"):
            self._open_blocks.pop()

        if tag not in _VOID_TAGS:
            self._open_blocks.append(tag)

    def _flush(self) -> None:
        text = normalize_text("".join(self._pending_text))
        self._pending_text.clear()
        if text:
            tag = self._open_blocks[-1] if self._open_blocks else LOOSE_TEXT
            self.outline.blocks.append(Block(tag, text))
