"""The SEO checks: lengths and structure here, keyphrase checks in their own module.

Each check reads the measurements in :class:`PageFacts` and returns one :class:`SeoCheck`
with messages in English and Vietnamese. docs/seo.md explains every band and weight.
"""

from __future__ import annotations

from collections.abc import Callable

from k2w._text._seo_facts import (
    META_DESCRIPTION_LENGTH,
    PARAGRAPH_WORDS,
    SUBHEADING_DISTANCE,
    TITLE_LENGTH,
    PageFacts,
    make_check,
    pluralize,
)
from k2w._text._seo_keyphrase_checks import (
    check_keyphrase_density,
    check_keyphrase_in_first_paragraph,
    check_keyphrase_in_image_alt,
    check_keyphrase_in_meta_description,
    check_keyphrase_in_slug,
    check_keyphrase_in_subheading,
    check_keyphrase_in_title,
)
from k2w._text._seo_models import SeoCheck

__all__ = ["CHECKS"]


def _check_title_length(facts: PageFacts) -> SeoCheck:
    length = facts.title_length
    band = f"{TITLE_LENGTH.good_min:g}–{TITLE_LENGTH.good_max:g}"
    status = TITLE_LENGTH.status(length)

    if length == 0:
        message_en = f"The title is missing; write one of {band} characters."
        message_vi = f"Chưa có tiêu đề; hãy viết tiêu đề dài {band} ký tự."
    elif status == "good":
        message_en = f"The title is {length} characters long, within the recommended {band}."
        message_vi = f"Tiêu đề dài {length} ký tự, nằm trong khoảng khuyến nghị {band} ký tự."
    elif length < TITLE_LENGTH.good_min:
        message_en = (
            f"The title is {length} characters long, shorter than the recommended {band}; "
            "add words that describe the article."
        )
        message_vi = (
            f"Tiêu đề chỉ dài {length} ký tự, ngắn hơn khoảng khuyến nghị {band} ký tự; "
            "hãy thêm từ mô tả nội dung bài viết."
        )
    else:
        message_en = (
            f"The title is {length} characters long, longer than the recommended {band}; "
            "search engines may cut it off."
        )
        message_vi = (
            f"Tiêu đề dài {length} ký tự, vượt khoảng khuyến nghị {band} ký tự; "
            "công cụ tìm kiếm có thể cắt bớt tiêu đề."
        )

    return make_check("title_length", status, length, message_en, message_vi)


def _check_meta_description_length(facts: PageFacts) -> SeoCheck:
    length = facts.meta_description_length
    band = f"{META_DESCRIPTION_LENGTH.good_min:g}–{META_DESCRIPTION_LENGTH.good_max:g}"
    status = META_DESCRIPTION_LENGTH.status(length)

    if length == 0:
        message_en = f"The meta description is missing; write one of {band} characters."
        message_vi = f"Chưa có mô tả meta; hãy viết mô tả dài {band} ký tự."
    elif status == "good":
        message_en = (
            f"The meta description is {length} characters long, within the recommended {band}."
        )
        message_vi = f"Mô tả meta dài {length} ký tự, nằm trong khoảng khuyến nghị {band} ký tự."
    elif length < META_DESCRIPTION_LENGTH.good_min:
        message_en = (
            f"The meta description is {length} characters long, shorter than the recommended "
            f"{band}; use the space to say what the reader will find."
        )
        message_vi = (
            f"Mô tả meta chỉ dài {length} ký tự, ngắn hơn khoảng khuyến nghị {band} ký tự; "
            "hãy tận dụng để nói rõ người đọc sẽ tìm thấy gì trong bài."
        )
    else:
        message_en = (
            f"The meta description is {length} characters long, longer than the recommended "
            f"{band}; search engines may cut it off."
        )
        message_vi = (
            f"Mô tả meta dài {length} ký tự, vượt khoảng khuyến nghị {band} ký tự; "
            "công cụ tìm kiếm có thể cắt bớt mô tả."
        )

    return make_check("meta_description_length", status, length, message_en, message_vi)


def _check_single_h1(facts: PageFacts) -> SeoCheck:
    count = facts.h1_count

    if count == 0:
        return make_check(
            "single_h1",
            "good",
            0,
            "The body has no H1 heading, which is right when the page shows the title as its H1.",
            "Nội dung không có thẻ H1, phù hợp khi trang hiển thị tiêu đề bài viết làm thẻ H1.",
        )
    if count == 1:
        return make_check(
            "single_h1", "good", 1, "The body has one H1 heading.", "Nội dung có một thẻ H1."
        )
    return make_check(
        "single_h1",
        "bad",
        count,
        f"The body has {count} H1 headings; keep at most one and make the others H2.",
        f"Nội dung có {count} thẻ H1; chỉ giữ tối đa một thẻ và đổi các thẻ còn lại thành H2.",
    )


def _check_subheading_distribution(facts: PageFacts) -> SeoCheck:
    longest = facts.longest_run_without_subheading
    limit = f"{SUBHEADING_DISTANCE.good_max:g}"
    status = SUBHEADING_DISTANCE.status(longest)

    if status == "good":
        message_en = (
            f"The longest stretch of text without a subheading (H2/H3) is "
            f"{pluralize(longest, 'word', 'words')}, within the recommended {limit}."
        )
        message_vi = (
            f"Phần nội dung dài nhất không có tiêu đề phụ (H2/H3) dài {longest} từ, nằm trong "
            f"mức khuyến nghị tối đa {limit} từ."
        )
    else:
        message_en = (
            f"The longest stretch of text without a subheading (H2/H3) is {longest} words; "
            f"add a subheading at least every {limit} words."
        )
        message_vi = (
            f"Phần nội dung dài nhất không có tiêu đề phụ (H2/H3) dài {longest} từ; hãy chèn "
            f"tiêu đề phụ sau khoảng mỗi {limit} từ."
        )

    return make_check("subheading_distribution", status, longest, message_en, message_vi)


def _check_paragraph_length(facts: PageFacts) -> SeoCheck:
    counts = facts.paragraph_word_counts
    limit = PARAGRAPH_WORDS.good_max
    longest = max(counts, default=0)
    too_long = sum(1 for count in counts if count > limit)
    status = PARAGRAPH_WORDS.status(longest)

    if not counts:
        message_en = "The article has no paragraphs to measure."
        message_vi = "Bài viết chưa có đoạn văn nào để đo độ dài."
    elif status == "good":
        message_en = f"No paragraph is longer than {limit:g} words; the longest has {longest}."
        message_vi = f"Không có đoạn văn nào dài quá {limit:g} từ; đoạn dài nhất có {longest} từ."
    else:
        verb = "is" if too_long == 1 else "are"
        message_en = (
            f"{pluralize(too_long, 'paragraph', 'paragraphs')} {verb} longer than {limit:g} "
            f"words, the longest has {longest}; split them into shorter paragraphs."
        )
        message_vi = (
            f"Có {too_long} đoạn văn dài hơn {limit:g} từ, đoạn dài nhất có {longest} từ; "
            "hãy tách thành các đoạn ngắn hơn."
        )

    return make_check("paragraph_length", status, longest, message_en, message_vi)


def _check_image_alt_text(facts: PageFacts) -> SeoCheck:
    total = facts.image_count
    missing = facts.images_without_alt

    if total == 0:
        return make_check(
            "image_alt_text",
            "ok",
            0,
            "The article has no images; add one with alt text.",
            "Bài viết chưa có ảnh; hãy thêm ít nhất một ảnh có văn bản thay thế (alt).",
        )
    if missing == 0:
        return make_check(
            "image_alt_text",
            "good",
            0,
            f"Every image has alt text ({total} of {total}).",
            f"Mọi ảnh ({total}/{total}) đều có văn bản thay thế (alt).",
        )
    return make_check(
        "image_alt_text",
        "bad",
        missing,
        f"{missing} of {pluralize(total, 'image', 'images')} have no alt text; describe each "
        "image in its alt attribute.",
        f"{missing}/{total} ảnh chưa có văn bản thay thế (alt); hãy mô tả từng ảnh trong "
        "thuộc tính alt.",
    )


def _check_internal_links(facts: PageFacts) -> SeoCheck:
    count = facts.internal_links

    if count:
        return make_check(
            "internal_links",
            "good",
            count,
            f"The article has {pluralize(count, 'internal link', 'internal links')}.",
            f"Bài viết có {count} liên kết nội bộ.",
        )
    return make_check(
        "internal_links",
        "ok",
        0,
        "The article has no internal links; link to related articles on your site.",
        "Bài viết chưa có liên kết nội bộ; hãy liên kết đến các bài viết liên quan trên trang "
        "của bạn.",
    )


def _check_outbound_links(facts: PageFacts) -> SeoCheck:
    count = facts.outbound_links

    if count:
        return make_check(
            "outbound_links",
            "good",
            count,
            f"The article has {pluralize(count, 'outbound link', 'outbound links')}.",
            f"Bài viết có {count} liên kết ra trang web khác.",
        )
    return make_check(
        "outbound_links",
        "ok",
        0,
        "The article has no outbound links; link to a trustworthy source.",
        "Bài viết chưa có liên kết ra trang web khác; hãy dẫn nguồn đến một trang uy tín.",
    )


CHECKS: tuple[Callable[[PageFacts], SeoCheck], ...] = (
    _check_title_length,
    _check_meta_description_length,
    check_keyphrase_in_title,
    check_keyphrase_in_first_paragraph,
    check_keyphrase_in_subheading,
    check_keyphrase_in_slug,
    check_keyphrase_in_meta_description,
    check_keyphrase_in_image_alt,
    check_keyphrase_density,
    _check_single_h1,
    _check_subheading_distribution,
    _check_paragraph_length,
    _check_image_alt_text,
    _check_internal_links,
    _check_outbound_links,
)
"""Every check, in report order."""
