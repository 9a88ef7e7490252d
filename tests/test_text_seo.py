"""SEO analysis: every check, its bands, and NFC/NFD independence."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from k2w._text import SeoCheck, SeoPage, SeoReport, analyze_seo

DATA = Path(__file__).parent / "data"

KEYPHRASE = "máy lọc không khí"

CHECK_IDS = [
    "title_length",
    "meta_description_length",
    "keyphrase_in_title",
    "keyphrase_in_first_paragraph",
    "keyphrase_in_subheading",
    "keyphrase_in_slug",
    "keyphrase_in_meta_description",
    "keyphrase_in_image_alt",
    "keyphrase_density",
    "single_h1",
    "subheading_distribution",
    "paragraph_length",
    "image_alt_text",
    "internal_links",
    "outbound_links",
]


def example_page_fields() -> dict[str, Any]:
    fields: dict[str, Any] = json.loads((DATA / "seo-article-vi.json").read_text("utf-8"))
    fields["html"] = (DATA / fields.pop("html_file")).read_text("utf-8")
    return fields


def make_page(**overrides: Any) -> SeoPage:
    fields: dict[str, Any] = {
        "keyphrase": KEYPHRASE,
        "language": "vi",
        "title": "Máy lọc không khí cho phòng ngủ nhỏ",
        "meta_description": "Mô tả ngắn về máy lọc không khí.",
        "slug": "may-loc-khong-khi-cho-phong-ngu",
        "html": "<p>Máy lọc không khí giúp phòng ngủ sạch hơn.</p>",
    }
    fields.update(overrides)
    return SeoPage(**fields)


def find_check(report: SeoReport, check_id: str) -> SeoCheck:
    return next(check for check in report.checks if check.id == check_id)


def run_check(check_id: str, **overrides: Any) -> SeoCheck:
    return find_check(analyze_seo(make_page(**overrides)), check_id)


def filler(count: int) -> str:
    return " ".join(["bụi"] * count)


def nfd_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        name: unicodedata.normalize("NFD", value) if isinstance(value, str) else value
        for name, value in fields.items()
    }


def test_seo_example_article_findings() -> None:
    report = analyze_seo(SeoPage(**example_page_fields()))

    assert report.score == 94
    assert [check.id for check in report.findings] == ["title_length"]
    assert report.findings[0].status == "ok"


def test_seo_reports_every_check_in_order() -> None:
    report = analyze_seo(make_page())

    assert [check.id for check in report.checks] == CHECK_IDS


def test_seo_score_is_weighted_mean() -> None:
    report = analyze_seo(make_page())
    weighted = sum(check.score * check.weight for check in report.checks)
    total = sum(check.weight for check in report.checks)

    assert report.score == round(weighted / total)
    assert 0 <= report.score <= 100


def test_seo_check_scores_follow_status() -> None:
    report = analyze_seo(make_page(html="<h1>a</h1><h1>b</h1>"))
    scores = {"good": 100, "ok": 50, "bad": 0}

    for check in report.checks:
        assert check.score == scores[check.status], check.id


def test_seo_findings_exclude_good_checks() -> None:
    report = analyze_seo(make_page())

    assert report.findings == [check for check in report.checks if check.status != "good"]
    assert all(check.status != "good" for check in report.findings)


def test_seo_messages_in_both_languages() -> None:
    report = analyze_seo(SeoPage(**example_page_fields()))

    for check in report.checks:
        assert check.message_en, check.id
        assert check.message_vi, check.id
        assert check.message_en != check.message_vi, check.id


@pytest.mark.parametrize(
    ("length", "status"),
    [
        (0, "bad"),
        (19, "bad"),
        (20, "ok"),
        (29, "ok"),
        (30, "good"),
        (60, "good"),
        (61, "ok"),
        (70, "ok"),
        (71, "bad"),
    ],
)
def test_seo_title_length_bands(length: int, status: str) -> None:
    check = run_check("title_length", title="a" * length)

    assert check.status == status
    assert check.value == length


def test_seo_title_length_counts_nfc_characters() -> None:
    check = run_check("title_length", title=unicodedata.normalize("NFD", "ộ" * 40))

    assert check.value == 40
    assert check.status == "good"


def test_seo_title_message_shows_band() -> None:
    check = run_check("title_length", title="a" * 75)

    assert "75" in check.message_en
    assert "30–60" in check.message_en
    assert "75 ký tự" in check.message_vi
    assert "30–60" in check.message_vi


@pytest.mark.parametrize(
    ("length", "status"),
    [
        (0, "bad"),
        (79, "bad"),
        (80, "ok"),
        (119, "ok"),
        (120, "good"),
        (156, "good"),
        (157, "ok"),
        (170, "ok"),
        (171, "bad"),
    ],
)
def test_seo_meta_description_length_bands(length: int, status: str) -> None:
    check = run_check("meta_description_length", meta_description="b" * length)

    assert check.status == status
    assert check.value == length


def test_seo_meta_description_missing_message() -> None:
    check = run_check("meta_description_length", meta_description="  ")

    assert "missing" in check.message_en
    assert "Chưa có mô tả meta" in check.message_vi


@pytest.mark.parametrize(
    ("title", "status"),
    [
        ("Máy lọc không khí tốt nhất", "good"),
        ("MÁY LỌC KHÔNG KHÍ TỐT NHẤT", "good"),
        (unicodedata.normalize("NFD", "Chọn máy lọc không khí"), "good"),
        ("Chọn máy lọc, không khí sạch", "good"),
        ("may loc khong khi tot nhat", "bad"),
        ("Máy lọc không khíx", "bad"),
        ("Máy lọc nước tốt nhất", "bad"),
    ],
)
def test_seo_keyphrase_in_title(title: str, status: str) -> None:
    assert run_check("keyphrase_in_title", title=title).status == status


def test_seo_keyphrase_matches_other_tone_style() -> None:
    check = run_check("keyphrase_in_title", keyphrase="hòa bình", title="Du lịch Hoà Bình")

    assert check.status == "good"


def test_seo_keyphrase_is_case_insensitive() -> None:
    upper = analyze_seo(make_page(keyphrase="MÁY LỌC KHÔNG KHÍ"))
    lower = analyze_seo(make_page())

    assert [check.status for check in upper.checks] == [check.status for check in lower.checks]
    assert [check.value for check in upper.checks] == [check.value for check in lower.checks]


@pytest.mark.parametrize(
    ("html", "status", "value"),
    [
        ("<p>Máy lọc không khí giúp ngủ ngon.</p><p>Khác.</p>", "good", 1),
        ("<h2>Máy lọc không khí</h2><p>Không có.</p><p>Máy lọc không khí.</p>", "bad", 0),
        ("Máy lọc không khí là gì?", "good", 1),
        ("<h2>Máy lọc không khí</h2>", "bad", None),
        ("", "bad", None),
    ],
)
def test_seo_keyphrase_in_first_paragraph(html: str, status: str, value: int | None) -> None:
    check = run_check("keyphrase_in_first_paragraph", html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("html", "status", "value"),
    [
        ("<h2>Chọn máy lọc không khí</h2><h2>Khác</h2>", "good", 1),
        ("<h3>Máy lọc không khí mini</h3>", "good", 1),
        ("<h2>Khác</h2><h3>Nữa</h3>", "ok", 0),
        ("<h4>Máy lọc không khí</h4>", "bad", 0),
        ("<p>Không có tiêu đề phụ.</p>", "bad", 0),
    ],
)
def test_seo_keyphrase_in_subheading(html: str, status: str, value: int) -> None:
    check = run_check("keyphrase_in_subheading", html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("slug", "status"),
    [
        ("may-loc-khong-khi-cho-phong-ngu", "good"),
        ("cach-chon-may-loc-khong-khi", "good"),
        ("Máy lọc không khí", "good"),
        ("may-loc-khong-khis", "bad"),
        ("may-loc", "bad"),
        ("", "bad"),
    ],
)
def test_seo_keyphrase_in_slug(slug: str, status: str) -> None:
    check = run_check("keyphrase_in_slug", slug=slug)

    assert check.status == status
    assert check.value is None


def test_seo_keyphrase_in_slug_suggests_slug() -> None:
    check = run_check("keyphrase_in_slug", slug="phong-ngu")

    assert "may-loc-khong-khi" in check.message_en
    assert "may-loc-khong-khi" in check.message_vi


@pytest.mark.parametrize(
    ("meta_description", "status"),
    [("Cách chọn máy lọc không khí.", "good"), ("Cách chọn máy lọc nước.", "bad"), ("", "bad")],
)
def test_seo_keyphrase_in_meta_description(meta_description: str, status: str) -> None:
    check = run_check("keyphrase_in_meta_description", meta_description=meta_description)

    assert check.status == status


@pytest.mark.parametrize(
    ("image_alt", "html", "status", "value"),
    [
        ("Máy lọc không khí trắng", "<p>x</p>", "good", 1),
        (None, '<p>x</p><img src="a.png" alt="Một máy lọc không khí">', "good", 1),
        ("Phòng ngủ", '<img src="a.png" alt="Giường">', "ok", 0),
        (None, "<p>x</p>", "ok", 0),
    ],
)
def test_seo_keyphrase_in_image_alt(
    image_alt: str | None, html: str, status: str, value: int
) -> None:
    check = run_check("keyphrase_in_image_alt", image_alt=image_alt, html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("occurrences", "total_words", "status", "density"),
    [
        (1, 200, "good", 2.0),
        (1, 800, "good", 0.5),
        (1, 1000, "ok", 0.4),
        (1, 2000, "bad", 0.2),
        (0, 200, "bad", 0.0),
        (2, 200, "ok", 4.0),
        (3, 200, "bad", 6.0),
        (3, 400, "good", 3.0),
    ],
)
def test_seo_keyphrase_density_bands(
    occurrences: int, total_words: int, status: str, density: float
) -> None:
    words = [KEYPHRASE] * occurrences + ["bụi"] * (total_words - 4 * occurrences)
    check = run_check("keyphrase_density", html=f"<p>{' '.join(words)}</p>")

    assert check.status == status
    assert check.value == density


def test_seo_keyphrase_density_vietnamese_decimal_comma() -> None:
    words = [KEYPHRASE] + ["bụi"] * 996
    check = run_check("keyphrase_density", html=f"<p>{' '.join(words)}</p>")

    assert "0.4%" in check.message_en
    assert "0,4%" in check.message_vi
    assert "0,5–3%" in check.message_vi


def test_seo_keyphrase_density_without_text() -> None:
    check = run_check("keyphrase_density", html="<img src='a.png'>")

    assert check.status == "bad"
    assert check.value == 0


@pytest.mark.parametrize(
    ("html", "status", "value"),
    [
        ("<p>x</p>", "good", 0),
        ("<h1>Một</h1><p>x</p>", "good", 1),
        ("<h1>Một</h1><h1>Hai</h1>", "bad", 2),
        ("<h1>Một <div>chia</div> đôi</h1>", "good", 1),
    ],
)
def test_seo_single_h1(html: str, status: str, value: int) -> None:
    check = run_check("single_h1", html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("html", "status", "value"),
    [
        (f"<p>{filler(300)}</p>", "good", 300),
        (f"<p>{filler(301)}</p>", "ok", 301),
        (f"<p>{filler(350)}</p>", "ok", 350),
        (f"<p>{filler(351)}</p>", "bad", 351),
        (f"<p>{filler(200)}</p><h2>x</h2><p>{filler(250)}</p>", "good", 250),
        (f"<p>{filler(200)}</p><h3>x</h3><p>{filler(100)}</p>", "good", 200),
        (f"<p>{filler(200)}</p><h4>x y</h4><p>{filler(200)}</p>", "bad", 400),
        (f"<p>{filler(200)}</p><ul><li>{filler(200)}</li></ul>", "bad", 400),
    ],
)
def test_seo_subheading_distribution(html: str, status: str, value: int) -> None:
    check = run_check("subheading_distribution", html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("lengths", "status", "value"),
    [
        ([150], "good", 150),
        ([20, 151], "ok", 151),
        ([200], "ok", 200),
        ([201, 30], "bad", 201),
        ([], "good", 0),
    ],
)
def test_seo_paragraph_length(lengths: list[int], status: str, value: int) -> None:
    html = "".join(f"<p>{filler(length)}</p>" for length in lengths) or "<h2>x</h2>"
    check = run_check("paragraph_length", html=html)

    assert check.status == status
    assert check.value == value


def test_seo_paragraph_length_counts_long_paragraphs() -> None:
    html = f"<p>{filler(160)}</p><p>{filler(170)}</p><p>{filler(10)}</p>"
    check = run_check("paragraph_length", html=html)

    assert "2 paragraphs are longer than 150 words" in check.message_en
    assert "Có 2 đoạn văn dài hơn 150 từ" in check.message_vi
    assert "170" in check.message_en


@pytest.mark.parametrize(
    ("image_alt", "html", "status", "value"),
    [
        ("Ảnh đại diện", "<p>x</p>", "good", 0),
        ("Ảnh", '<img src="a.png" alt="Một">', "good", 0),
        ("Ảnh", '<img src="a.png">', "bad", 1),
        (None, '<img src="a.png" alt=""><img src="b.png" alt="  ">', "bad", 2),
        ("", "<p>x</p>", "bad", 1),
        (None, "<p>x</p>", "ok", 0),
    ],
)
def test_seo_image_alt_text(image_alt: str | None, html: str, status: str, value: int) -> None:
    check = run_check("image_alt_text", image_alt=image_alt, html=html)

    assert check.status == status
    assert check.value == value


@pytest.mark.parametrize(
    ("href", "site_host", "internal", "outbound"),
    [
        ("/bai-viet", None, 1, 0),
        ("bai-viet.html", None, 1, 0),
        ("?trang=2", None, 1, 0),
        ("https://example.vn/x", None, 0, 1),
        ("https://example.vn/x", "example.vn", 1, 0),
        ("https://WWW.Example.vn/x", "example.vn", 1, 0),
        ("https://blog.example.vn/x", "example.vn", 0, 1),
        ("//cdn.example.org/x", "example.vn", 0, 1),
        ("#muc-1", None, 0, 0),
        ("mailto:a@example.vn", None, 0, 0),
        ("", None, 0, 0),
    ],
)
def test_seo_link_counts(href: str, site_host: str | None, internal: int, outbound: int) -> None:
    report = analyze_seo(make_page(html=f'<p><a href="{href}">x</a></p>', site_host=site_host))

    assert find_check(report, "internal_links").value == internal
    assert find_check(report, "outbound_links").value == outbound


def test_seo_missing_links_are_ok() -> None:
    report = analyze_seo(make_page(html="<p>Không có liên kết.</p>"))

    assert find_check(report, "internal_links").status == "ok"
    assert find_check(report, "outbound_links").status == "ok"


def test_seo_present_links_are_good() -> None:
    html = '<p><a href="/a">a</a> <a href="https://who.int/">b</a></p>'
    report = analyze_seo(make_page(html=html))

    assert find_check(report, "internal_links").status == "good"
    assert find_check(report, "outbound_links").status == "good"


SAME_REPORT_PAGES = [
    example_page_fields(),
    {
        "keyphrase": "Hòa Bình",
        "language": "vi",
        "title": "Du lịch Hoà Bình tự túc",
        "meta_description": "Kinh nghiệm du lịch Hòa Bình: thủy điện, bản Lác, ẩm thực.",
        "slug": "du-lich-hoa-binh",
        "html": "<p>Hoà Bình có thuỷ điện.</p><h2>Đến Hòa Bình</h2><p>Đi xe khách.</p>",
        "image_alt": "Thủy điện Hòa Bình",
    },
    {
        "keyphrase": "air purifier",
        "language": "en",
        "title": "Choosing an air purifier for the bedroom",
        "meta_description": "How to choose an air purifier: room size, noise, filters.",
        "slug": "air-purifier-bedroom",
        "html": "<p>An air purifier cleans the air.</p><h2>Noise</h2><p>Quiet café-style.</p>",
    },
]


@pytest.mark.parametrize("fields", SAME_REPORT_PAGES)
def test_seo_report_nfc_nfd_equal(fields: dict[str, Any]) -> None:
    composed = {
        name: unicodedata.normalize("NFC", value) if isinstance(value, str) else value
        for name, value in fields.items()
    }
    nfc_report = analyze_seo(SeoPage(**composed))
    nfd_report = analyze_seo(SeoPage(**nfd_fields(fields)))

    assert nfc_report == nfd_report


def test_seo_page_stores_nfc() -> None:
    page = make_page(**nfd_fields({"title": "Đà Lạt", "html": "<p>Hà Nội</p>"}))

    assert page.title == "Đà Lạt"
    assert page.html == "<p>Hà Nội</p>"


def test_seo_page_rejects_unknown_language() -> None:
    with pytest.raises(ValidationError, match="unsupported language 'xx'"):
        make_page(language="xx")


def test_seo_page_normalizes_language() -> None:
    assert make_page(language="VI").language == "vi"


@pytest.mark.parametrize("keyphrase", ["", "   ", "🍜", "!!!"])
def test_seo_page_rejects_keyphrase_without_words(keyphrase: str) -> None:
    with pytest.raises(ValidationError, match="contains no words"):
        make_page(keyphrase=keyphrase)


@pytest.mark.parametrize(
    ("site_host", "expected"),
    [
        ("example.vn", "example.vn"),
        ("  Example.VN ", "example.vn"),
        ("www.example.vn", "example.vn"),
        ("https://www.example.vn/blog/", "example.vn"),
        ("example.vn:8080/path", "example.vn"),
        (None, None),
    ],
)
def test_seo_page_normalizes_site_host(site_host: str | None, expected: str | None) -> None:
    assert make_page(site_host=site_host).site_host == expected


def test_seo_page_rejects_hostless_site() -> None:
    with pytest.raises(ValidationError, match="has no host name"):
        make_page(site_host="https://")


def test_seo_page_is_frozen() -> None:
    page = make_page()

    with pytest.raises(ValidationError):
        page.title = "khác"  # type: ignore[misc]


def test_seo_report_round_trips_json() -> None:
    report = analyze_seo(make_page())

    assert SeoReport.model_validate_json(report.model_dump_json()) == report


def test_seo_ignores_noscript_content() -> None:
    html = '<p>x</p><noscript><img src="a.png"><a href="/a">a</a></noscript>'
    report = analyze_seo(make_page(html=html))

    assert find_check(report, "image_alt_text").status == "ok"
    assert find_check(report, "internal_links").value == 0
