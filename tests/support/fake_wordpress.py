"""An in-memory WordPress REST API for tests, served through ``httpx.MockTransport``.

It responds the way WordPress 6.1 responded on a real site in the cases that the publisher
depends on:

- A new post whose slug is taken gets ``-2``, ``-3``, … appended (drafts included); a draft
  created without a slug keeps an empty one.
- ``GET /wp/v2/posts`` lists published posts only unless ``status`` requests others, and any
  other status without valid credentials is a 400 ``rest_invalid_param`` ("Status is
  forbidden"), not a 401. Wrong credentials count as none: the endpoint's own 401 follows
  (``rest_cannot_create``, ``rest_forbidden_context``).
- A raw media upload needs ``Content-Disposition: attachment; filename="…"``, reads its other
  fields from the query string, and gets a slug that is unique across posts and media.
- Creating a tag or category whose name exists is a 400 ``term_exists`` with the existing
  id in ``data.term_id``.
- Post meta keys that were not registered are dropped without an error; registered keys
  that were never set read as ``""``.
- With application passwords turned off, every request that carries Basic credentials gets
  401 ``application_passwords_disabled``.

Simplifications: slugs are made with python-slugify rather than WordPress's
``sanitize_title``, there is no trash, and only the fields the publisher uses are kept.

Faults are scripted per method and route with :meth:`FakeWordPress.add_fault`, for example
a create that times out after the post was stored.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from slugify import slugify

__all__ = [
    "FakeMedia",
    "FakePost",
    "FakeTerm",
    "FakeWordPress",
    "Fault",
    "FaultKind",
    "RecordedRequest",
]

FaultKind = Literal[
    "timeout",
    "timeout_after_processing",
    "connect_error",
    "server_error",
    "php_warning",
    "unauthorized",
]
"""What a scripted fault does to a matching request.

``timeout`` and ``connect_error`` fail before WordPress receives the request;
``timeout_after_processing`` lets WordPress handle it and then times out, so the client gets
no response; ``server_error`` returns ``status`` with an HTML error page;
``php_warning`` handles the request and prints a PHP warning ahead of the JSON;
``unauthorized`` answers 401 ``rest_cannot_create``.
"""

POST_STATUSES = ("publish", "future", "draft", "pending", "private")
PHP_WARNING = (
    '<br />\n<b>Warning</b>:  Undefined array key "hook_suffix" in '
    "<b>/var/www/html/wp-content/plugins/example/example.php</b> on line <b>42</b><br />\n"
)


@dataclass
class FakePost:
    """A stored post."""

    id: int
    slug: str
    status: str
    title: str
    content: str
    excerpt: str
    date: str
    categories: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    featured_media: int = 0


@dataclass
class FakeMedia:
    """A stored attachment."""

    id: int
    slug: str
    title: str
    alt_text: str
    filename: str
    media_type: str
    data: bytes
    source_url: str


@dataclass
class FakeTerm:
    """A stored tag or category."""

    id: int
    taxonomy: Literal["tags", "categories"]
    name: str
    slug: str


@dataclass
class Fault:
    """A scripted failure for the next ``remaining`` requests to ``method`` ``route``."""

    method: str
    route: str
    kind: FaultKind
    status: int = 500
    remaining: int = 1


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake received it; ``route`` is the REST route, such as ``/wp/v2/posts``."""

    method: str
    path: str
    route: str
    params: dict[str, str]
    headers: httpx.Headers
    body: bytes
    authenticated: bool


class _ErrorResponse(Exception):
    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def to_response(self) -> httpx.Response:
        data: dict[str, Any] = {"status": self.status, **self.data}
        return httpx.Response(
            self.status, json={"code": self.code, "message": self.message, "data": data}
        )


class FakeWordPress:
    """A WordPress site held in memory; pass :attr:`transport` to the client under test."""

    def __init__(
        self,
        *,
        base_url: str = "http://127.0.0.1:8080",
        username: str = "editor",
        application_password: str = "abcd EFGH ijkl MNOP qrst UVWX",
        registered_meta: Iterable[str] = (),
        namespaces: Iterable[str] = ("oembed/1.0", "wp/v2"),
        pretty_permalinks: bool = True,
        application_passwords_enabled: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.application_password = application_password
        self.registered_meta = set(registered_meta)
        self.namespaces = list(namespaces)
        self.pretty_permalinks = pretty_permalinks
        self.application_passwords_enabled = application_passwords_enabled
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._posts: dict[int, FakePost] = {}
        self._media: dict[int, FakeMedia] = {}
        self._terms: dict[int, FakeTerm] = {
            1: FakeTerm(1, "categories", "Uncategorized", "uncategorized")
        }
        self._next_post_id = 1
        self._next_term_id = 2

    # Inspection

    @property
    def transport(self) -> httpx.MockTransport:
        """A transport that sends every request to this fake."""
        return httpx.MockTransport(self.handle)

    @property
    def posts(self) -> list[FakePost]:
        """Every post, oldest first."""
        return sorted(self._posts.values(), key=lambda post: post.id)

    @property
    def media(self) -> list[FakeMedia]:
        """Every attachment, oldest first."""
        return sorted(self._media.values(), key=lambda item: item.id)

    @property
    def tags(self) -> list[FakeTerm]:
        """Every tag, oldest first."""
        return [term for term in self._terms.values() if term.taxonomy == "tags"]

    @property
    def categories(self) -> list[FakeTerm]:
        """Every category, oldest first, starting with "Uncategorized" (id 1)."""
        return [term for term in self._terms.values() if term.taxonomy == "categories"]

    def post_by_slug(self, slug: str) -> FakePost | None:
        """Return the post with exactly ``slug``, or ``None``."""
        return next((post for post in self._posts.values() if post.slug == slug), None)

    def requests_to(self, method: str, route: str) -> list[RecordedRequest]:
        """Return the requests received for ``method`` and the exact ``route``."""
        return [r for r in self.requests if r.method == method and r.route == route]

    # Set-up

    def add_fault(
        self, method: str, route: str, kind: FaultKind, *, status: int = 500, times: int = 1
    ) -> None:
        """Make the next ``times`` requests to ``method`` ``route`` fail as ``kind`` describes."""
        self.faults.append(Fault(method.upper(), route, kind, status, times))

    def add_post(self, slug: str, *, status: str = "publish", title: str = "Existing") -> FakePost:
        """Store a post directly, as if someone had written it in the editor."""
        post = FakePost(
            id=self._new_post_id(),
            slug=slug,
            status=status,
            title=title,
            content="<p>Written by hand.</p>",
            excerpt="",
            date="2025-01-01T00:00:00",
        )
        self._posts[post.id] = post
        return post

    def add_term(self, taxonomy: Literal["tags", "categories"], name: str) -> FakeTerm:
        """Store a tag or category directly."""
        term = FakeTerm(self._next_term_id, taxonomy, name, slugify(name))
        self._terms[term.id] = term
        self._next_term_id += 1
        return term

    # Request handling

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Return WordPress's response to ``request`` (the ``httpx.MockTransport`` handler)."""
        assert str(request.url).startswith(self.base_url), f"request to {request.url}"
        params = dict(request.url.params)
        route = self._route(request.url.path, params)
        if route is None:
            return httpx.Response(404, html="<html><body><h1>Not Found</h1></body></html>")

        authenticated = self._credentials_valid(request)
        self.requests.append(
            RecordedRequest(
                request.method,
                request.url.path,
                route,
                params,
                request.headers,
                request.read(),
                authenticated,
            )
        )

        fault = self._take_fault(request.method, route)
        if fault is not None and fault.kind in ("timeout", "connect_error"):
            raise _transport_error(fault.kind, request)
        if fault is not None and fault.kind == "server_error":
            return httpx.Response(
                fault.status, html="<html><body><h1>Internal Server Error</h1></body></html>"
            )
        if fault is not None and fault.kind == "unauthorized":
            return _ErrorResponse(
                401,
                "rest_cannot_create",
                "Sorry, you are not allowed to create posts as this user.",
            ).to_response()

        try:
            self._check_application_passwords(request)
            response = self._dispatch(request, route, params, authenticated)
        except _ErrorResponse as error:
            response = error.to_response()

        if fault is not None and fault.kind == "timeout_after_processing":
            raise httpx.ReadTimeout("timed out reading the response", request=request)
        if fault is not None and fault.kind == "php_warning":
            return httpx.Response(
                response.status_code,
                content=PHP_WARNING.encode() + response.content,
                headers={"Content-Type": "application/json; charset=UTF-8"},
            )
        return response

    def _route(self, path: str, params: dict[str, str]) -> str | None:
        if path.startswith("/wp-json"):
            if not self.pretty_permalinks:
                return None
            return "/" + path.removeprefix("/wp-json").strip("/")
        if path == "/" and "rest_route" in params:
            return "/" + params.pop("rest_route").strip("/")
        return None

    def _take_fault(self, method: str, route: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.route == route and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    def _credentials(self, request: httpx.Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        decoded = base64.b64decode(header[6:]).decode()
        username, _, password = decoded.partition(":")
        return username, password

    def _credentials_valid(self, request: httpx.Request) -> bool:
        credentials = self._credentials(request)
        if credentials is None or not self.application_passwords_enabled:
            return False
        username, password = credentials
        # WordPress ignores everything but letters and digits in an application password.
        return username == self.username and _alnum(password) == _alnum(self.application_password)

    def _check_application_passwords(self, request: httpx.Request) -> None:
        credentials = self._credentials(request)
        if credentials is not None and not self.application_passwords_enabled:
            raise _ErrorResponse(
                401, "application_passwords_disabled", "Application passwords are not available."
            )

    def _dispatch(
        self, request: httpx.Request, route: str, params: dict[str, str], authenticated: bool
    ) -> httpx.Response:
        method = request.method
        if route == "/":
            return httpx.Response(200, json=self._index())
        if route == "/wp/v2/posts":
            if method == "GET":
                return self._list_posts(params, authenticated)
            if method == "POST":
                return self._create_post(_json_body(request), authenticated)
        if match := re.fullmatch(r"/wp/v2/posts/(\d+)", route):
            post = self._posts.get(int(match[1]))
            if post is None:
                raise _ErrorResponse(404, "rest_post_invalid_id", "Invalid post ID.")
            if method == "GET":
                return self._get_post(post, params, authenticated)
            if method in ("POST", "PUT", "PATCH"):
                return self._update_post(post, _json_body(request), authenticated)
        if route == "/wp/v2/media":
            if method == "GET":
                return self._list_media(params, authenticated)
            if method == "POST":
                return self._upload_media(request, params, authenticated)
        if match := re.fullmatch(r"/wp/v2/media/(\d+)", route):
            item = self._media.get(int(match[1]))
            if item is None:
                raise _ErrorResponse(404, "rest_post_invalid_id", "Invalid post ID.")
            if method == "GET":
                return httpx.Response(200, json=self._media_json(item))
            if method in ("POST", "PUT", "PATCH"):
                return self._update_media(item, _json_body(request), authenticated)
        if match := re.fullmatch(r"/wp/v2/(tags|categories)", route):
            taxonomy: Literal["tags", "categories"] = "tags" if match[1] == "tags" else "categories"
            if method == "GET":
                return self._list_terms(taxonomy, params)
            if method == "POST":
                return self._create_term(taxonomy, _json_body(request), authenticated)
        raise _ErrorResponse(
            404, "rest_no_route", "No route was found matching the URL and request method."
        )

    def _index(self) -> dict[str, Any]:
        return {
            "name": "Fake WordPress",
            "url": self.base_url,
            "home": self.base_url,
            "namespaces": self.namespaces,
            "authentication": {"application-passwords": {}},
            "routes": {},
        }

    # Posts

    def _list_posts(self, params: dict[str, str], authenticated: bool) -> httpx.Response:
        statuses = params.get("status", "publish").split(",")
        if statuses != ["publish"] and not authenticated:
            raise _ErrorResponse(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): status",
                params={"status": "Status is forbidden."},
                details={
                    "status": {
                        "code": "rest_forbidden_status",
                        "message": "Status is forbidden.",
                        "data": {"status": 401},
                    }
                },
            )
        if params.get("context") == "edit" and not authenticated:
            raise _ErrorResponse(
                401,
                "rest_forbidden_context",
                "Sorry, you are not allowed to edit posts in this post type.",
            )
        if "any" in statuses:
            statuses = list(POST_STATUSES)

        per_page = int(params.get("per_page", "10"))
        page = int(params.get("page", "1"))
        if not 1 <= per_page <= 100:
            raise _ErrorResponse(400, "rest_invalid_param", "Invalid parameter(s): per_page")

        found = [post for post in self.posts if post.status in statuses]
        if "slug" in params:
            slugs = params["slug"].split(",")
            found = [post for post in found if post.slug in slugs]
        total = len(found)
        selected = found[(page - 1) * per_page : page * per_page]
        return httpx.Response(
            200,
            json=[self._post_json(post, params.get("context", "view")) for post in selected],
            headers={
                "X-WP-Total": str(total),
                "X-WP-TotalPages": str(max(1, -(-total // per_page))),
            },
        )

    def _get_post(
        self, post: FakePost, params: dict[str, str], authenticated: bool
    ) -> httpx.Response:
        context = params.get("context", "view")
        if post.status != "publish" and not authenticated:
            raise _ErrorResponse(401, "rest_forbidden", "Sorry, you are not allowed to do that.")
        if context == "edit" and not authenticated:
            raise _ErrorResponse(
                401, "rest_forbidden_context", "Sorry, you are not allowed to edit this post."
            )
        return httpx.Response(200, json=self._post_json(post, context))

    def _create_post(self, body: dict[str, Any], authenticated: bool) -> httpx.Response:
        if not authenticated:
            raise _ErrorResponse(
                401,
                "rest_cannot_create",
                "Sorry, you are not allowed to create posts as this user.",
            )
        post = FakePost(
            id=self._new_post_id(),
            slug="",
            status="draft",
            title="",
            content="",
            excerpt="",
            date="2025-01-01T00:00:00",
        )
        self._apply_post_fields(post, body, creating=True)
        self._posts[post.id] = post
        return httpx.Response(201, json=self._post_json(post, "edit"))

    def _update_post(
        self, post: FakePost, body: dict[str, Any], authenticated: bool
    ) -> httpx.Response:
        if not authenticated:
            raise _ErrorResponse(
                401, "rest_cannot_edit", "Sorry, you are not allowed to edit this post."
            )
        self._apply_post_fields(post, body, creating=False)
        return httpx.Response(200, json=self._post_json(post, "edit"))

    def _apply_post_fields(self, post: FakePost, body: dict[str, Any], *, creating: bool) -> None:
        status = body.get("status", post.status)
        if status not in POST_STATUSES:
            raise _ErrorResponse(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): status",
                params={"status": f"status is not one of {', '.join(POST_STATUSES)}."},
            )
        media_id = body.get("featured_media")
        if media_id not in (None, 0) and media_id not in self._media:
            raise _ErrorResponse(400, "rest_invalid_featured_media", "Invalid featured media ID.")
        for taxonomy in ("categories", "tags"):
            for term_id in body.get(taxonomy, []):
                term = self._terms.get(term_id)
                if term is None or term.taxonomy != taxonomy:
                    raise _ErrorResponse(
                        400, "rest_invalid_param", f"Invalid parameter(s): {taxonomy}"
                    )

        post.status = status
        post.title = body.get("title", post.title)
        post.content = body.get("content", post.content)
        post.excerpt = body.get("excerpt", post.excerpt)
        post.date = body.get("date", body.get("date_gmt", post.date))
        if media_id is not None:
            post.featured_media = media_id
        if "categories" in body:
            post.categories = list(body["categories"]) or [1]
        elif creating:
            post.categories = [1]
        if "tags" in body:
            post.tags = list(body["tags"])
        for key, value in body.get("meta", {}).items():
            if key in self.registered_meta:
                post.meta[key] = str(value)

        requested_slug = slugify(body["slug"]) if body.get("slug") else ""
        if requested_slug:
            post.slug = self._unique_slug(requested_slug, post.id, kind="post")
        elif not post.slug and status not in ("draft", "pending"):
            post.slug = self._unique_slug(slugify(post.title) or str(post.id), post.id, kind="post")

    def _unique_slug(self, slug: str, own_id: int, *, kind: Literal["post", "attachment"]) -> str:
        # Posts must not share a slug with another post; an attachment's slug must not match
        # any post or attachment at all.
        taken_slugs = {post.slug for post in self._posts.values() if post.id != own_id}
        if kind == "attachment":
            taken_slugs |= {item.slug for item in self._media.values() if item.id != own_id}
        if slug not in taken_slugs:
            return slug
        suffix = 2
        while f"{slug}-{suffix}" in taken_slugs:
            suffix += 1
        return f"{slug}-{suffix}"

    def _post_json(self, post: FakePost, context: str) -> dict[str, Any]:
        link = (
            f"{self.base_url}/{post.slug}/"
            if post.status == "publish" and post.slug
            else f"{self.base_url}/?p={post.id}"
        )
        meta = {key: post.meta.get(key, "") for key in sorted(self.registered_meta)}
        data: dict[str, Any] = {
            "id": post.id,
            "date": post.date,
            "slug": post.slug,
            "status": post.status,
            "type": "post",
            "link": link,
            "title": {"rendered": post.title},
            "content": {"rendered": post.content, "protected": False},
            "excerpt": {"rendered": f"<p>{post.excerpt}</p>\n", "protected": False},
            "featured_media": post.featured_media,
            "categories": post.categories,
            "tags": post.tags,
            "meta": meta,
        }
        if context == "edit":
            data["title"]["raw"] = post.title
            data["content"]["raw"] = post.content
            data["excerpt"]["raw"] = post.excerpt
            data["generated_slug"] = slugify(post.title)
        return data

    # Media

    def _list_media(self, params: dict[str, str], authenticated: bool) -> httpx.Response:
        if params.get("context") == "edit" and not authenticated:
            raise _ErrorResponse(
                401,
                "rest_forbidden_context",
                "Sorry, you are not allowed to edit posts in this post type.",
            )
        found = self.media
        if "slug" in params:
            slugs = params["slug"].split(",")
            found = [item for item in found if item.slug in slugs]
        return httpx.Response(200, json=[self._media_json(item) for item in found])

    def _upload_media(
        self, request: httpx.Request, params: dict[str, str], authenticated: bool
    ) -> httpx.Response:
        if not authenticated:
            raise _ErrorResponse(
                401,
                "rest_cannot_create",
                "Sorry, you are not allowed to upload media on this site.",
            )
        data = request.read()
        if not data:
            raise _ErrorResponse(400, "rest_upload_no_data", "No data supplied.")
        raw_disposition = request.headers.raw
        disposition = next(
            (value for name, value in raw_disposition if name.lower() == b"content-disposition"),
            None,
        )
        if disposition is None:
            raise _ErrorResponse(
                400, "rest_upload_no_content_disposition", "No Content-Disposition supplied."
            )
        # httpx never sends a header value outside ASCII. The check catches a client that
        # builds its headers some other way.
        if not disposition.isascii():
            raise _ErrorResponse(
                400, "rest_upload_invalid_disposition", "Content-Disposition is not ASCII."
            )
        match = re.search(r'filename="?([^";]+)"?', disposition.decode("ascii"))
        if match is None:
            raise _ErrorResponse(
                400,
                "rest_upload_invalid_disposition",
                "Invalid Content-Disposition supplied. Content-Disposition needs to be "
                'formatted as `attachment; filename="image.png"` or similar.',
            )
        media_type = request.headers.get("content-type", "")
        if not media_type.startswith("image/") or media_type == "image/svg+xml":
            raise _ErrorResponse(
                500,
                "rest_upload_sideload_error",
                "Sorry, you are not allowed to upload this file type.",
            )

        filename = self._unique_filename(match[1])
        stem = filename.rsplit(".", 1)[0]
        item = FakeMedia(
            id=self._new_post_id(),
            slug="",
            title=params.get("title", stem),
            alt_text=params.get("alt_text", ""),
            filename=filename,
            media_type=media_type,
            data=data,
            source_url=f"{self.base_url}/wp-content/uploads/2025/01/{filename}",
        )
        item.slug = self._unique_slug(
            slugify(params.get("slug") or stem), item.id, kind="attachment"
        )
        self._media[item.id] = item
        return httpx.Response(201, json=self._media_json(item))

    def _update_media(
        self, item: FakeMedia, body: dict[str, Any], authenticated: bool
    ) -> httpx.Response:
        if not authenticated:
            raise _ErrorResponse(
                401, "rest_cannot_edit", "Sorry, you are not allowed to edit this post."
            )
        item.alt_text = body.get("alt_text", item.alt_text)
        item.title = body.get("title", item.title)
        return httpx.Response(200, json=self._media_json(item))

    def _unique_filename(self, filename: str) -> str:
        taken_names = {item.filename for item in self._media.values()}
        stem, dot, extension = filename.rpartition(".")
        candidate, number = filename, 1
        while candidate in taken_names:
            candidate = f"{stem}-{number}{dot}{extension}"
            number += 1
        return candidate

    def _media_json(self, item: FakeMedia) -> dict[str, Any]:
        return {
            "id": item.id,
            "slug": item.slug,
            "status": "inherit",
            "type": "attachment",
            "title": {"raw": item.title, "rendered": item.title},
            "alt_text": item.alt_text,
            "media_type": "image",
            "mime_type": item.media_type,
            "source_url": item.source_url,
        }

    # Terms

    def _list_terms(self, taxonomy: str, params: dict[str, str]) -> httpx.Response:
        search = params.get("search", "").casefold()
        found = [
            term
            for term in self._terms.values()
            if term.taxonomy == taxonomy and (search in term.name.casefold() or search in term.slug)
        ]
        return httpx.Response(200, json=[_term_json(term) for term in found])

    def _create_term(
        self, taxonomy: Literal["tags", "categories"], body: dict[str, Any], authenticated: bool
    ) -> httpx.Response:
        if not authenticated:
            raise _ErrorResponse(
                401,
                "rest_cannot_create",
                "Sorry, you are not allowed to create terms in this taxonomy.",
            )
        name = str(body.get("name", "")).strip()
        if not name:
            raise _ErrorResponse(400, "rest_missing_callback_param", "Missing parameter(s): name")
        slug = slugify(name)
        for term in self._terms.values():
            if term.taxonomy == taxonomy and (
                term.name.casefold() == name.casefold() or term.slug == slug
            ):
                raise _ErrorResponse(
                    400,
                    "term_exists",
                    "A term with the name provided already exists in this taxonomy.",
                    term_id=term.id,
                )
        term = self.add_term(taxonomy, name)
        return httpx.Response(201, json=_term_json(term))

    def _new_post_id(self) -> int:
        post_id = self._next_post_id
        self._next_post_id += 1
        return post_id


def _term_json(term: FakeTerm) -> dict[str, Any]:
    # WordPress escapes HTML special characters in term names.
    name = term.name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"id": term.id, "name": name, "slug": term.slug, "taxonomy": term.taxonomy}


def _json_body(request: httpx.Request) -> dict[str, Any]:
    content = request.read()
    if not content:
        return {}
    body = json.loads(content)
    if not isinstance(body, dict):
        raise _ErrorResponse(400, "rest_invalid_json", "Invalid JSON body passed.")
    return body


def _alnum(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def _transport_error(kind: str, request: httpx.Request) -> httpx.TransportError:
    if kind == "timeout":
        return httpx.ReadTimeout("timed out waiting for the response", request=request)
    return httpx.ConnectError("connection refused", request=request)
