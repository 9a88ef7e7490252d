"""WordPressPublisher against an in-memory WordPress (tests/support/fake_wordpress.py)."""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

import httpx
import pytest

from k2w._errors import (
    ConfigurationError,
    InvalidInputError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from k2w._providers._models import GeneratedImage, PublishRequest
from k2w._providers._protocols import Publisher
from k2w._providers._wordpress import SEO_META_KEYS, WordPressPublisher, WordPressSettings
from support.fake_wordpress import FakeWordPress

BASE_URL = "http://127.0.0.1:8080"
USERNAME = "editor"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"
YOAST_KEYS = sorted(SEO_META_KEYS["yoast"].values())
RANK_MATH_KEYS = sorted(SEO_META_KEYS["rankmath"].values())
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class RecordingSleep:
    """Stands in for anyio.sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake() -> FakeWordPress:
    return FakeWordPress(
        base_url=BASE_URL,
        username=USERNAME,
        application_password=PASSWORD,
        registered_meta=[*YOAST_KEYS, "k2w_language"],
    )


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def make_settings(**overrides: Any) -> WordPressSettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "username": USERNAME,
        "application_password": PASSWORD,
        "seo_plugin": "yoast",
        "max_retries": 3,
    }
    values.update(overrides)
    return WordPressSettings.model_validate(values)


def make_publisher(
    fake: FakeWordPress, sleep: RecordingSleep, **overrides: Any
) -> WordPressPublisher:
    return WordPressPublisher(make_settings(**overrides), transport=fake.transport, sleep=sleep)


def article(
    slug: str = "may-loc-khong-khi", language: str = "vi", **changes: Any
) -> PublishRequest:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "keyword": "máy lọc không khí",
        "language": language,
        "slug": slug,
        "title": "Máy lọc không khí cho phòng ngủ",
        "meta_description": "Cách chọn máy lọc không khí cho phòng ngủ nhỏ.",
        "html": "<p>Máy lọc không khí giúp phòng ngủ sạch hơn.</p>",
        "image": GeneratedImage(
            data=PNG_BYTES,
            media_type="image/png",
            alt_text="Máy lọc không khí đặt cạnh giường",
            generator="test",
        ),
        "tags": ["Gia dụng"],
        "categories": ["Đánh giá"],
    }
    values.update(changes)
    return PublishRequest.model_validate(values)


def secret_forms() -> list[str]:
    """The password as sent, without spaces, and inside the Basic credentials."""
    credentials = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return [PASSWORD, PASSWORD.replace(" ", ""), credentials]


def assert_no_secret(text: str) -> None:
    for secret in secret_forms():
        assert secret not in text


# Publishing


@pytest.mark.anyio
async def test_publish_creates_post(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article())

    assert len(fake.posts) == 1
    post = fake.posts[0]
    assert post.slug == "may-loc-khong-khi"
    assert post.status == "draft"
    assert post.title == "Máy lọc không khí cho phòng ngủ"
    assert post.content == "<p>Máy lọc không khí giúp phòng ngủ sạch hơn.</p>"
    assert post.excerpt == "Cách chọn máy lọc không khí cho phòng ngủ nhỏ."
    assert post.tags == [fake.tags[0].id]
    assert post.categories == [fake.categories[1].id]
    assert post.featured_media == fake.media[0].id
    assert post.meta["k2w_language"] == "vi"
    assert result.publisher == "wordpress"
    assert result.created is True
    assert result.remote_id == post.id
    assert result.slug == "may-loc-khong-khi"
    assert result.location == f"{BASE_URL}/?p={post.id}"
    assert result.image_location == fake.media[0].source_url
    assert result.unsaved_fields == []
    assert sleep.waits == []


@pytest.mark.anyio
async def test_publish_sends_slug_explicitly(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())

    (create,) = fake.requests_to("POST", "/wp/v2/posts")
    assert b'"slug":"may-loc-khong-khi"' in create.body


@pytest.mark.anyio
async def test_published_post_links_to_slug(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article(status="publish"))

    assert fake.posts[0].status == "publish"
    assert result.location == f"{BASE_URL}/may-loc-khong-khi/"


@pytest.mark.anyio
async def test_default_status_applies_when_unset(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep, default_status="publish") as publisher:
        await publisher.publish(article(slug="implicit"))
        await publisher.publish(article(slug="explicit", status="draft"))

    assert fake.post_by_slug("implicit") is not None
    assert fake.post_by_slug("implicit").status == "publish"  # type: ignore[union-attr]
    assert fake.post_by_slug("explicit").status == "draft"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_default_categories_apply_when_none_named(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep, default_categories=("Tin tức",)) as publisher:
        await publisher.publish(article(categories=[]))

    assert [term.name for term in fake.categories] == ["Uncategorized", "Tin tức"]
    assert fake.posts[0].categories == [fake.categories[1].id]


@pytest.mark.anyio
async def test_future_post_sends_gmt_date(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(status="future", date="2030-06-01T08:00:00+07:00"))

    (create,) = fake.requests_to("POST", "/wp/v2/posts")
    assert b'"date_gmt":"2030-06-01T01:00:00"' in create.body
    assert fake.posts[0].status == "future"


@pytest.mark.anyio
async def test_local_date_sent_as_site_time(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(status="future", date="2030-06-01T08:00:00"))

    (create,) = fake.requests_to("POST", "/wp/v2/posts")
    assert b'"date":"2030-06-01T08:00:00"' in create.body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"status": "future"}, "needs a date"),
        ({"date": "next tuesday"}, "not an ISO 8601 time"),
        ({"language": "Vietnamese"}, "not a language code"),
        ({"slug": "---"}, "no letters or digits"),
    ],
)
async def test_invalid_request_rejected_before_sending(
    fake: FakeWordPress, sleep: RecordingSleep, changes: dict[str, Any], expected: str
) -> None:
    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(InvalidInputError, match=expected):
            await publisher.publish(article(**changes))

    assert fake.requests == []


# A create that times out after WordPress stored the post


@pytest.mark.anyio
async def test_create_timeout_after_storing_updates_post(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("POST", "/wp/v2/posts", "timeout_after_processing")

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article())

    assert len(fake.posts) == 1
    post = fake.posts[0]
    assert post.slug == "may-loc-khong-khi"
    assert len(fake.requests_to("POST", "/wp/v2/posts")) == 1
    assert len(fake.requests_to("POST", f"/wp/v2/posts/{post.id}")) == 1
    assert result.created is True
    assert result.remote_id == post.id
    assert len(sleep.waits) == 1


@pytest.mark.anyio
async def test_create_looks_up_slug_before_retrying(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("POST", "/wp/v2/posts", "timeout_after_processing")

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())

    post_requests = [
        (request.method, request.route, request.params.get("status"))
        for request in fake.requests
        if request.route.startswith("/wp/v2/posts")
    ]
    post_id = fake.posts[0].id
    assert post_requests == [
        ("GET", "/wp/v2/posts", "any"),
        ("POST", "/wp/v2/posts", None),
        ("GET", "/wp/v2/posts", "any"),
        ("POST", f"/wp/v2/posts/{post_id}", None),
        ("GET", f"/wp/v2/posts/{post_id}", None),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["timeout", "connect_error", "server_error"])
async def test_failed_create_is_retried_once_stored(
    fake: FakeWordPress, sleep: RecordingSleep, kind: Any
) -> None:
    fake.add_fault("POST", "/wp/v2/posts", kind, status=503, times=2)

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article())

    assert len(fake.posts) == 1
    assert fake.posts[0].slug == "may-loc-khong-khi"
    assert len(fake.requests_to("POST", "/wp/v2/posts")) == 3
    assert len(sleep.waits) == 2
    assert result.created is True


@pytest.mark.anyio
async def test_retry_waits_follow_jittered_backoff(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("GET", "/wp/v2/posts", "server_error", status=502, times=3)

    async with make_publisher(fake, sleep, max_retries=3) as publisher:
        await publisher.publish(article())

    assert len(sleep.waits) == 3
    for attempt, wait in enumerate(sleep.waits):
        assert 0 <= wait <= 0.5 * 2**attempt


@pytest.mark.anyio
async def test_retries_exhausted_raise_unavailable(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("POST", "/wp/v2/posts", "server_error", status=500, times=100)

    async with make_publisher(fake, sleep, max_retries=2) as publisher:
        with pytest.raises(ProviderUnavailableError) as caught:
            await publisher.publish(article())

    message = str(caught.value)
    assert "creating post 'may-loc-khong-khi'" in message
    assert "after 3 attempt(s)" in message
    assert BASE_URL in message
    assert len(fake.requests_to("POST", "/wp/v2/posts")) == 3
    assert len(sleep.waits) == 2
    assert fake.posts == []
    assert_no_secret(message)


@pytest.mark.anyio
async def test_timeout_on_every_attempt_names_timeout(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("GET", "/wp/v2/posts", "timeout", times=100)

    async with make_publisher(fake, sleep, max_retries=1) as publisher:
        with pytest.raises(ProviderUnavailableError, match="timed out"):
            await publisher.publish(article())


# A slug that exists already


@pytest.mark.anyio
async def test_existing_slug_is_updated(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    existing = fake.add_post("may-loc-khong-khi", title="Bài cũ")

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article(status="publish"))

    assert len(fake.posts) == 1
    assert fake.posts[0].id == existing.id
    assert fake.posts[0].title == "Máy lọc không khí cho phòng ngủ"
    assert result.created is False
    assert result.remote_id == existing.id
    assert fake.requests_to("POST", "/wp/v2/posts") == []


@pytest.mark.anyio
async def test_existing_draft_is_found(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    existing = fake.add_post("may-loc-khong-khi", status="draft")

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article())

    assert [post.id for post in fake.posts] == [existing.id]
    assert result.created is False


@pytest.mark.anyio
async def test_republishing_keeps_one_post_per_language(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    results = []
    async with make_publisher(fake, sleep) as publisher:
        for _ in range(5):
            for language in ("vi", "en"):
                results.append(await publisher.publish(article(language=language)))

    assert sorted(post.slug for post in fake.posts) == ["may-loc-khong-khi", "may-loc-khong-khi-en"]
    assert len(fake.media) == 2
    assert [result.created for result in results] == [True, True] + [False] * 8
    assert all(not post.slug.endswith("-2") for post in fake.posts)
    assert all(post.featured_media for post in fake.posts)


@pytest.mark.anyio
async def test_republishing_with_new_publisher_finds_post(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    for _ in range(3):
        async with make_publisher(fake, sleep) as publisher:
            await publisher.publish(article())

    assert len(fake.posts) == 1
    assert len(fake.media) == 1
    assert len(fake.tags) == 1
    assert len(fake.categories) == 2


@pytest.mark.anyio
async def test_slug_of_other_language_is_refused(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    existing = fake.add_post("may-loc-khong-khi")
    existing.meta["k2w_language"] = "en"

    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(ProviderRequestError, match="is in language 'en', not 'vi'"):
            await publisher.publish(article(language="vi"))


@pytest.mark.parametrize(
    ("slug", "language", "expected"),
    [
        ("may-loc-khong-khi", "vi", "may-loc-khong-khi"),
        ("may-loc-khong-khi", "en", "may-loc-khong-khi-en"),
        ("may-loc-khong-khi", "VI", "may-loc-khong-khi"),
        ("may-loc-khong-khi", "pt_BR", "may-loc-khong-khi-pt-br"),
        ("du lịch Đà Lạt", "vi", "du-lich-da-lat"),
        ("đường-đi", "en", "duong-di-en"),
        ("Abc_Def", "vi", "abc-def"),
    ],
)
def test_post_slug_rule(slug: str, language: str, expected: str) -> None:
    publisher = WordPressPublisher(make_settings())

    assert publisher.post_slug(slug, language) == expected


def test_post_slug_fits_wordpress_limit() -> None:
    publisher = WordPressPublisher(make_settings())

    slug = publisher.post_slug("a" * 300, "zh-hant")

    assert len(slug) <= 200 - 13
    assert slug.endswith("-zh-hant")


def test_post_slug_follows_primary_language() -> None:
    publisher = WordPressPublisher(make_settings(primary_language="en"))

    assert publisher.post_slug("air-purifier", "en") == "air-purifier"
    assert publisher.post_slug("air-purifier", "vi") == "air-purifier-vi"


# The image of a Vietnamese article


@pytest.mark.anyio
async def test_image_file_name_is_ascii_slug(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(slug="máy lọc không khí Đà Lạt"))
        await publisher.publish(article(slug="máy lọc không khí Đà Lạt", language="en"))

    dispositions = [
        request.headers["content-disposition"]
        for request in fake.requests_to("POST", "/wp/v2/media")
    ]
    assert dispositions == [
        'attachment; filename="may-loc-khong-khi-da-lat.png"',
        'attachment; filename="may-loc-khong-khi-da-lat-en.png"',
    ]
    assert all(value.isascii() for value in dispositions)
    assert [item.filename for item in fake.media] == [
        "may-loc-khong-khi-da-lat.png",
        "may-loc-khong-khi-da-lat-en.png",
    ]


@pytest.mark.anyio
async def test_image_upload_sets_type_and_alt_text(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(image_alt="Phòng ngủ có máy lọc không khí"))

    (upload,) = fake.requests_to("POST", "/wp/v2/media")
    assert upload.headers["content-type"] == "image/png"
    assert upload.body == PNG_BYTES
    (media,) = fake.media
    assert media.alt_text == "Phòng ngủ có máy lọc không khí"
    assert media.title == "Máy lọc không khí cho phòng ngủ"
    assert media.slug.startswith("may-loc-khong-khi-")


@pytest.mark.anyio
async def test_republish_reuses_uploaded_image(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        first = await publisher.publish(article())
        second = await publisher.publish(article(image_alt="Ảnh mới"))

    assert len(fake.requests_to("POST", "/wp/v2/media")) == 1
    (media,) = fake.media
    assert media.alt_text == "Ảnh mới"
    assert fake.posts[0].featured_media == media.id
    assert first.image_location == second.image_location


@pytest.mark.anyio
async def test_changed_image_is_uploaded_again(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    new_image = GeneratedImage(
        data=PNG_BYTES + b"changed", media_type="image/png", alt_text="Ảnh", generator="test"
    )

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())
        await publisher.publish(article(image=new_image))

    assert len(fake.media) == 2
    assert fake.posts[0].featured_media == fake.media[1].id


@pytest.mark.anyio
async def test_upload_timeout_after_storing_reuses_media(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("POST", "/wp/v2/media", "timeout_after_processing")

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())

    assert len(fake.media) == 1
    assert len(fake.requests_to("POST", "/wp/v2/media")) == 1
    assert fake.posts[0].featured_media == fake.media[0].id


@pytest.mark.anyio
async def test_article_without_image_has_no_featured_media(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article(image=None))

    assert fake.media == []
    assert fake.posts[0].featured_media == 0
    assert result.image_location is None


# Rejected credentials


@pytest.mark.anyio
async def test_wrong_password_raises_auth_error_at_once(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(
        fake, sleep, application_password="wxyz WXYZ wxyz WXYZ wxyz WXYZ"
    ) as publisher:
        with pytest.raises(ProviderAuthError) as caught:
            await publisher.publish(article())

    message = str(caught.value)
    assert BASE_URL in message
    assert "'editor'" in message
    assert "status=any is forbidden" in message
    assert "application password" in message
    assert "WP_ENVIRONMENT_TYPE" in message
    assert "Authorization header" in message
    assert sleep.waits == []
    assert fake.posts == []
    assert "wxyz" not in message.lower()


@pytest.mark.anyio
async def test_create_refused_is_not_retried(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    fake.add_fault("POST", "/wp/v2/posts", "unauthorized")

    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(ProviderAuthError, match="401 rest_cannot_create") as caught:
            await publisher.publish(article())

    assert len(fake.requests_to("POST", "/wp/v2/posts")) == 1
    assert sleep.waits == []
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


@pytest.mark.anyio
async def test_disabled_application_passwords_named(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.application_passwords_enabled = False

    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(ProviderAuthError, match="application_passwords_disabled") as caught:
            await publisher.publish(article())

    assert "turned off" in str(caught.value)
    assert sleep.waits == []
    assert_no_secret(str(caught.value))


def test_auth_error_is_unrecoverable() -> None:
    from k2w._errors import UnrecoverableError

    assert issubclass(ProviderAuthError, UnrecoverableError)


# SEO meta that the site does not store


@pytest.mark.anyio
async def test_unregistered_seo_meta_reported(
    fake: FakeWordPress, sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="k2w.providers")

    async with make_publisher(fake, sleep, seo_plugin="rankmath") as publisher:
        result = await publisher.publish(article())

    assert result.unsaved_fields == RANK_MATH_KEYS
    assert len(fake.posts) == 1
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    for key in RANK_MATH_KEYS:
        assert key in warnings[0].getMessage()


@pytest.mark.anyio
async def test_registered_seo_meta_stored(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    request = article(seo_meta={"title": "Máy lọc không khí tốt nhất 2025", "description": "Mô tả"})

    async with make_publisher(fake, sleep, seo_plugin="yoast") as publisher:
        result = await publisher.publish(request)

    assert result.unsaved_fields == []
    assert fake.posts[0].meta == {
        "_yoast_wpseo_title": "Máy lọc không khí tốt nhất 2025",
        "_yoast_wpseo_metadesc": "Mô tả",
        "_yoast_wpseo_focuskw": "máy lọc không khí",
        "k2w_language": "vi",
    }


@pytest.mark.anyio
async def test_other_seo_meta_keys_sent_unchanged(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    request = article(seo_meta={"_yoast_wpseo_canonical": "https://127.0.0.1/canonical"})

    async with make_publisher(fake, sleep, seo_plugin="yoast") as publisher:
        result = await publisher.publish(request)

    assert result.unsaved_fields == ["_yoast_wpseo_canonical"]


@pytest.mark.anyio
async def test_seo_plugin_none_sends_no_seo_meta(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep, seo_plugin="none") as publisher:
        result = await publisher.publish(article())

    assert result.unsaved_fields == []
    assert fake.posts[0].meta == {"k2w_language": "vi"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("namespace", "expected_keys"),
    [("yoast/v1", YOAST_KEYS), ("rankmath/v1", RANK_MATH_KEYS), (None, [])],
)
async def test_seo_plugin_auto_detects_namespace(
    sleep: RecordingSleep, namespace: str | None, expected_keys: list[str]
) -> None:
    namespaces = ["wp/v2"] if namespace is None else ["wp/v2", namespace]
    fake = FakeWordPress(
        base_url=BASE_URL,
        username=USERNAME,
        application_password=PASSWORD,
        namespaces=namespaces,
    )

    async with make_publisher(fake, sleep, seo_plugin="auto") as publisher:
        result = await publisher.publish(article())

    assert result.unsaved_fields == expected_keys


# Tags and categories that exist


@pytest.mark.anyio
async def test_existing_tag_found_by_name(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    existing = fake.add_term("tags", "Gia dụng")

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())

    assert fake.tags == [existing]
    assert fake.posts[0].tags == [existing.id]
    assert fake.requests_to("POST", "/wp/v2/tags") == []


@pytest.mark.anyio
async def test_term_exists_resolves_to_existing_id(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    existing = fake.add_term("tags", "Gia dụng")

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(tags=["gia-dung"]))

    assert len(fake.requests_to("POST", "/wp/v2/tags")) == 1
    assert fake.tags == [existing]
    assert fake.posts[0].tags == [existing.id]


@pytest.mark.anyio
async def test_escaped_term_name_matches(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    existing = fake.add_term("categories", "Ăn & uống")

    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(categories=["Ăn & uống"]))

    assert fake.requests_to("POST", "/wp/v2/categories") == []
    assert fake.posts[0].categories == [existing.id]


@pytest.mark.anyio
async def test_new_terms_created_once(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article(tags=["Gia dụng", "gia dụng", "Sức khỏe"]))
        await publisher.publish(article(slug="khac", tags=["Sức khỏe"]))

    assert [term.name for term in fake.tags] == ["Gia dụng", "Sức khỏe"]
    assert len(fake.requests_to("POST", "/wp/v2/tags")) == 2


# Responses that cannot be used


@pytest.mark.anyio
async def test_php_warning_before_json_is_response_error(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    fake.add_fault("POST", "/wp/v2/posts", "php_warning")

    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(ProviderResponseError) as caught:
            await publisher.publish(article())

        message = str(caught.value)
        assert f"POST {BASE_URL}/wp-json/wp/v2/posts" in message
        assert "<br /> <b>Warning</b>" in message
        assert "display_errors" in message
        assert sleep.waits == []

        result = await publisher.publish(article())

    assert len(fake.posts) == 1
    assert result.created is False


@pytest.mark.anyio
async def test_rejected_image_type_publishes_without_image(
    fake: FakeWordPress, sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="k2w.providers")
    svg = GeneratedImage(
        data=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        media_type="image/svg+xml",
        alt_text="Máy lọc không khí",
        generator="test",
    )

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article(image=svg))

    assert len(fake.posts) == 1
    assert fake.posts[0].featured_media == 0
    assert result.unsaved_fields == ["featured_media"]
    assert result.image_location is None
    assert len(fake.requests_to("POST", "/wp/v2/media")) == 1
    assert sleep.waits == []
    assert "not allowed to upload this file type" in caplog.text


@pytest.mark.anyio
async def test_invalid_parameter_is_request_error(sleep: RecordingSleep) -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/wp-json/":
            return httpx.Response(200, json={"namespaces": ["wp/v2"]})
        return httpx.Response(
            400,
            json={
                "code": "rest_invalid_param",
                "message": "Invalid parameter(s): per_page",
                "data": {"status": 400, "params": {"per_page": "per_page must be at most 100"}},
            },
        )

    async with WordPressPublisher(
        make_settings(), transport=httpx.MockTransport(reject), sleep=sleep
    ) as publisher:
        with pytest.raises(ProviderRequestError, match="400 rest_invalid_param"):
            await publisher.publish(article())

    assert sleep.waits == []


@pytest.mark.anyio
async def test_rate_limit_carries_retry_after(sleep: RecordingSleep) -> None:
    def limit(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/wp-json/":
            return httpx.Response(200, json={"namespaces": ["wp/v2"]})
        return httpx.Response(429, headers={"Retry-After": "7"}, text="Too Many Requests")

    async with WordPressPublisher(
        make_settings(), transport=httpx.MockTransport(limit), sleep=sleep
    ) as publisher:
        with pytest.raises(ProviderRateLimitedError) as caught:
            await publisher.publish(article())

    assert caught.value.retry_after == 7.0


@pytest.mark.anyio
async def test_redirect_names_the_target(sleep: RecordingSleep) -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        target = str(request.url).replace("http://", "https://")
        return httpx.Response(301, headers={"Location": target})

    async with WordPressPublisher(
        make_settings(), transport=httpx.MockTransport(redirect), sleep=sleep
    ) as publisher:
        with pytest.raises(
            ProviderRequestError, match=re.escape("https://127.0.0.1:8080/wp-json/")
        ):
            await publisher.publish(article())


# Finding the REST API


@pytest.mark.anyio
async def test_rest_route_used_without_pretty_permalinks(sleep: RecordingSleep) -> None:
    fake = FakeWordPress(
        base_url=BASE_URL,
        username=USERNAME,
        application_password=PASSWORD,
        pretty_permalinks=False,
    )

    async with make_publisher(fake, sleep) as publisher:
        result = await publisher.publish(article())

    assert result.created is True
    assert len(fake.posts) == 1
    assert fake.requests[0].route == "/"
    assert {request.path for request in fake.requests} == {"/"}


@pytest.mark.anyio
async def test_base_url_with_wp_json_suffix_works(
    fake: FakeWordPress, sleep: RecordingSleep
) -> None:
    async with make_publisher(fake, sleep, base_url=f"{BASE_URL}/wp-json/") as publisher:
        await publisher.publish(article())

    assert len(fake.posts) == 1


@pytest.mark.anyio
async def test_site_without_rest_api_is_response_error(sleep: RecordingSleep) -> None:
    def not_wordpress(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, html="<h1>Not Found</h1>")

    async with WordPressPublisher(
        make_settings(), transport=httpx.MockTransport(not_wordpress), sleep=sleep
    ) as publisher:
        with pytest.raises(ProviderResponseError, match="no WordPress REST API found"):
            await publisher.publish(article())


@pytest.mark.anyio
async def test_rest_api_without_wp_v2_is_response_error(sleep: RecordingSleep) -> None:
    fake = FakeWordPress(
        base_url=BASE_URL,
        username=USERNAME,
        application_password=PASSWORD,
        namespaces=["oembed/1.0"],
    )

    async with make_publisher(fake, sleep) as publisher:
        with pytest.raises(ProviderResponseError, match="does not offer wp/v2"):
            await publisher.publish(article())


@pytest.mark.anyio
async def test_rest_api_discovered_once(fake: FakeWordPress, sleep: RecordingSleep) -> None:
    async with make_publisher(fake, sleep) as publisher:
        await publisher.publish(article())
        await publisher.publish(article(language="en"))

    assert len([request for request in fake.requests if request.route == "/"]) == 1


# Settings and secrets


def test_settings_hide_password() -> None:
    settings = make_settings()

    assert_no_secret(repr(settings))
    assert_no_secret(str(settings))
    assert_no_secret(settings.model_dump_json())
    assert settings.application_password.get_secret_value() == PASSWORD


def test_publisher_repr_hides_password() -> None:
    publisher = WordPressPublisher(make_settings())

    assert_no_secret(repr(publisher))
    assert BASE_URL in repr(publisher)


def test_publisher_satisfies_protocol() -> None:
    publisher: Publisher = WordPressPublisher(make_settings())

    assert publisher.name == "wordpress"


@pytest.mark.anyio
async def test_logs_never_contain_password(
    fake: FakeWordPress, sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_fault("POST", "/wp/v2/posts", "timeout_after_processing")

    async with make_publisher(fake, sleep, seo_plugin="rankmath") as publisher:
        await publisher.publish(article())
        fake.add_fault("GET", "/wp/v2/posts", "connect_error", times=100)
        with pytest.raises(ProviderError):
            await publisher.publish(article())

    assert "retry 1 of 3" in caplog.text
    assert "updating it instead of creating another" in caplog.text
    assert_no_secret(caplog.text)


def test_from_env_reads_variables() -> None:
    environ = {
        "K2W_WP_URL": "https://127.0.0.1:8443/",
        "K2W_WP_USER": "editor",
        "K2W_WP_APP_PASSWORD": PASSWORD,
    }

    settings = WordPressSettings.from_env(environ, seo_plugin="none")

    assert settings.base_url == "https://127.0.0.1:8443"
    assert settings.username == "editor"
    assert settings.application_password.get_secret_value() == PASSWORD
    assert settings.seo_plugin == "none"


def test_from_env_names_missing_variables() -> None:
    with pytest.raises(ConfigurationError) as caught:
        WordPressSettings.from_env({"K2W_WP_URL": "http://127.0.0.1:8089"})

    assert "K2W_WP_USER" in str(caught.value)
    assert "K2W_WP_APP_PASSWORD" in str(caught.value)
    assert "K2W_WP_URL" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["127.0.0.1:8089", "ftp://127.0.0.1", "http://127.0.0.1/?p=1", ""]
)
def test_settings_reject_bad_base_url(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        make_settings(base_url=base_url)


def test_settings_reject_empty_password() -> None:
    with pytest.raises(ValueError, match="application_password"):
        make_settings(application_password="   ")


# The fake itself, where it copies WordPress behaviour that the tests above rely on


@pytest.mark.anyio
async def test_fake_appends_number_to_taken_slug(fake: FakeWordPress) -> None:
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=BASE_URL, auth=(USERNAME, PASSWORD)
    ) as client:
        for status in ("draft", "draft", "publish"):
            response = await client.post(
                "/wp-json/wp/v2/posts", json={"title": "Đi chợ", "slug": "di-cho", "status": status}
            )
            assert response.status_code == 201

    assert [post.slug for post in fake.posts] == ["di-cho", "di-cho-2", "di-cho-3"]


@pytest.mark.anyio
async def test_fake_forbids_status_any_anonymously(fake: FakeWordPress) -> None:
    fake.add_post("di-cho", status="draft")

    async with httpx.AsyncClient(transport=fake.transport, base_url=BASE_URL) as client:
        any_status = await client.get("/wp-json/wp/v2/posts", params={"status": "any"})
        published = await client.get("/wp-json/wp/v2/posts", params={"slug": "di-cho"})

    assert any_status.status_code == 400
    assert any_status.json()["data"]["params"]["status"] == "Status is forbidden."
    assert published.status_code == 200
    assert published.json() == []


@pytest.mark.anyio
async def test_fake_drops_unregistered_meta(fake: FakeWordPress) -> None:
    async with httpx.AsyncClient(
        transport=fake.transport, base_url=BASE_URL, auth=(USERNAME, PASSWORD)
    ) as client:
        response = await client.post(
            "/wp-json/wp/v2/posts",
            json={"title": "x", "meta": {"_yoast_wpseo_title": "T", "rank_math_title": "R"}},
        )

    assert response.status_code == 201
    assert response.json()["meta"]["_yoast_wpseo_title"] == "T"
    assert "rank_math_title" not in response.json()["meta"]
    assert fake.posts[0].slug == ""
