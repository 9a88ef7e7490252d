"""Providers that need no network: a template article writer and placeholder images.

Both are deterministic (the same request always gives the same output) and state plainly
that they are offline stand-ins. :class:`OfflineWriter` writes sample text from fixed
templates, in Vietnamese for ``vi`` and in English for every other language, and begins
each article with a note that no language model wrote it. Its translations are marked
untranslated copies. :class:`PlaceholderImages` draws the title on a coloured SVG.
"""

from __future__ import annotations

import colorsys
import hashlib
import html
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

from .._errors import InvalidInputError
from ._models import Article, ArticleRequest, GeneratedImage, ImageRequest, Section, Usage
from ._protocols import ResponseCache

__all__ = [
    "META_DESCRIPTION_MAX",
    "META_DESCRIPTION_MIN",
    "OfflineWriter",
    "PlaceholderImages",
    "render_placeholder_svg",
]

META_DESCRIPTION_MIN = 120
"""Minimum length the offline writer aims for in a meta description, in characters."""

META_DESCRIPTION_MAX = 156
"""Maximum length of a meta description from the offline writer, in characters."""

_OFFLINE_NOTE_CLASS = "k2w-offline-note"
_UNTRANSLATED_NOTE_CLASS = "k2w-untranslated-note"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


@dataclass(frozen=True)
class _Templates:
    """The sample text of one language; ``{kw}`` is the keyword, ``{Kw}`` capitalised."""

    note: str
    titles: tuple[str, ...]
    intro: str
    headings: tuple[str, ...]
    paragraphs: tuple[str, ...]
    meta_start: str
    meta_fragments: tuple[str, ...]
    meta_sentences: tuple[str, ...]
    untranslated_note: str
    language_names: dict[str, str]
    placeholder_label: str


_VIETNAMESE = _Templates(
    note=(
        "Đây là văn bản mẫu ngoại tuyến do k2w tạo ra mà không dùng mô hình ngôn ngữ. "
        "Hãy thay bằng nội dung thật trước khi xuất bản."
    ),
    titles=(
        "{Kw}: hướng dẫn đầy đủ cho người mới bắt đầu",
        "{Kw}: những điều cần biết trước khi lựa chọn",
        "Tìm hiểu về {kw}: kinh nghiệm và lưu ý",
    ),
    intro=(
        "Bài viết này giới thiệu tổng quan về {kw}: khái niệm cơ bản, cách lựa chọn, "
        "những sai lầm nên tránh và một số kinh nghiệm thực tế. Nội dung được chia thành "
        "từng phần ngắn để bạn dễ theo dõi và tra cứu lại khi cần."
    ),
    headings=(
        "{Kw} là gì?",
        "Vì sao {kw} quan trọng",
        "Cách bắt đầu với {kw}",
        "Những sai lầm thường gặp",
        "Kinh nghiệm thực tế khi áp dụng",
        "Câu hỏi thường gặp về {kw}",
    ),
    paragraphs=(
        "Khi tìm hiểu về {kw}, nhiều người thường bắt đầu bằng những câu hỏi đơn giản nhất. "
        "Phần này tóm tắt các ý chính theo một trình tự dễ theo dõi, để bạn nắm được bức "
        "tranh tổng thể trước khi đi vào chi tiết.",
        "Điều quan trọng là xác định rõ nhu cầu của bản thân. Mỗi người có hoàn cảnh, ngân "
        "sách và mục tiêu khác nhau, vì vậy không có lựa chọn nào phù hợp cho tất cả. Hãy "
        "ghi lại những tiêu chí bạn quan tâm nhất về {kw} rồi so sánh từng phương án.",
        "Thông tin về {kw} trên mạng rất nhiều nhưng không phải nguồn nào cũng đáng tin. "
        "Bạn nên ưu tiên tài liệu từ chuyên gia, nhà sản xuất hoặc cơ quan có thẩm quyền, "
        "và đối chiếu ít nhất hai nguồn trước khi đưa ra quyết định.",
        "Một sai lầm phổ biến là chỉ nhìn vào giá hoặc lời quảng cáo. Chi phí lâu dài, thời "
        "gian cần bỏ ra và mức độ phù hợp với thói quen hằng ngày cũng quan trọng không kém "
        "khi cân nhắc {kw}.",
        "Nếu bạn mới bắt đầu, hãy đi từng bước nhỏ. Bắt đầu với những việc đơn giản, theo "
        "dõi kết quả trong vài tuần rồi điều chỉnh dần. Cách làm này giúp bạn hiểu {kw} qua "
        "trải nghiệm thực tế thay vì chỉ qua lý thuyết.",
        "Đừng ngại hỏi ý kiến những người đã có kinh nghiệm. Các diễn đàn, nhóm cộng đồng và "
        "bài đánh giá chi tiết thường chỉ ra những điểm mạnh, điểm yếu mà tài liệu giới "
        "thiệu về {kw} ít khi nhắc tới.",
        "Hãy dành thời gian xem lại định kỳ. Nhu cầu và điều kiện có thể thay đổi theo thời "
        "gian, và một lựa chọn từng phù hợp chưa chắc còn tốt nhất sau vài tháng hoặc vài "
        "năm.",
        "Tóm lại, {kw} không quá phức tạp nếu bạn tiếp cận có phương pháp: hiểu rõ khái "
        "niệm, xác định nhu cầu, tham khảo nguồn tin cậy và rút kinh nghiệm sau mỗi lần thực "
        "hiện.",
        "Ở phần này, chúng ta xem xét {kw} từ góc độ thực tế. Những ví dụ cụ thể giúp bạn "
        "hình dung rõ hơn cách áp dụng, đồng thời nhận ra các chi tiết nhỏ dễ bị bỏ qua.",
    ),
    meta_start="Tìm hiểu {kw}",
    meta_fragments=(
        ": khái niệm cơ bản",
        ", cách lựa chọn phù hợp",
        ", những sai lầm cần tránh",
        " và kinh nghiệm thực tế",
        " cho người mới bắt đầu",
    ),
    meta_sentences=(
        " Hướng dẫn ngắn gọn, dễ hiểu cho mọi người.",
        " Hướng dẫn ngắn gọn, dễ hiểu.",
        " Đọc ngay.",
    ),
    untranslated_note=(
        "Bài viết này chưa được dịch: k2w chạy không có mô hình ngôn ngữ nên nội dung bên "
        "dưới vẫn là {source}."
    ),
    language_names={"vi": "tiếng Việt", "en": "tiếng Anh"},
    placeholder_label="Ảnh tạm do k2w tạo (ngoại tuyến)",
)

_ENGLISH = _Templates(
    note=(
        "This is offline sample text generated by k2w without a language model. "
        "Replace it with real content before publishing."
    ),
    titles=(
        "{Kw}: a complete guide for beginners",
        "{Kw}: what to know before you choose",
        "Understanding {kw}: tips and practical advice",
    ),
    intro=(
        "This article gives an overview of {kw}: the basics, how to choose, mistakes to "
        "avoid and some practical experience. It is organised in short sections so that "
        "you can follow it easily and come back to it when you need to."
    ),
    headings=(
        "What is {kw}?",
        "Why {kw} matters",
        "How to get started with {kw}",
        "Common mistakes to avoid",
        "Practical tips from experience",
        "Frequently asked questions about {kw}",
    ),
    paragraphs=(
        "When people first look into {kw}, they usually start with the simplest questions. "
        "This part sums up the main points in an order that is easy to follow, so you can "
        "see the whole picture before going into detail.",
        "The most important step is to be clear about your own needs. Situations, budgets "
        "and goals differ, so no single option suits everyone. Write down the criteria that "
        "matter most to you about {kw} and compare each option against them.",
        "There is plenty of information about {kw} online, but not every source can be "
        "trusted. Prefer material from experts, manufacturers or official bodies, and check "
        "at least two sources before you decide.",
        "A common mistake is to look only at the price or the advertising. Long-term costs, "
        "the time involved and how well it fits your daily routine matter just as much when "
        "you weigh up {kw}.",
        "If you are new to this, take small steps. Start with simple tasks, track the "
        "results for a few weeks, then adjust. This way you learn about {kw} through real "
        "experience rather than theory alone.",
        "Do not hesitate to ask people with experience. Forums, community groups and "
        "detailed reviews often point out strengths and weaknesses that introductions to "
        "{kw} rarely mention.",
        "Set aside time to review your choices regularly. Needs and conditions change, and "
        "an option that suited you once may no longer be the best a few months or years "
        "later.",
        "In short, {kw} is not complicated if you approach it methodically: understand the "
        "basics, define your needs, rely on trustworthy sources and learn from each attempt.",
        "This section looks at {kw} from a practical angle. Concrete examples help you "
        "picture how to apply it and notice small details that are easy to miss.",
    ),
    meta_start="Learn about {kw}",
    meta_fragments=(
        ": the basics",
        ", how to choose",
        ", mistakes to avoid",
        " and practical tips",
        " for beginners",
    ),
    meta_sentences=(
        " A short, clear guide to get you started.",
        " Read on to find out more.",
        " Read more.",
    ),
    untranslated_note=(
        "This article has not been translated: k2w ran without a language model, so the "
        "text below is still in {source}."
    ),
    language_names={"vi": "Vietnamese", "en": "English"},
    placeholder_label="Placeholder image made by k2w (offline)",
)

_PARAGRAPHS_PER_SECTION = 3


class OfflineWriter:
    """A :class:`~k2w._providers._protocols.TextGenerator` that writes template text.

    The article has the keyword in its title, intro and meta description, 5 or 6 H2
    sections of three paragraphs, and starts with a note saying it is offline sample
    text written without a language model. It never claims to be a model's work:
    ``generator`` is ``"offline"`` and ``offline`` is true.
    """

    name = "offline"
    offline = True

    async def write_article(
        self, request: ArticleRequest, *, cache: ResponseCache | None = None
    ) -> Article:
        """Write the sample article for ``request``; ``cache`` is not used."""
        keyword = _normalize(request.keyword)
        if not keyword:
            raise InvalidInputError("request.keyword must not be empty")

        templates = _templates_for(request.language)
        seed = _seed(request.language, keyword)
        headings = _headings(templates, keyword, request.outline, seed)
        sections = [
            Section(heading=heading, html=_section_html(templates, keyword, index, seed))
            for index, heading in enumerate(headings)
        ]
        title = _fill(templates.titles[seed % len(templates.titles)], keyword)
        intro_html = (
            f'<p class="{_OFFLINE_NOTE_CLASS}"><em>{html.escape(templates.note)}</em></p>\n'
            f"<p>{_fill_html(templates.intro, keyword)}</p>"
        )

        return Article(
            keyword=keyword,
            language=request.language,
            title=title,
            meta_description=_meta_description(templates, keyword),
            intro_html=intro_html,
            sections=sections,
            generator="offline",
            offline=True,
            usage=Usage(model="offline"),
        )

    async def translate_article(
        self, article: Article, target_language: str, *, cache: ResponseCache | None = None
    ) -> Article:
        """Return an untranslated copy of ``article`` labelled ``target_language``.

        The text stays as it is; a note in the target language at the top states that
        the article was not translated, and ``untranslated`` is true. An article already in
        ``target_language`` is returned unchanged.
        """
        target_language = target_language.strip()
        if not target_language:
            raise InvalidInputError("target_language must be a language code such as 'en'")
        if target_language == article.language:
            return article

        templates = _templates_for(target_language)
        source = templates.language_names.get(_base_language(article.language), article.language)
        note = templates.untranslated_note.format(source=source)
        intro_html = (
            f'<p class="{_UNTRANSLATED_NOTE_CLASS}"><em>{html.escape(note)}</em></p>\n'
            f"{article.intro_html}"
        )
        return article.model_copy(
            update={
                "language": target_language,
                "translated_from": article.language,
                "untranslated": True,
                "intro_html": intro_html,
                "generator": "offline",
                "offline": True,
                "usage": Usage(model="offline"),
            }
        )

    async def aclose(self) -> None:
        """Do nothing: the offline writer has no connections."""

    def __repr__(self) -> str:
        return "OfflineWriter()"


class PlaceholderImages:
    """An :class:`~k2w._providers._protocols.ImageGenerator` drawing the title on an SVG.

    The background colour comes from a hash of the slug, so each article keeps its own
    colour across runs. The image is labelled as an offline placeholder.
    """

    name = "placeholder"
    offline = True

    async def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Return an SVG of ``request.size`` (``"WIDTHxHEIGHT"``) showing the title."""
        width, height = _parse_size(request.size)
        templates = _templates_for(request.language)
        svg = render_placeholder_svg(
            _normalize(request.title),
            slug=request.slug,
            width=width,
            height=height,
            label=templates.placeholder_label,
        )
        return GeneratedImage(
            data=svg.encode("utf-8"),
            media_type="image/svg+xml",
            alt_text=_alt_text(request),
            generator="placeholder",
            offline=True,
            usage=Usage(model="placeholder"),
        )

    async def aclose(self) -> None:
        """Do nothing: placeholder images need no connections."""

    def __repr__(self) -> str:
        return "PlaceholderImages()"


def render_placeholder_svg(
    title: str, *, slug: str, width: int = 1024, height: int = 1024, label: str = ""
) -> str:
    """Render ``title`` wrapped and centred in white on a background coloured by ``slug``.

    All text is XML-escaped, and characters that XML 1.0 forbids are removed, so any
    title gives a well-formed SVG document.
    """
    title = _XML_INVALID.sub("", title)
    label = _XML_INVALID.sub("", label)
    font_size = max(14, min(width, height) // 16)
    line_height = round(font_size * 1.25)
    max_lines = max(1, int(height * 0.7) // line_height)
    lines = _wrap(title, characters=max(8, int(width * 0.84 / (font_size * 0.56))))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(" .,;:") + "…"

    first_y = height / 2 - (len(lines) - 1) * line_height / 2
    tspans = "".join(
        f'<tspan x="{width / 2:g}" y="{first_y + i * line_height:g}">{xml_escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    label_size = max(10, font_size // 3)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
        f"<title>{xml_escape(title)}</title>"
        f'<rect width="100%" height="100%" fill="{_background_colour(slug)}"/>'
        f'<text font-family="sans-serif" font-size="{font_size}" font-weight="bold" '
        f'fill="#ffffff" text-anchor="middle" dominant-baseline="middle">{tspans}</text>'
        f'<text x="{width / 2:g}" y="{height - label_size * 2}" font-family="sans-serif" '
        f'font-size="{label_size}" fill="#ffffff" fill-opacity="0.75" '
        f'text-anchor="middle">{xml_escape(label)}</text>'
        "</svg>\n"
    )


def _templates_for(language: str) -> _Templates:
    return _VIETNAMESE if _base_language(language) == "vi" else _ENGLISH


def _base_language(language: str) -> str:
    return language.strip().replace("_", "-").split("-")[0].lower()


def _normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _seed(language: str, keyword: str) -> int:
    # A stable hash: Python's hash() of a str changes between processes.
    digest = hashlib.sha256(f"{language}\n{keyword}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _fill(template: str, keyword: str) -> str:
    return unicodedata.normalize("NFC", template.format(kw=keyword, Kw=_capitalize(keyword)))


def _fill_html(template: str, keyword: str) -> str:
    return html.escape(_fill(template, keyword), quote=False)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _headings(templates: _Templates, keyword: str, outline: list[str], seed: int) -> list[str]:
    count = 5 + seed % 2
    headings = [_normalize(heading) for heading in outline if heading.strip()][:6]
    for template in templates.headings:
        if len(headings) >= count:
            break
        heading = _fill(template, keyword)
        if heading not in headings:
            headings.append(heading)
    return headings


def _section_html(templates: _Templates, keyword: str, index: int, seed: int) -> str:
    pool = templates.paragraphs
    start = (seed + index * _PARAGRAPHS_PER_SECTION) % len(pool)
    paragraphs = [pool[(start + offset) % len(pool)] for offset in range(_PARAGRAPHS_PER_SECTION)]
    return "\n".join(f"<p>{_fill_html(paragraph, keyword)}</p>" for paragraph in paragraphs)


def _meta_description(templates: _Templates, keyword: str) -> str:
    """Build a meta description of 120 to 156 characters that contains the keyword.

    Fragments are added while they fit under the maximum, then short sentences until the
    text reaches the minimum.
    """
    # NOTE: a keyword of more than about 140 characters cannot fit the band; the text is
    # then longer than META_DESCRIPTION_MAX rather than dropping the keyword.
    text = _fill(templates.meta_start, keyword)
    for fragment in templates.meta_fragments:
        if len(text) + len(fragment) + 1 <= META_DESCRIPTION_MAX:
            text += fragment
    text += "."

    for sentence in templates.meta_sentences:
        if len(text) >= META_DESCRIPTION_MIN:
            break
        if len(text) + len(sentence) <= META_DESCRIPTION_MAX:
            text += sentence
    return text


def _alt_text(request: ImageRequest) -> str:
    title = _normalize(request.title)
    keyword = _normalize(request.keyword)
    if keyword.casefold() in title.casefold():
        return title
    return f"{title} ({keyword})"


def _parse_size(size: str) -> tuple[int, int]:
    match = _SIZE.fullmatch(size.strip().lower())
    if match is None:
        raise InvalidInputError(f"image size must look like '1024x1024', got {size!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise InvalidInputError(f"image size must be 16 to 8192 pixels a side, got {size!r}")
    return width, height


def _wrap(text: str, *, characters: int) -> list[str]:
    return textwrap.wrap(text, width=characters, break_long_words=True) or [""]


def _background_colour(slug: str) -> str:
    hue = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, 0.32, 0.5)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
