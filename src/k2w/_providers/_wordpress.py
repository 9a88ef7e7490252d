"""Publishing to WordPress through its REST API, signed in with an application password.

:class:`WordPressPublisher` keeps one post per slug and language, however often an article is
published: it looks the post up by slug (``status=any``, so drafts count) before it creates
one, and again after a create that failed ambiguously (a timeout, a dropped connection or a
5xx). A post that exists is updated; WordPress would otherwise store the new one as
``<slug>-2``. Usage::

    settings = WordPressSettings.from_env()
    async with WordPressPublisher(settings) as publisher:
        result = await publisher.publish(request)

WordPress core has no language field, so the language is part of the slug (see
:meth:`WordPressPublisher.post_slug`) and is also sent as the ``k2w_language`` post meta,
which WordPress stores only when the site registers that key.

Errors:

- :class:`ProviderAuthError`: 401 or 403, or ``status=any`` rejected as forbidden.
  Not retried; the message lists what to check and never contains the password.
- :class:`ProviderUnavailableError`: timeouts, connection errors and 5xx that went on
  after ``max_retries`` retries.
- :class:`ProviderRateLimitedError`: 429, with the ``Retry-After`` wait.
- :class:`ProviderRequestError`: any other rejected request, or a redirect.
- :class:`ProviderResponseError`: a successful status with a body that is not the
  expected JSON, such as PHP warnings printed ahead of it.
- :class:`InvalidInputError`: a request that cannot be published as given.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import anyio
import backoff
import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from slugify import slugify

from .._errors import (
    ConfigurationError,
    InvalidInputError,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from ._models import GeneratedImage, PublishRequest, PublishResult

__all__ = ["LANGUAGE_META_KEY", "SEO_META_KEYS", "WordPressPublisher", "WordPressSettings"]

logger = logging.getLogger("k2w.providers")

SeoPlugin = Literal["none", "yoast", "rankmath", "auto"]
PostStatus = Literal["draft", "publish", "future"]

SEO_META_KEYS: Mapping[str, Mapping[str, str]] = {
    "yoast": {
        "title": "_yoast_wpseo_title",
        "description": "_yoast_wpseo_metadesc",
        "focus_keyword": "_yoast_wpseo_focuskw",
    },
    "rankmath": {
        "title": "rank_math_title",
        "description": "rank_math_description",
        "focus_keyword": "rank_math_focus_keyword",
    },
}
"""Post meta keys of the SEO plugins, by plugin and by the key used in ``seo_meta``."""

LANGUAGE_META_KEY = "k2w_language"
"""Post meta key that carries the article's language, stored if the site registers it."""

_ENV_VARIABLES = {
    "base_url": "K2W_WP_URL",
    "username": "K2W_WP_USER",
    "application_password": "K2W_WP_APP_PASSWORD",
}

# WordPress cuts slugs at 200 characters. The base slug is capped lower so that the language
# suffix and the media slug's digest always fit, and a lookup finds exactly what was stored.
_MAX_BASE_SLUG_LENGTH = 160
_MEDIA_DIGEST_LENGTH = 12

_FIRST_RETRY_WAIT = 0.5
_MAX_RETRY_WAIT = 30.0
_DEFAULT_RATE_LIMIT_WAIT = 60.0
_BODY_EXCERPT_LENGTH = 200
_LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")

# 5xx codes that WordPress uses for failures a retry cannot fix. It returns 500
# rest_upload_sideload_error when the file type is not allowed (SVG, by default).
_PERMANENT_SERVER_ERROR_CODES = frozenset({"rest_upload_sideload_error"})

_T = TypeVar("_T")


class WordPressSettings(BaseModel):
    """Settings of :class:`WordPressPublisher`: the site, the credentials and post defaults.

    ``application_password`` is a WordPress application password (Users → Profile →
    Application Passwords), not the user's login password. It is a ``SecretStr``, so the
    settings' ``repr`` and ``str`` show asterisks in its place.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    """The site's address, such as ``https://blog.example.com``; the REST API is found from it."""
    username: str = Field(min_length=1)
    application_password: SecretStr
    default_status: PostStatus = "draft"
    """Post status used when a request does not set ``status`` itself."""
    default_categories: tuple[str, ...] = ()
    """Category names used when a request names none."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for each stage of a request (connect, write, read)."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries after a timeout, connection error or 5xx, with exponential backoff."""
    seo_plugin: SeoPlugin = "auto"
    """SEO plugin whose meta keys are sent; ``auto`` looks for its REST namespace."""
    verify_tls: bool = True
    primary_language: str = "vi"
    """Language whose posts use the slug unchanged; other languages get ``-<language>``."""

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        url = url.removesuffix("/wp-json").rstrip("/")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"base_url {value!r} is not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                f"base_url {value!r} must be the site's http:// or https:// address, "
                "for example https://blog.example.com"
            )
        if parsed.query or parsed.fragment:
            raise ValueError(f"base_url {value!r} must not contain a query or a fragment")
        return url

    @field_validator("application_password")
    @classmethod
    def _require_password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("application_password must not be empty")
        return value

    @field_validator("primary_language")
    @classmethod
    def _normalise_primary_language(cls, value: str) -> str:
        return _normalise_language(value)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> WordPressSettings:
        """Build settings from ``K2W_WP_URL``, ``K2W_WP_USER`` and ``K2W_WP_APP_PASSWORD``.

        ``environ`` defaults to ``os.environ``; ``overrides`` sets any other field.
        Raises :class:`ConfigurationError` naming every variable that is missing.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in _ENV_VARIABLES.values() if not env.get(name, "").strip()]
        if missing:
            raise ConfigurationError(
                f"missing environment variable(s) {', '.join(missing)}: set them to the "
                "WordPress site's address, the user name and an application password"
            )
        values: dict[str, Any] = {
            field: env[name].strip() for field, name in _ENV_VARIABLES.items()
        }
        values.update(overrides)
        return cls.model_validate(values)


@dataclass(frozen=True)
class _RestApi:
    """Location of the site's REST API: under ``/wp-json/`` or through ``?rest_route=``."""

    base_url: str
    pretty_paths: bool
    namespaces: frozenset[str]

    def endpoint(self, route: str, params: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
        query = dict(params or {})
        if self.pretty_paths:
            return f"{self.base_url}/wp-json/{route}", query
        return f"{self.base_url}/", {"rest_route": f"/{route}", **query}


@dataclass(frozen=True)
class _Media:
    id: int
    source_url: str | None


class _TransientError(Exception):
    """A timeout, connection error or 5xx: the request may be retried."""


class _RejectedError(Exception):
    """A 4xx other than 401, 403 and 429; ``code`` and ``data`` come from WordPress's JSON."""

    def __init__(self, where: str, status: int, code: str, message: str, data: Any) -> None:
        super().__init__(f"{where} was rejected with {status} {code or '(no code)'}: {message}")
        self.status = status
        self.code = code
        self.data = data


class WordPressPublisher:
    """Publishes articles as WordPress posts through the REST API (``/wp/v2``).

    Requests use HTTP Basic authentication with the application password, share one
    connection pool, and are retried after timeouts, connection errors and 5xx responses.
    ``transport`` replaces the network (for example with ``httpx.MockTransport``) and
    ``sleep`` replaces :func:`anyio.sleep` for the waits between retries.

    Publishing the same slug and language again updates the post made the first time.
    The REST root is found once, from ``<base_url>/wp-json/`` or else ``?rest_route=/``.
    """

    name = "wordpress"

    def __init__(
        self,
        settings: WordPressSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(
                settings.username, settings.application_password.get_secret_value()
            ),
            timeout=httpx.Timeout(settings.timeout),
            verify=settings.verify_tls,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "k2w"},
        )
        self._api: _RestApi | None = None
        self._api_lock = anyio.Lock()
        self._term_id_cache: dict[tuple[str, str], int] = {}
        # WordPress checks for an existing term and then inserts without a lock, so two
        # concurrent creates of one name can leave two terms. Terms are created one at a time.
        self._term_lock = anyio.Lock()
        self._slug_locks: weakref.WeakValueDictionary[str, anyio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        settings = self._settings
        return f"WordPressPublisher(base_url={settings.base_url!r}, username={settings.username!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def post_slug(self, slug: str, language: str) -> str:
        """Return the WordPress slug of the article ``slug`` in ``language``.

        Posts in ``primary_language`` keep the slug; other languages get ``-<language>``
        appended, so ``may-loc-khong-khi`` in ``en`` is ``may-loc-khong-khi-en``. The slug
        is first made ASCII (``đ`` becomes ``d``), lowercased and cut to 160 characters,
        so that WordPress stores it unchanged and a lookup by slug finds the post again.
        """
        base = slugify(
            slug.replace("đ", "d").replace("Đ", "D"),
            lowercase=True,
            max_length=_MAX_BASE_SLUG_LENGTH,
        )
        if not base:
            raise InvalidInputError(
                f"slug {slug!r} has no letters or digits to publish under; "
                "pass a slug such as 'may-loc-khong-khi'"
            )
        normalised_language = _normalise_language(language)
        if normalised_language == self._settings.primary_language:
            return base
        return f"{base}-{normalised_language}"

    async def publish(self, request: PublishRequest) -> PublishResult:
        """Create or update the post of ``request.slug`` in ``request.language``.

        Categories and tags are found by name or created. The featured image is uploaded
        once per slug and image content and reused afterwards. SEO meta that the site did
        not store is listed in :attr:`PublishResult.unsaved_fields` and logged as a warning.
        """
        language = _normalise_language(request.language)
        slug = self.post_slug(request.slug, language)
        fields = self._post_fields(request, slug)

        lock = self._slug_locks.get(slug)
        if lock is None:
            lock = anyio.Lock()
            self._slug_locks[slug] = lock

        async with lock:
            try:
                return await self._publish(request, language, slug, fields)
            except _RejectedError as exc:
                raise ProviderRequestError(str(exc)) from None

    async def _publish(
        self, request: PublishRequest, language: str, slug: str, fields: dict[str, Any]
    ) -> PublishResult:
        api = await self._rest_api()
        existing = await self._find_post(slug)
        if existing is not None:
            _check_post_language(existing, slug, language)

        body = dict(fields)
        category_names = request.categories or list(self._settings.default_categories)
        body["categories"] = await self._term_ids("categories", category_names)
        body["tags"] = await self._term_ids("tags", request.tags)
        meta = self._post_meta(request, language, self._seo_plugin(api))
        body["meta"] = meta

        media: _Media | None = None
        if request.image is not None:
            alt_text = request.image_alt or request.image.alt_text
            media = await self._featured_media(request.image, slug, request.title, alt_text)
        if media is not None:
            body["featured_media"] = media.id

        if existing is None:
            post_id = await self._create_post(slug, body)
            created = True
        else:
            post_id = _require_int(existing, "id", "the post found by slug")
            logger.info("WordPress post %d has slug %r; updating it", post_id, slug)
            await self._update_post(post_id, body)
            created = False

        stored = await self._read_post(post_id)
        unsaved = _unsaved_fields(body, stored)
        if request.image is not None and media is None:
            unsaved = sorted([*unsaved, "featured_media"])
        if unsaved:
            logger.warning(
                "WordPress post %d (%s) did not store %s; WordPress stores a meta key only "
                "when the site registers it for the REST API",
                post_id,
                slug,
                ", ".join(unsaved),
            )

        link = stored.get("link")
        location = link if isinstance(link, str) and link else f"{api.base_url}/?p={post_id}"
        return PublishResult(
            publisher=self.name,
            language=language,
            slug=str(stored.get("slug") or slug),
            location=location,
            created=created,
            image_location=media.source_url if media is not None else None,
            remote_id=post_id,
            unsaved_fields=unsaved,
        )

    def _post_fields(self, request: PublishRequest, slug: str) -> dict[str, Any]:
        if "status" in request.model_fields_set:
            status = request.status
        else:
            status = self._settings.default_status

        fields: dict[str, Any] = {
            "title": request.title,
            "content": request.html,
            "excerpt": request.meta_description,
            "slug": slug,
            "status": status,
        }
        fields.update(_post_date(request.date, status))
        return fields

    def _seo_plugin(self, api: _RestApi) -> str:
        plugin = self._settings.seo_plugin
        if plugin != "auto":
            return plugin
        if "yoast/v1" in api.namespaces:
            return "yoast"
        if "rankmath/v1" in api.namespaces:
            return "rankmath"
        return "none"

    def _post_meta(self, request: PublishRequest, language: str, plugin: str) -> dict[str, str]:
        seo_values = {
            "title": request.title,
            "description": request.meta_description,
            "focus_keyword": request.keyword,
        }
        meta = {LANGUAGE_META_KEY: language}
        for key, value in request.seo_meta.items():
            if key in seo_values:
                seo_values[key] = value
            else:
                meta[key] = value

        for field, key in SEO_META_KEYS.get(plugin, {}).items():
            meta[key] = seo_values[field]
        return meta

    # Posts

    async def _find_post(self, slug: str) -> dict[str, Any] | None:
        params = {"slug": slug, "status": "any", "context": "edit", "per_page": "10"}
        found = await self._with_retries(
            f"looking up post {slug!r}", partial(self._call, "GET", "wp/v2/posts", params=params)
        )
        matches = [
            post for post in _require_list(found, "the post lookup") if post.get("slug") == slug
        ]
        if not matches:
            logger.info("WordPress has no post with slug %r", slug)
            return None

        oldest = min(matches, key=lambda post: _require_int(post, "id", "a post"))
        if len(matches) > 1:
            logger.warning(
                "WordPress has %d posts with slug %r; updating the oldest, %d",
                len(matches),
                slug,
                oldest["id"],
            )
        return oldest

    async def _create_post(self, slug: str, body: dict[str, Any]) -> int:
        async def create() -> int:
            post = await self._call("POST", "wp/v2/posts", json_body=body)
            post_id = _require_int(post, "id", "the created post")
            logger.info("WordPress created post %d with slug %r", post_id, slug)
            return post_id

        async def recover() -> int | None:
            found = await self._find_post(slug)
            if found is None:
                return None
            post_id = _require_int(found, "id", "the post found by slug")
            logger.info(
                "WordPress created post %d with slug %r although the request failed; "
                "updating it instead of creating another",
                post_id,
                slug,
            )
            await self._update_post(post_id, body)
            return post_id

        return await self._with_retries(f"creating post {slug!r}", create, recover=recover)

    async def _update_post(self, post_id: int, body: dict[str, Any]) -> None:
        await self._with_retries(
            f"updating post {post_id}",
            partial(self._call, "POST", f"wp/v2/posts/{post_id}", json_body=body),
        )

    async def _read_post(self, post_id: int) -> dict[str, Any]:
        post = await self._with_retries(
            f"reading post {post_id}",
            partial(self._call, "GET", f"wp/v2/posts/{post_id}", params={"context": "edit"}),
        )
        return _require_dict(post, f"post {post_id}")

    # Categories and tags

    async def _term_ids(self, taxonomy: str, names: Sequence[str]) -> list[int]:
        unique_names = dict.fromkeys(name.strip() for name in names if name.strip())
        return [await self._term_id(taxonomy, name) for name in unique_names]

    async def _term_id(self, taxonomy: str, name: str) -> int:
        key = (taxonomy, name.casefold())
        async with self._term_lock:
            cached = self._term_id_cache.get(key)
            if cached is not None:
                return cached

            term_id = await self._find_term(taxonomy, name)
            if term_id is None:
                term_id = await self._create_term(taxonomy, name)
            self._term_id_cache[key] = term_id
            return term_id

    async def _find_term(self, taxonomy: str, name: str) -> int | None:
        params = {"search": name, "per_page": "100", "context": "view"}
        found = await self._with_retries(
            f"looking up {taxonomy} {name!r}",
            partial(self._call, "GET", f"wp/v2/{taxonomy}", params=params),
        )
        for term in _require_list(found, f"the {taxonomy} lookup"):
            # WordPress returns names HTML-escaped ("Ăn &amp; uống").
            if html.unescape(str(term.get("name", ""))).casefold() == name.casefold():
                return _require_int(term, "id", f"a {taxonomy} term")
        return None

    async def _create_term(self, taxonomy: str, name: str) -> int:
        try:
            term = await self._with_retries(
                f"creating {taxonomy} {name!r}",
                partial(self._call, "POST", f"wp/v2/{taxonomy}", json_body={"name": name}),
            )
        except _RejectedError as exc:
            # WordPress matches existing names more loosely than the search above, and a
            # retried create also ends here. Its error response contains the existing id.
            term_id = exc.data.get("term_id") if isinstance(exc.data, dict) else None
            if exc.code != "term_exists" or not isinstance(term_id, int):
                raise
            logger.info("WordPress already has %s %r as term %d", taxonomy, name, term_id)
            return term_id

        term_id = _require_int(term, "id", f"the created {taxonomy} term")
        logger.info("WordPress created %s %r as term %d", taxonomy, name, term_id)
        return term_id

    # Featured image

    async def _featured_media(
        self, image: GeneratedImage, post_slug: str, title: str, alt_text: str
    ) -> _Media | None:
        """Return the uploaded image, reusing an earlier upload, or ``None`` if it was rejected."""
        # The media slug carries a digest of the image, so a re-published article reuses
        # its upload and a changed image gets uploaded under a new slug.
        digest = hashlib.sha256(image.data).hexdigest()[:_MEDIA_DIGEST_LENGTH]
        media_slug = f"{post_slug}-{digest}"

        found = await self._find_media(media_slug)
        if found is not None:
            media_id = _require_int(found, "id", "the media found by slug")
            logger.info("WordPress already has media %d for %r; reusing it", media_id, media_slug)
            if str(found.get("alt_text", "")).strip() != alt_text.strip():
                await self._with_retries(
                    f"setting the alt text of media {media_id}",
                    partial(
                        self._call,
                        "POST",
                        f"wp/v2/media/{media_id}",
                        json_body={"alt_text": alt_text},
                    ),
                )
            return _media(found)

        return await self._upload_media(image, post_slug, media_slug, title, alt_text)

    async def _find_media(self, media_slug: str) -> dict[str, Any] | None:
        params = {"slug": media_slug, "context": "edit", "per_page": "10"}
        found = await self._with_retries(
            f"looking up media {media_slug!r}",
            partial(self._call, "GET", "wp/v2/media", params=params),
        )
        for item in _require_list(found, "the media lookup"):
            if item.get("slug") == media_slug:
                return item
        return None

    async def _upload_media(
        self, image: GeneratedImage, post_slug: str, media_slug: str, title: str, alt_text: str
    ) -> _Media | None:
        # httpx only sends ASCII header values; the post slug is ASCII by construction.
        filename = f"{post_slug}.{image.extension}"
        headers = {
            "Content-Type": image.media_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
        # WordPress reads the other fields of a raw upload from the query string.
        params = {"slug": media_slug, "title": title, "alt_text": alt_text}

        async def upload() -> _Media:
            media = await self._call(
                "POST", "wp/v2/media", params=params, content=image.data, headers=headers
            )
            uploaded = _media(_require_dict(media, "the uploaded media"))
            logger.info("WordPress stored %s as media %d", filename, uploaded.id)
            return uploaded

        async def recover() -> _Media | None:
            found = await self._find_media(media_slug)
            if found is None:
                return None
            logger.info("WordPress stored %s although the upload failed; reusing it", filename)
            return _media(found)

        try:
            return await self._with_retries(f"uploading {filename}", upload, recover=recover)
        except _RejectedError as exc:
            # The article matters more than its picture: publish it without one, and report
            # featured_media as not saved.
            logger.warning("WordPress rejected the featured image %s: %s", filename, exc)
            return None

    # HTTP

    async def _with_retries(
        self,
        action: str,
        operation: Callable[[], Awaitable[_T]],
        *,
        recover: Callable[[], Awaitable[_T | None]] | None = None,
    ) -> _T:
        """Run ``operation``, retrying it after transient failures with backoff.

        Before each retry, ``recover`` (if given) checks whether the failed attempt took
        effect anyway; a result from it ends the retries.
        """
        waits = _retry_waits()
        attempt = 1
        while True:
            try:
                return await operation()
            except _TransientError as failure:
                if attempt > self._settings.max_retries:
                    raise ProviderUnavailableError(
                        f"{action} on WordPress at {self._settings.base_url} failed after "
                        f"{attempt} attempt(s): {failure}; check that the site is up and "
                        "reachable, then publish again"
                    ) from failure
                wait = next(waits)
                logger.info(
                    "%s on WordPress failed (%s); retry %d of %d in %.2f s",
                    action,
                    failure,
                    attempt,
                    self._settings.max_retries,
                    wait,
                )
                await self._sleep(wait)
                attempt += 1

            if recover is not None:
                recovered = await recover()
                if recovered is not None:
                    return recovered

    async def _rest_api(self) -> _RestApi:
        async with self._api_lock:
            if self._api is None:
                self._api = await self._discover_rest_api()
        return self._api

    async def _discover_rest_api(self) -> _RestApi:
        base_url = self._settings.base_url
        candidates = [
            (f"{base_url}/wp-json/", {}, True),
            (f"{base_url}/", {"rest_route": "/"}, False),
        ]
        failures: list[str] = []
        for url, params, pretty_paths in candidates:
            try:
                index = await self._with_retries(
                    f"reading the REST index {url}",
                    partial(self._fetch, "GET", url, params=params),
                )
            except (_RejectedError, ProviderResponseError) as exc:
                failures.append(str(exc))
                continue

            namespaces = index.get("namespaces") if isinstance(index, dict) else None
            if not isinstance(namespaces, list):
                failures.append(f"{url} returned JSON that is not a REST API index")
                continue
            if "wp/v2" not in namespaces:
                raise ProviderResponseError(
                    f"the REST API at {url} does not offer wp/v2 (it offers "
                    f"{', '.join(map(str, namespaces)) or 'nothing'}); "
                    "check that base_url is a WordPress 4.7 or later site"
                )

            logger.info("WordPress REST API found at %s", url)
            return _RestApi(base_url, pretty_paths, frozenset(map(str, namespaces)))

        raise ProviderResponseError(
            f"no WordPress REST API found at {base_url}: {' | '.join(failures)}; "
            "check base_url (the site's address, without /wp-json)"
        )

    async def _call(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        api = await self._rest_api()
        url, query = api.endpoint(route, params)
        return await self._fetch(
            method, url, params=query, json_body=json_body, content=content, headers=headers
        )

    async def _fetch(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON, or raise what its status means."""
        try:
            response = await self._client.request(
                method, url, params=params, json=json_body, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            where = f"{method} {httpx.URL(url, params=params)}"
            raise _TransientError(f"{where} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            where = f"{method} {httpx.URL(url, params=params)}"
            raise _TransientError(f"{where} failed: {type(exc).__name__}: {exc}") from exc

        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        where = f"{response.request.method} {response.request.url}"
        status = response.status_code
        if response.is_success:
            return _parse_json(response, where)

        payload = _error_payload(response)
        code = str(payload.get("code") or "")
        message = _strip_tags(str(payload.get("message") or _excerpt(response.text)))

        if status >= 500 and code not in _PERMANENT_SERVER_ERROR_CODES:
            raise _TransientError(f"{where} returned {status} {code}: {message}".strip())
        if status in (401, 403):
            raise self._auth_error(status, code, message)
        if _is_status_forbidden(status, payload):
            raise self._auth_error(
                status,
                code,
                "status=any is forbidden, so WordPress did not see valid credentials "
                "when looking up a post by slug",
            )
        if status == 429:
            raise ProviderRateLimitedError(
                f"WordPress at {self._settings.base_url} rate-limited {where} (429)",
                retry_after=_retry_after(response),
            )
        if response.is_redirect:
            target = response.headers.get("location", "?")
            raise ProviderRequestError(
                f"WordPress redirected {where} to {target} ({status}); set base_url to the "
                "address the site redirects to (https, www), because a redirected POST "
                "loses its body and often its Authorization header"
            )
        raise _RejectedError(where, status, code, message, payload.get("data"))

    def _auth_error(self, status: int, code: str, message: str) -> ProviderAuthError:
        settings = self._settings
        text = (
            f"WordPress at {settings.base_url} refused user {settings.username!r} "
            f"({status} {code or '(no code)'}: {message})."
        )
        if code == "application_passwords_disabled":
            text += " Application passwords are turned off on this site."
        text += (
            " Check the username and the application password (Users → Profile → "
            "Application Passwords; it is not the login password); that the site is "
            "served over HTTPS or, on plain http, sets WP_ENVIRONMENT_TYPE to 'local', "
            "because WordPress offers application passwords only then; that no proxy or "
            "web server in front of WordPress drops the Authorization header; and that "
            "the user may publish posts, upload files and create categories and tags "
            "(the Editor role, or Author when every category and tag exists)."
        )
        return ProviderAuthError(text)


# Helpers


def _normalise_language(language: str) -> str:
    normalised = language.strip().lower().replace("_", "-")
    if not _LANGUAGE_PATTERN.match(normalised):
        raise InvalidInputError(
            f"language {language!r} is not a language code; use one such as 'vi', 'en' or 'pt-br'"
        )
    return normalised


def _post_date(date: str | None, status: str) -> dict[str, str]:
    if date is None:
        if status == "future":
            raise InvalidInputError(
                "a post with status 'future' needs a date: set PublishRequest.date to the "
                "publication time in ISO 8601, such as '2025-06-01T08:00:00+07:00'"
            )
        return {}

    try:
        parsed = datetime.fromisoformat(date)
    except ValueError:
        raise InvalidInputError(
            f"date {date!r} is not an ISO 8601 time such as '2025-06-01T08:00:00+07:00'"
        ) from None

    if parsed.tzinfo is None:
        # A time without an offset is in the site's time zone, as WordPress reads "date".
        return {"date": parsed.isoformat(timespec="seconds")}
    utc = parsed.astimezone(UTC).replace(tzinfo=None)
    return {"date_gmt": utc.isoformat(timespec="seconds")}


def _check_post_language(post: Mapping[str, Any], slug: str, language: str) -> None:
    meta = post.get("meta")
    stored = meta.get(LANGUAGE_META_KEY) if isinstance(meta, dict) else None
    if stored and stored != language:
        raise ProviderRequestError(
            f"WordPress post {post.get('id')} with slug {slug!r} is in language {stored!r}, "
            f"not {language!r}; give one of the two articles another slug"
        )


def _unsaved_fields(body: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """List what was sent but is not on the stored post: meta keys, slug, featured_media.

    WordPress returns 200 and drops meta keys that no plugin registered for the REST API,
    and returns registered but unset keys as "". A value that the site changed (trimmed or
    sanitised) counts as stored.
    """
    unsaved: list[str] = []
    stored_meta = stored.get("meta")
    if not isinstance(stored_meta, dict):
        stored_meta = {}
    for key, value in body.get("meta", {}).items():
        if key == LANGUAGE_META_KEY:
            continue
        if value and not stored_meta.get(key):
            unsaved.append(key)

    if stored.get("slug") != body["slug"]:
        unsaved.append("slug")
    if "featured_media" in body and stored.get("featured_media") != body["featured_media"]:
        unsaved.append("featured_media")
    return sorted(unsaved)


def _retry_waits() -> Iterator[float]:
    waits = backoff.expo(base=2, factor=_FIRST_RETRY_WAIT, max_value=_MAX_RETRY_WAIT)
    next(waits)  # backoff's wait generators yield None once before the first wait
    for wait in waits:
        yield backoff.full_jitter(wait)


def _parse_json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderResponseError(
            f"{where} returned {response.status_code} with a body that is not JSON: "
            f"{_excerpt(response.text)!r}. PHP warnings or notices printed ahead of the JSON "
            "are the usual cause; turn display_errors off on the site (WP_DEBUG_DISPLAY false)"
        ) from None


def _error_payload(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _is_status_forbidden(status: int, payload: Mapping[str, Any]) -> bool:
    """Tell whether WordPress rejected ``status=any`` because the request was anonymous."""
    if status != 400 or payload.get("code") != "rest_invalid_param":
        return False
    data = payload.get("data")
    params = data.get("params") if isinstance(data, dict) else None
    return isinstance(params, dict) and "status" in params and "forbidden" in str(params["status"])


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return _DEFAULT_RATE_LIMIT_WAIT


def _media(item: Mapping[str, Any]) -> _Media:
    source_url = item.get("source_url")
    return _Media(
        id=_require_int(item, "id", "a media item"),
        source_url=source_url if isinstance(source_url, str) else None,
    )


def _require_dict(value: Any, description: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderResponseError(
            f"WordPress returned {type(value).__name__} for {description}, expected a JSON object"
        )
    return value


def _require_list(value: Any, description: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProviderResponseError(
            f"WordPress returned {type(value).__name__} for {description}, "
            "expected a JSON list of objects"
        )
    return value


def _require_int(item: Any, key: str, description: str) -> int:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProviderResponseError(f"WordPress returned no integer {key!r} for {description}")
    return value


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _excerpt(text: str) -> str:
    collapsed = " ".join(text.split())
    if len(collapsed) <= _BODY_EXCERPT_LENGTH:
        return collapsed
    return collapsed[:_BODY_EXCERPT_LENGTH] + "…"
