"""WordPressPublisher against a real WordPress on 127.0.0.1.

The tests use the site named by ``WP_URL``, ``WP_USER`` and ``WP_APP_PASSWORD`` (as printed
by ``scripts/wordpress-local.sh start``). Without them, the session starts its own site
with that script on a free port in a temporary directory and deletes it afterwards. That
needs the Debian packages that ``scripts/install-wordpress-deps.sh`` installs. Only sites
on the loopback interface are used, because the tests create and count posts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import k2w
from k2w._errors import ProviderAuthError
from k2w._providers._models import GeneratedImage, ImageRequest, PublishRequest, PublishResult
from k2w._providers._wordpress import SEO_META_KEYS, WordPressPublisher, WordPressSettings
from k2w._text import make_slug

pytestmark = pytest.mark.wordpress

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HARNESS = PROJECT_ROOT / "scripts" / "wordpress-local.sh"
KEYWORDS_FILE = PROJECT_ROOT / "examples" / "keywords-vi.txt"
LANGUAGES = ("vi", "en")
CONCURRENT_PUBLISHES = 4
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUIRED_PROGRAMS = ("php", "mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")
WORDPRESS_ROOT = Path("/usr/share/wordpress")


@dataclass(frozen=True)
class LiveSite:
    """A WordPress site for the tests; ``fresh`` is true when this session created it empty."""

    url: str
    username: str
    application_password: str
    fresh: bool

    def settings(self, **overrides: Any) -> WordPressSettings:
        values: dict[str, Any] = {
            "base_url": self.url,
            "username": self.username,
            "application_password": self.application_password,
            "timeout": 30.0,
        }
        values.update(overrides)
        return WordPressSettings.model_validate(values)


class RecordingSleep:
    """Stands in for anyio.sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _site_from_environment() -> LiveSite | None:
    names = ("WP_URL", "WP_USER", "WP_APP_PASSWORD")
    values = [os.environ.get(name, "").strip() for name in names]
    if not all(values):
        return None
    url, username, password = values
    host = httpx.URL(url).host
    if host not in LOOPBACK_HOSTS:
        pytest.skip(f"WP_URL {url} is not on 127.0.0.1; these tests only publish to a local site")
    return LiveSite(url, username, password, fresh=False)


def _missing_requirements() -> list[str]:
    missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
    if not (WORDPRESS_ROOT / "wp-settings.php").is_file():
        missing.append(str(WORDPRESS_ROOT))
    return missing


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_harness(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HARNESS), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _harness_failure(command: str, completed: subprocess.CompletedProcess[str]) -> str:
    return (
        f"scripts/wordpress-local.sh {command} exited with {completed.returncode}:\n"
        f"{completed.stderr}"
    )


def _parse_exports(output: str) -> dict[str, str]:
    line = next(line for line in output.splitlines() if line.startswith("export "))
    words = shlex.split(line.removeprefix("export "))
    return dict(word.split("=", 1) for word in words)


@pytest.fixture(scope="session")
def wordpress_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """The site named by WP_URL and friends, or one started for this session."""
    site = _site_from_environment()
    if site is not None:
        yield site
        return

    missing = _missing_requirements()
    if missing:
        pytest.skip(
            "no WordPress to test against: set WP_URL, WP_USER and WP_APP_PASSWORD "
            '(eval "$(scripts/wordpress-local.sh start)"), or install the packages with '
            f"scripts/install-wordpress-deps.sh (missing: {', '.join(missing)})"
        )

    env = {
        **os.environ,
        "K2W_WP_DIR": str(tmp_path_factory.mktemp("wordpress")),
        "K2W_WP_PORT": str(_free_port()),
    }
    started = _run_harness("start", env)
    try:
        if started.returncode != 0:
            pytest.fail(_harness_failure("start", started))
        exports = _parse_exports(started.stdout)
        yield LiveSite(
            exports["WP_URL"], exports["WP_USER"], exports["WP_APP_PASSWORD"], fresh=True
        )
    finally:
        stopped = _run_harness("reset", env)
        if stopped.returncode != 0:
            pytest.fail(_harness_failure("reset", stopped))


@pytest.fixture
async def rest_client(wordpress_site: LiveSite) -> AsyncIterator[httpx.AsyncClient]:
    """A plain REST client, signed in, for checking what the site stored."""
    async with httpx.AsyncClient(
        base_url=f"{wordpress_site.url}/wp-json/",
        auth=(wordpress_site.username, wordpress_site.application_password),
        timeout=30.0,
    ) as client:
        yield client


def make_png(width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (32, 128, 96)) -> bytes:
    """Return a valid PNG of one colour, ``width`` by ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    scanline = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanline * height))
        + chunk(b"IEND", b"")
    )


def read_keywords() -> list[str]:
    lines = KEYWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def make_request(keyword: str, language: str, image: GeneratedImage) -> PublishRequest:
    title = keyword.capitalize() if language == "vi" else f"{keyword.capitalize()} (English)"
    paragraphs = "\n".join(
        f"<p>{title}: đoạn {number} viết cho bài kiểm thử.</p>" for number in range(1, 4)
    )
    return PublishRequest(
        run_id="live-test",
        keyword=keyword,
        language=language,
        slug=make_slug(keyword),
        title=title,
        meta_description=f"Bài viết về {keyword}, tạo bởi bộ kiểm thử của k2w.",
        html=f"<h2>{title}</h2>\n{paragraphs}",
        image=image,
        image_alt=f"Ảnh minh họa: {keyword}",
        tags=["k2w", "kiểm thử"],
        categories=["Kiểm thử k2w"],
        status="publish",
    )


async def publish_all(
    settings: WordPressSettings, requests: list[PublishRequest]
) -> list[PublishResult]:
    """Publish ``requests`` a few at a time, as pipeline workers would; results in order."""
    results: dict[int, PublishResult] = {}
    limiter = anyio.CapacityLimiter(CONCURRENT_PUBLISHES)

    async def publish(publisher: WordPressPublisher, index: int) -> None:
        async with limiter:
            results[index] = await publisher.publish(requests[index])

    async with WordPressPublisher(settings) as publisher, anyio.create_task_group() as tasks:
        for index in range(len(requests)):
            tasks.start_soon(publish, publisher, index)
    return [results[index] for index in range(len(requests))]


async def list_all(client: httpx.AsyncClient, route: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        params: dict[str, str | int] = {"context": "edit", "per_page": 100, "page": page}
        if route == "wp/v2/posts":
            params["status"] = "any"
        response = await client.get(route, params=params)
        response.raise_for_status()
        items.extend(response.json())
        if page >= int(response.headers.get("X-WP-TotalPages", "1")):
            return items
        page += 1


@pytest.mark.anyio
async def test_republishing_keeps_twenty_posts(
    wordpress_site: LiveSite, rest_client: httpx.AsyncClient
) -> None:
    png = make_png()
    image = GeneratedImage(data=png, media_type="image/png", alt_text="", generator="test")
    keywords = read_keywords()
    assert len(keywords) == 10
    requests = [
        make_request(keyword, language, image) for keyword in keywords for language in LANGUAGES
    ]

    first = await publish_all(wordpress_site.settings(seo_plugin="yoast"), requests)
    second = await publish_all(wordpress_site.settings(seo_plugin="rankmath"), requests)

    expected_slugs = {
        make_slug(keyword) if language == "vi" else f"{make_slug(keyword)}-{language}"
        for keyword in keywords
        for language in LANGUAGES
    }
    assert len(expected_slugs) == 20
    assert [result.slug for result in first] == [result.slug for result in second]
    assert {result.slug for result in first} == expected_slugs
    assert [result.remote_id for result in first] == [result.remote_id for result in second]
    if wordpress_site.fresh:
        assert all(result.created for result in first)
    assert not any(result.created for result in second)
    assert [result.unsaved_fields for result in first] == [[] for _ in first]
    rank_math_keys = sorted(SEO_META_KEYS["rankmath"].values())
    assert all(result.unsaved_fields == rank_math_keys for result in second)

    posts = await list_all(rest_client, "wp/v2/posts")
    ours = [post for post in posts if _base_slug(post["slug"], expected_slugs) is not None]
    assert sorted(post["slug"] for post in ours) == sorted(expected_slugs)
    duplicates = [post["slug"] for post in ours if post["slug"] not in expected_slugs]
    assert duplicates == []
    if wordpress_site.fresh:
        assert len(posts) == 20

    media = {item["id"]: item for item in await list_all(rest_client, "wp/v2/media")}
    for post in ours:
        assert post["featured_media"] in media, post["slug"]
        assert post["meta"]["_yoast_wpseo_focuskw"], post["slug"]
        assert post["meta"]["k2w_language"] == ("vi" if not post["slug"].endswith("-en") else "en")
    featured = [media[post["featured_media"]] for post in ours]
    assert len({item["id"] for item in featured}) == 20
    if wordpress_site.fresh:
        assert len(media) == 20
    assert all(post["status"] == "publish" for post in ours)
    assert all(item["alt_text"].startswith("Ảnh minh họa: ") for item in featured)

    image_response = await rest_client.get(featured[0]["source_url"])
    assert image_response.status_code == 200
    assert image_response.content == png


@pytest.mark.anyio
async def test_wrong_password_fails_at_once(wordpress_site: LiveSite) -> None:
    wrong_password = "Zz00 Zz00 Zz00 Zz00 Zz00 Zz00"
    sleep = RecordingSleep()
    settings = wordpress_site.settings(application_password=wrong_password)
    request = make_request(
        "máy lọc không khí cho phòng ngủ",
        "vi",
        GeneratedImage(data=make_png(), media_type="image/png", alt_text="", generator="test"),
    )

    async with WordPressPublisher(settings, sleep=sleep) as publisher:
        with pytest.raises(ProviderAuthError) as caught:
            await publisher.publish(request)

    message = str(caught.value)
    assert wordpress_site.url in message
    assert "application password" in message
    assert wrong_password not in message
    assert wrong_password.replace(" ", "") not in message
    assert sleep.waits == []


def _base_slug(slug: str, expected: set[str]) -> str | None:
    """Return the expected slug that ``slug`` is, or is a ``-2`` style copy of."""
    if slug in expected:
        return slug
    match = re.fullmatch(r"(.+)-\d+", slug)
    if match is not None and match[1] in expected:
        return match[1]
    return None


class PngImages:
    """Featured images as PNG, which WordPress accepts (it rejects the offline SVG)."""

    name = "png-test"
    offline = True

    async def generate_image(self, request: ImageRequest) -> GeneratedImage:
        shade = sum(request.slug.encode()) % 200
        return GeneratedImage(
            data=make_png(rgb=(shade, 96, 160)),
            media_type="image/png",
            alt_text=request.title,
            generator=self.name,
            offline=True,
        )

    async def aclose(self) -> None:
        return None


@pytest.mark.anyio
async def test_pipeline_runs_twice_keep_twenty_posts(
    wordpress_site: LiveSite, rest_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    keywords = read_keywords()
    config = k2w.K2WConfig(
        out_dir=tmp_path / "out", wordpress=wordpress_site.settings(), publisher="wordpress"
    )
    async with k2w.K2W.open(tmp_path / "k2w.db", config=config, images=PngImages()) as app:
        results = []
        for _ in range(2):
            run = await app.submit(keywords, languages=list(LANGUAGES))
            results.append(await run.wait(timeout=180))

    for result in results:
        assert result.status == "completed", result.error
        assert result.report is not None
        assert result.report["totals"]["published"] == 10
    expected_slugs = {
        make_slug(keyword) if language == "vi" else f"{make_slug(keyword)}-{language}"
        for keyword in keywords
        for language in LANGUAGES
    }
    posts = await list_all(rest_client, "wp/v2/posts")
    ours = [post for post in posts if _base_slug(post["slug"], expected_slugs) is not None]
    assert sorted(post["slug"] for post in ours) == sorted(expected_slugs)
    assert all(post["featured_media"] for post in ours)
