"""HTML sanitising against an XSS corpus, and plain text out of HTML."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from k2w._text import ALLOWED_TAGS, ALLOWED_URL_SCHEMES, html_to_text, sanitize_html

DATA = Path(__file__).parent / "data"

PAYLOADS = [
    line
    for line in (DATA / "xss-payloads.txt").read_text(encoding="utf-8").splitlines()
    if line.strip()
]

FORBIDDEN_TAGS = {
    "base",
    "body",
    "embed",
    "form",
    "iframe",
    "input",
    "link",
    "math",
    "meta",
    "object",
    "script",
    "style",
    "svg",
    "template",
    "textarea",
}

ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "width", "height", "title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}

DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")


class TagCollector(HTMLParser):
    """Every start tag of a document with its decoded attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def collect_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = TagCollector()
    collector.feed(html)
    collector.close()
    return collector.tags


def squeeze(value: str) -> str:
    # Browsers ignore ASCII whitespace and control characters inside a URL scheme.
    return "".join(char for char in value if char > " " and char != "\x7f").lower()


def url_scheme(value: str) -> str | None:
    match = re.match(r"([a-z][a-z0-9+.\-]*):", squeeze(value))
    return match.group(1) if match else None


def test_xss_corpus_is_large_enough() -> None:
    assert len(PAYLOADS) >= 25


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitize_removes_active_content(payload: str) -> None:
    cleaned = sanitize_html(payload)
    tags = collect_tags(cleaned)
    names = {name for name, _ in tags}

    assert "<script" not in cleaned.lower()
    assert names <= ALLOWED_TAGS
    assert not names & FORBIDDEN_TAGS
    for name, attrs in tags:
        for attribute, value in attrs:
            assert not attribute.startswith("on"), (name, attribute)
            assert attribute in ALLOWED_ATTRIBUTES.get(name, set()), (name, attribute)
            for scheme in DANGEROUS_SCHEMES:
                assert scheme not in squeeze(value or ""), (name, attribute, value)
            if attribute in {"href", "src"}:
                assert url_scheme(value or "") in {None, *ALLOWED_URL_SCHEMES}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitize_output_is_nfc_and_stable(payload: str) -> None:
    cleaned = sanitize_html(payload)

    assert unicodedata.is_normalized("NFC", cleaned)
    assert sanitize_html(cleaned) == cleaned


def test_sanitize_guards_tag_end_mark() -> None:
    # NFC would turn ">" + U+0338 into "≯" and open the tag again for an event handler.
    cleaned = sanitize_html('<a href="https://ok.example/">&#x338; onmouseover=alert(1)</a>')
    tags = collect_tags(cleaned)

    assert tags == [("a", [("href", "https://ok.example/"), ("rel", "noopener noreferrer")])]
    assert "\u226f" not in cleaned


def test_sanitize_drops_script_content() -> None:
    assert sanitize_html("<p>a<script>alert(1)</script>b</p>") == "<p>ab</p>"
    assert sanitize_html("<style>p{}</style><p>x</p>") == "<p>x</p>"


def test_sanitize_keeps_article_markup() -> None:
    html = (
        "<h2>Giới thiệu</h2><p>Máy <strong>lọc</strong> <em>không</em> khí</p>"
        '<ul><li>một</li></ul><ol start="3"><li>ba</li></ol>'
        "<blockquote>trích</blockquote><pre><code>x = 1</code></pre><hr><br>"
        '<figure><img src="/a.png" alt="ảnh" width="800" height="600">'
        "<figcaption>chú thích</figcaption></figure>"
    )

    assert sanitize_html(html) == html


def test_sanitize_adds_rel_to_links() -> None:
    cleaned = sanitize_html('<a href="https://example.com/" title="t">x</a>')

    assert cleaned == ('<a href="https://example.com/" title="t" rel="noopener noreferrer">x</a>')


@pytest.mark.parametrize(
    "href", ["https://example.com/a", "http://example.com/", "mailto:a@example.com", "/bai-viet"]
)
def test_sanitize_keeps_allowed_urls(href: str) -> None:
    tags = collect_tags(sanitize_html(f'<a href="{href}">x</a>'))

    assert ("href", href) in tags[0][1]


@pytest.mark.parametrize("href", ["ftp://example.com/", "tel:123", "javascript:void(0)"])
def test_sanitize_drops_other_schemes(href: str) -> None:
    tags = collect_tags(sanitize_html(f'<a href="{href}">x</a>'))

    assert all(attribute != "href" for attribute, _ in tags[0][1])


def test_sanitize_keeps_tables() -> None:
    html = (
        '<table><caption>c</caption><thead><tr><th scope="col">h</th></tr></thead>'
        '<tbody><tr><td colspan="2" rowspan="1">d</td></tr></tbody></table>'
    )

    assert sanitize_html(html) == html


def test_sanitize_drops_non_numeric_sizes() -> None:
    cleaned = sanitize_html('<img src="/a.png" width="100%" height="50">')

    assert cleaned == '<img src="/a.png" height="50">'


def test_sanitize_drops_style_and_class() -> None:
    assert sanitize_html('<p class="x" style="color:red" id="y">t</p>') == "<p>t</p>"


def test_sanitize_composes_nfd_input() -> None:
    cleaned = sanitize_html(unicodedata.normalize("NFD", "<p>Đà Lạt</p>"))

    assert cleaned == "<p>Đà Lạt</p>"


def test_sanitize_composes_entity_decomposed_text() -> None:
    assert sanitize_html("<p>e&#769;</p>") == "<p>é</p>"


def test_html_to_text_block_lines() -> None:
    html = "<h2>Giới thiệu</h2><p>Máy lọc <b>không   khí</b></p><ul><li>một<li>hai</ul>"

    assert html_to_text(html) == "Giới thiệu\nMáy lọc không khí\nmột\nhai"


def test_html_to_text_drops_invisible_content() -> None:
    html = "<p>a<script>var x = 1;</script>b</p><style>p {}</style><template>t</template>"

    assert html_to_text(html) == "ab"


def test_html_to_text_decodes_entities() -> None:
    assert html_to_text("<p>Tom &amp; Jerry&nbsp;&lt;3 &#273;</p>") == "Tom & Jerry <3 đ"


def test_html_to_text_ignores_alt_text() -> None:
    assert html_to_text('<p>x<img src="a.png" alt="ảnh">y</p>') == "xy"


def test_html_to_text_br_is_space() -> None:
    assert html_to_text("<p>dòng một<br>dòng hai</p>") == "dòng một dòng hai"


def test_html_to_text_handles_unclosed_paragraphs() -> None:
    assert html_to_text("<p>một<p>hai<div>ba</div>bốn") == "một\nhai\nba\nbốn"


def test_html_to_text_returns_nfc() -> None:
    text = html_to_text(unicodedata.normalize("NFD", "<p>Hà Nội</p>"))

    assert text == "Hà Nội"
    assert unicodedata.is_normalized("NFC", text)


def test_html_to_text_plain_text() -> None:
    assert html_to_text("  chỉ là   văn bản ") == "chỉ là văn bản"


def test_html_to_text_skips_noscript() -> None:
    html = "<p>a</p><noscript><p>b</p></noscript><template><h2>c</h2></template><p>d</p>"

    assert html_to_text(html) == "a\nd"
