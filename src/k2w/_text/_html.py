"""HTML sanitising with an explicit allow-list, and plain text out of HTML."""

from __future__ import annotations

import unicodedata

import nh3

from k2w._text._outline import parse_outline

__all__ = ["ALLOWED_TAGS", "ALLOWED_URL_SCHEMES", "html_to_text", "sanitize_html"]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
"""Tags that :func:`sanitize_html` keeps. Other tags are removed and their text kept."""

ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
"""URL schemes allowed in ``href`` and ``src``. Relative URLs are kept as well."""

_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}

# Elements whose content is dropped along with the tag, because it is code, styling,
# embedded documents or form controls rather than article text.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "applet",
        "embed",
        "frame",
        "frameset",
        "iframe",
        "math",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "script",
        "select",
        "style",
        "svg",
        "template",
        "textarea",
        "xmp",
    }
)

_NUMERIC_ATTRIBUTES = frozenset({"colspan", "height", "rowspan", "start", "width"})
_TABLE_SCOPES = frozenset({"col", "colgroup", "row", "rowgroup"})


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute in _NUMERIC_ATTRIBUTES:
        return value if value.isascii() and value.isdigit() else None
    if attribute == "scope":
        return value if value in _TABLE_SCOPES else None
    return value


_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=_DROPPED_WITH_CONTENT,
    attributes=_ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=ALLOWED_URL_SCHEMES,
)


def sanitize_html(html: str) -> str:
    """Return ``html`` with everything outside an explicit allow-list removed, in NFC.

    Kept: the tags in :data:`ALLOWED_TAGS`, ``href`` and ``title`` on links (which get
    ``rel="noopener noreferrer"``), ``src``, ``alt``, ``width``, ``height`` and ``title`` on
    images, ``start`` on ``ol``, and ``colspan``, ``rowspan`` and ``scope`` on table cells.
    Numeric attributes must be plain digits. URLs must be relative or use a scheme in
    :data:`ALLOWED_URL_SCHEMES`. Scripts, styles, frames, embedded objects, SVG, MathML and
    form controls are dropped with their content. Comments, event handler attributes,
    ``style`` and ``class`` are removed.

    >>> sanitize_html('<p onclick="x()">Xin chào<script>alert(1)</script></p>')
    '<p>Xin chào</p>'
    """
    cleaned = _CLEANER.clean(unicodedata.normalize("NFC", html))
    return unicodedata.normalize("NFC", _escape_marks_after_tag_ends(cleaned))


def _escape_marks_after_tag_ends(html: str) -> str:
    # NFC composes ">" followed by U+0338 into "≯", which would swallow the ">" that ends
    # a tag and let the text after it be read as attributes, an event handler included.
    # Writing combining marks that follow a ">" as character references keeps the ">".
    pieces = html.split(">")
    for number, piece in enumerate(pieces[1:], start=1):
        mark_count = 0
        while mark_count < len(piece) and unicodedata.combining(piece[mark_count]):
            mark_count += 1

        if mark_count:
            marks = "".join(f"&#x{ord(char):X};" for char in piece[:mark_count])
            pieces[number] = marks + piece[mark_count:]

    return ">".join(pieces)


def html_to_text(html: str) -> str:
    """Return the visible text of ``html`` in NFC, one line per block element.

    Block elements are paragraphs, headings, list items, table cells, quotations and the
    like. Whitespace inside a block is made single spaces and empty blocks are left out.
    The content of ``script``, ``style``, ``template``, ``noscript`` and ``head`` is not
    visible and is dropped. Image ``alt`` text is not part of the result.

    >>> html_to_text("<h2>Giới thiệu</h2><p>Máy lọc <b>không khí</b></p>")
    'Giới thiệu\\nMáy lọc không khí'
    """
    outline = parse_outline(html)
    return "\n".join(block.text for block in outline.blocks)
