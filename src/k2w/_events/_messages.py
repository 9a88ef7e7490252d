"""The catalogue of user-facing messages, in English and Vietnamese.

Every message shown to a person in a progress bar, the CLI or a report comes from here, so a
front end can show either language (or translate the key itself). Placeholders use
``str.format`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["LOCALES", "MESSAGES", "Locale", "localize"]

Locale = Literal["en", "vi"]
LOCALES: tuple[Locale, ...] = ("en", "vi")

MESSAGES: Mapping[str, Mapping[Locale, str]] = {
    "run.queued": {
        "en": "Queued {count} keywords",
        "vi": "Đã xếp hàng {count} từ khóa",
    },
    "run.queued.one": {
        "en": "Queued 1 keyword",
        "vi": "Đã xếp hàng 1 từ khóa",
    },
    "stage.keywords": {
        "en": "Analysing keywords…",
        "vi": "Đang phân tích từ khóa…",
    },
    "stage.keywords.done": {
        "en": "Planned {count} articles",
        "vi": "Đã lên kế hoạch {count} bài viết",
    },
    "stage.keywords.done.one": {
        "en": "Planned 1 article",
        "vi": "Đã lên kế hoạch 1 bài viết",
    },
    "stage.content": {
        "en": "Generating content for '{keyword}'…",
        "vi": "Đang viết nội dung cho '{keyword}'…",
    },
    "stage.images": {
        "en": "Creating the featured image for '{keyword}'…",
        "vi": "Đang tạo ảnh đại diện cho '{keyword}'…",
    },
    "stage.seo": {
        "en": "Checking SEO for '{keyword}'…",
        "vi": "Đang kiểm tra SEO cho '{keyword}'…",
    },
    "stage.translation": {
        "en": "Translating '{keyword}' into {language}…",
        "vi": "Đang dịch '{keyword}' sang {language}…",
    },
    "stage.publishing": {
        "en": "Publishing '{keyword}'…",
        "vi": "Đang đăng '{keyword}'…",
    },
    "stage.analytics": {
        "en": "Writing the run report…",
        "vi": "Đang lập báo cáo…",
    },
    "stage.done": {
        "en": "Finished {stage} for '{keyword}'",
        "vi": "Đã xong bước {stage} cho '{keyword}'",
    },
    "stage.failed": {
        "en": "{stage} failed for '{keyword}': {error}",
        "vi": "Bước {stage} thất bại với '{keyword}': {error}",
    },
    "stage.retrying": {
        "en": "Retrying {stage} for '{keyword}' in {delay:.0f} s",
        "vi": "Thử lại bước {stage} cho '{keyword}' sau {delay:.0f} giây",
    },
    "image.skipped": {
        "en": "No featured image for '{keyword}': {error}",
        "vi": "Không có ảnh đại diện cho '{keyword}': {error}",
    },
    "run.complete": {
        "en": "Done: {published} of {total} articles published ✅",
        "vi": "Hoàn tất: đã đăng {published}/{total} bài viết ✅",
    },
    "run.failed": {
        "en": "The run failed: {error}",
        "vi": "Lượt chạy thất bại: {error}",
    },
    "run.cancelled": {
        "en": "The run was cancelled",
        "vi": "Lượt chạy đã bị hủy",
    },
    "cli.articles_at": {
        "en": "Articles written to {path}",
        "vi": "Bài viết đã lưu tại {path}",
    },
    "cli.resuming": {
        "en": "Resuming {count} unfinished run(s)",
        "vi": "Tiếp tục {count} lượt chạy chưa xong",
    },
    "cli.overall": {
        "en": "Overall",
        "vi": "Tổng thể",
    },
    "cli.eta": {
        "en": "about {seconds:.0f} s left",
        "vi": "còn khoảng {seconds:.0f} giây",
    },
    "cli.eta_unknown": {
        "en": "estimating time left…",
        "vi": "đang ước tính thời gian…",
    },
    # The CLI prints a library error as "<lead>: <detail>". The detail is the error's own
    # text, which k2w writes in English; the lead names the kind of error.
    "cli.error": {"en": "error", "vi": "lỗi"},
    "cli.error.store": {"en": "error", "vi": "lỗi cơ sở dữ liệu"},
    "cli.error.input": {"en": "error", "vi": "lỗi dữ liệu vào"},
    "cli.error.config": {"en": "error", "vi": "lỗi cấu hình"},
    "cli.error.not_found": {"en": "error", "vi": "không tìm thấy"},
    "cli.error.provider": {"en": "error", "vi": "lỗi từ dịch vụ bên ngoài"},
    "cli.keyword_file_missing": {
        "en": "error: keyword file {path} does not exist",
        "vi": "lỗi: không có tệp từ khóa {path}",
    },
    "cli.keyword_file_not_utf8": {
        "en": "error: keyword file {path} is not UTF-8 text ({reason})",
        "vi": "lỗi: tệp từ khóa {path} không phải văn bản UTF-8 ({reason})",
    },
    "cli.interrupted": {
        "en": "interrupted; run `k2w run` again to resume where it stopped",
        "vi": "đã dừng giữa chừng; chạy lại `k2w run` để tiếp tục từ chỗ đã dừng",
    },
}

STAGE_NAMES: Mapping[str, Mapping[Locale, str]] = {
    "keywords": {"en": "keywords", "vi": "từ khóa"},
    "content": {"en": "content", "vi": "nội dung"},
    "images": {"en": "images", "vi": "hình ảnh"},
    "seo": {"en": "SEO", "vi": "SEO"},
    "translation": {"en": "translation", "vi": "dịch"},
    "publishing": {"en": "publishing", "vi": "đăng bài"},
    "analytics": {"en": "analytics", "vi": "báo cáo"},
}


def localize(key: str, locale: str, **params: Any) -> str:
    """Return the message ``key`` in ``locale`` ("en" or "vi"), filled with ``params``.

    A ``stage`` parameter is replaced by the stage's name in that language. When
    ``count`` is 1 and a ``<key>.one`` message exists, that singular form is used.
    """
    chosen: Locale = "vi" if locale == "vi" else "en"
    if params.get("count") == 1 and f"{key}.one" in MESSAGES:
        key = f"{key}.one"
    template = MESSAGES[key][chosen]
    stage = params.get("stage")
    if isinstance(stage, str) and stage in STAGE_NAMES:
        params["stage"] = STAGE_NAMES[stage][chosen]
    return template.format(**params)
