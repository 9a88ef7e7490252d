"""The SEO checks that look for the keyphrase, with messages in English and Vietnamese."""

from __future__ import annotations

from k2w._text._seo_facts import (
    KEYPHRASE_DENSITY,
    PageFacts,
    format_number_en,
    format_number_vi,
    make_check,
    pluralize,
)
from k2w._text._seo_models import SeoCheck

__all__ = [
    "check_keyphrase_density",
    "check_keyphrase_in_first_paragraph",
    "check_keyphrase_in_image_alt",
    "check_keyphrase_in_meta_description",
    "check_keyphrase_in_slug",
    "check_keyphrase_in_subheading",
    "check_keyphrase_in_title",
]


def check_keyphrase_in_title(facts: PageFacts) -> SeoCheck:
    keyphrase = facts.page.keyphrase
    count = facts.keyphrase_in_title

    if count:
        return make_check(
            "keyphrase_in_title",
            "good",
            count,
            f"The title contains the keyphrase “{keyphrase}”.",
            f"Tiêu đề có chứa cụm từ khóa “{keyphrase}”.",
        )
    return make_check(
        "keyphrase_in_title",
        "bad",
        count,
        f"The title does not contain the keyphrase “{keyphrase}”; add it, ideally near the start.",
        f"Tiêu đề chưa chứa cụm từ khóa “{keyphrase}”; hãy thêm vào, tốt nhất là ở đầu tiêu đề.",
    )


def check_keyphrase_in_first_paragraph(facts: PageFacts) -> SeoCheck:
    keyphrase = facts.page.keyphrase
    count = facts.first_paragraph_occurrences

    if count is None:
        return make_check(
            "keyphrase_in_first_paragraph",
            "bad",
            None,
            f"The article has no paragraph; start it with one that uses the keyphrase "
            f"“{keyphrase}”.",
            f"Bài viết chưa có đoạn văn nào; hãy mở đầu bằng một đoạn có chứa cụm từ khóa "
            f"“{keyphrase}”.",
        )
    if count:
        return make_check(
            "keyphrase_in_first_paragraph",
            "good",
            count,
            f"The first paragraph contains the keyphrase “{keyphrase}”.",
            f"Đoạn văn đầu tiên có chứa cụm từ khóa “{keyphrase}”.",
        )
    return make_check(
        "keyphrase_in_first_paragraph",
        "bad",
        count,
        f"The first paragraph does not contain the keyphrase “{keyphrase}”; mention it early "
        "so that readers and search engines see the topic at once.",
        f"Đoạn văn đầu tiên chưa chứa cụm từ khóa “{keyphrase}”; hãy nhắc đến nó sớm để người "
        "đọc và công cụ tìm kiếm nhận ra chủ đề ngay.",
    )


def check_keyphrase_in_subheading(facts: PageFacts) -> SeoCheck:
    keyphrase = facts.page.keyphrase
    found = facts.subheadings_with_keyphrase
    total = facts.subheading_count

    if total == 0:
        return make_check(
            "keyphrase_in_subheading",
            "bad",
            0,
            f"The article has no subheadings (H2/H3); add some, and use the keyphrase "
            f"“{keyphrase}” in at least one.",
            f"Bài viết chưa có tiêu đề phụ (H2/H3); hãy thêm tiêu đề phụ và dùng cụm từ khóa "
            f"“{keyphrase}” trong ít nhất một tiêu đề.",
        )
    if found:
        return make_check(
            "keyphrase_in_subheading",
            "good",
            found,
            f"{found} of {pluralize(total, 'subheading', 'subheadings')} (H2/H3) contain the "
            f"keyphrase “{keyphrase}”.",
            f"{found}/{total} tiêu đề phụ (H2/H3) có chứa cụm từ khóa “{keyphrase}”.",
        )
    return make_check(
        "keyphrase_in_subheading",
        "ok",
        0,
        f"None of the {pluralize(total, 'subheading', 'subheadings')} (H2/H3) contains the "
        f"keyphrase “{keyphrase}”; use it in at least one.",
        f"Không tiêu đề phụ (H2/H3) nào trong {total} tiêu đề phụ chứa cụm từ khóa "
        f"“{keyphrase}”; hãy dùng nó trong ít nhất một tiêu đề phụ.",
    )


def check_keyphrase_in_slug(facts: PageFacts) -> SeoCheck:
    slug = facts.page_slug
    expected_slug = facts.keyphrase_slug

    if not slug:
        return make_check(
            "keyphrase_in_slug",
            "bad",
            None,
            f"The slug is empty; use “{expected_slug}”.",
            f"Đường dẫn (slug) đang trống; hãy dùng “{expected_slug}”.",
        )
    if f"-{expected_slug}-" in f"-{slug}-":
        return make_check(
            "keyphrase_in_slug",
            "good",
            None,
            f"The slug “{slug}” contains the keyphrase.",
            f"Đường dẫn (slug) “{slug}” có chứa cụm từ khóa.",
        )
    return make_check(
        "keyphrase_in_slug",
        "bad",
        None,
        f"The slug “{slug}” does not contain the keyphrase; put “{expected_slug}” in it.",
        f"Đường dẫn (slug) “{slug}” chưa chứa cụm từ khóa; hãy đưa “{expected_slug}” vào "
        "đường dẫn.",
    )


def check_keyphrase_in_meta_description(facts: PageFacts) -> SeoCheck:
    keyphrase = facts.page.keyphrase
    count = facts.keyphrase_in_meta_description

    if count:
        return make_check(
            "keyphrase_in_meta_description",
            "good",
            count,
            f"The meta description contains the keyphrase “{keyphrase}”.",
            f"Mô tả meta có chứa cụm từ khóa “{keyphrase}”.",
        )
    return make_check(
        "keyphrase_in_meta_description",
        "bad",
        count,
        f"The meta description does not contain the keyphrase “{keyphrase}”; add it, "
        "because search engines highlight it in results.",
        f"Mô tả meta chưa chứa cụm từ khóa “{keyphrase}”; hãy thêm vào vì công cụ tìm kiếm "
        "làm nổi bật nó trong kết quả.",
    )


def check_keyphrase_in_image_alt(facts: PageFacts) -> SeoCheck:
    keyphrase = facts.page.keyphrase
    found = facts.alt_texts_with_keyphrase
    total = len(facts.alt_texts)

    if total == 0:
        return make_check(
            "keyphrase_in_image_alt",
            "ok",
            0,
            "No image has alt text, so the keyphrase cannot appear in one.",
            "Chưa có ảnh nào có văn bản thay thế (alt), nên cụm từ khóa chưa thể xuất hiện "
            "trong đó.",
        )
    if found:
        return make_check(
            "keyphrase_in_image_alt",
            "good",
            found,
            f"{found} of {pluralize(total, 'image alt text', 'image alt texts')} contain the "
            f"keyphrase “{keyphrase}”.",
            f"{found}/{total} văn bản thay thế (alt) của ảnh có chứa cụm từ khóa “{keyphrase}”.",
        )
    return make_check(
        "keyphrase_in_image_alt",
        "ok",
        0,
        f"No image alt text contains the keyphrase “{keyphrase}”; use it in the alt text of "
        "an image that it describes.",
        f"Chưa có văn bản thay thế (alt) nào của ảnh chứa cụm từ khóa “{keyphrase}”; hãy dùng "
        "nó trong alt của một ảnh phù hợp.",
    )


def check_keyphrase_density(facts: PageFacts) -> SeoCheck:
    words = facts.total_words
    occurrences = facts.keyphrase_occurrences
    low, high = KEYPHRASE_DENSITY.good_min, KEYPHRASE_DENSITY.good_max
    band_en = f"{format_number_en(low)}–{format_number_en(high)}%"
    band_vi = f"{format_number_vi(low)}–{format_number_vi(high)}%"

    if words == 0:
        return make_check(
            "keyphrase_density",
            "bad",
            0,
            "The article has no text, so the keyphrase density cannot be measured.",
            "Bài viết chưa có nội dung nên không thể đo mật độ từ khóa.",
        )

    density = round(occurrences * facts.keyphrase_word_count / words * 100, 2)
    status = KEYPHRASE_DENSITY.status(density)
    times = "once" if occurrences == 1 else f"{occurrences} times"
    measured_en = (
        f"The keyphrase appears {times} in {pluralize(words, 'word', 'words')}, "
        f"a density of {format_number_en(density)}%"
    )
    measured_vi = (
        f"Cụm từ khóa xuất hiện {occurrences} lần trong {words} từ, "
        f"mật độ {format_number_vi(density)}%"
    )

    if status == "good":
        message_en = f"{measured_en}, within the recommended {band_en}."
        message_vi = f"{measured_vi}, nằm trong khoảng khuyến nghị {band_vi}."
    elif density < KEYPHRASE_DENSITY.good_min:
        message_en = f"{measured_en}, below the recommended {band_en}; use it more often."
        message_vi = (
            f"{measured_vi}, thấp hơn khoảng khuyến nghị {band_vi}; hãy dùng cụm từ khóa nhiều hơn."
        )
    else:
        message_en = (
            f"{measured_en}, above the recommended {band_en}; use it less often, or use synonyms."
        )
        message_vi = (
            f"{measured_vi}, cao hơn khoảng khuyến nghị {band_vi}; hãy dùng ít lại hoặc thay "
            "bằng từ đồng nghĩa."
        )

    return make_check("keyphrase_density", status, density, message_en, message_vi)
