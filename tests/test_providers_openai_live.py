"""OpenAIText and OpenAIImages over real sockets, against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from k2w._errors import ProviderAuthError, ProviderUnavailableError
from k2w._providers._models import ArticleRequest, ImageRequest
from k2w._providers._openai_images import OpenAIImages, OpenAIImageSettings
from k2w._providers._openai_text import OpenAISettings, OpenAIText
from support.openai_server import TITLE_PREFIX, FakeOpenAIServer, RecordingSleep, tiny_png

pytestmark = pytest.mark.anyio

API_KEY = "sk-live-test-0123456789"
KEYWORD = "máy lọc không khí"
SUPPORT_DIR = Path(__file__).parent / "support"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as running:
        yield running


def text_provider(
    server: FakeOpenAIServer, sleep: RecordingSleep, *, api_key: str = API_KEY, **changes: object
) -> OpenAIText:
    settings = OpenAISettings.model_validate(
        {
            "base_url": server.base_url,
            "model": "llama3.1:8b",
            "api_key": SecretStr(api_key),
            **changes,
        }
    )
    return OpenAIText(settings, sleep=sleep, jitter=lambda cap: cap)


def image_provider(server: FakeOpenAIServer, sleep: RecordingSleep, model: str) -> OpenAIImages:
    settings = OpenAIImageSettings(
        base_url=server.base_url, model=model, api_key=SecretStr(API_KEY), max_retries=2
    )
    return OpenAIImages(settings, sleep=sleep, jitter=lambda cap: cap)


def article_request() -> ArticleRequest:
    return ArticleRequest(keyword=KEYWORD, language="vi", slug="may-loc-khong-khi")


def image_request() -> ImageRequest:
    return ImageRequest(
        keyword=KEYWORD, title="Máy lọc không khí", slug="may-loc-khong-khi", language="vi"
    )


async def test_article_comes_from_server(server: FakeOpenAIServer) -> None:
    async with text_provider(server, RecordingSleep()) as provider:
        article = await provider.write_article(article_request())

    assert article.title == f"{TITLE_PREFIX} {KEYWORD}"
    assert article.usage.prompt_tokens > 0
    calls = server.calls
    assert len(calls) == 1
    assert calls[0]["path"] == "/v1/chat/completions"
    assert calls[0]["keyword"] == KEYWORD
    assert calls[0]["model"] == "llama3.1:8b"


async def test_prompt_mode_parses_fenced_answer(server: FakeOpenAIServer) -> None:
    async with text_provider(server, RecordingSleep(), structured_output="prompt") as provider:
        article = await provider.write_article(article_request())

    assert article.title == f"{TITLE_PREFIX} {KEYWORD}"


async def test_rate_limit_waited_out_then_succeeds(server: FakeOpenAIServer) -> None:
    sleep = RecordingSleep()
    server.script(
        status=429,
        headers={"retry-after": "1"},
        body={"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached"}},
    )

    async with text_provider(server, sleep) as provider:
        article = await provider.write_article(article_request())

    assert article.title.startswith(TITLE_PREFIX)
    assert sleep.waits == [1.0]
    assert len(server.calls) == 2


async def test_server_error_retried(server: FakeOpenAIServer) -> None:
    sleep = RecordingSleep()
    server.script(status=500)
    server.script(disconnect=True)

    async with text_provider(server, sleep) as provider:
        article = await provider.write_article(article_request())

    assert article.title.startswith(TITLE_PREFIX)
    assert sleep.waits == [1.0, 2.0]
    assert len(server.calls) == 3


async def test_wrong_key_fails_at_once(server: FakeOpenAIServer) -> None:
    sleep = RecordingSleep()
    wrong_key = "sk-wrong-key-abcdef123456"

    async with text_provider(server, sleep, api_key=wrong_key) as provider:
        with pytest.raises(ProviderAuthError) as caught:
            await provider.write_article(article_request())

    message = str(caught.value)
    assert "API key was refused" in message
    assert server.base_url in message
    assert wrong_key not in message
    assert sleep.waits == []
    assert len(server.calls) == 1


async def test_translation_comes_from_server(server: FakeOpenAIServer) -> None:
    async with text_provider(server, RecordingSleep()) as provider:
        original = await provider.write_article(article_request())
        translated = await provider.translate_article(original, "en")

    assert translated.language == "en"
    assert translated.translated_from == "vi"
    assert translated.title == f"{TITLE_PREFIX} {KEYWORD} (en)"


async def test_gpt_image_over_sockets(server: FakeOpenAIServer) -> None:
    async with image_provider(server, RecordingSleep(), "gpt-image-1") as provider:
        image = await provider.generate_image(image_request())

    assert image.data == tiny_png()
    assert image.media_type == "image/png"
    assert "response_format" not in server.calls[0]["body"]
    assert server.calls[0]["keyword"] == KEYWORD


async def test_image_url_downloaded_over_sockets(server: FakeOpenAIServer) -> None:
    image_url = f"{server.base_url}/files/generated.png"
    server.script(status=200, body={"created": 1, "data": [{"url": image_url}]})

    async with image_provider(server, RecordingSleep(), "dall-e-2") as provider:
        image = await provider.generate_image(image_request())

    assert image.data == tiny_png()
    paths = [call["path"] for call in server.calls]
    assert paths[0] == "/v1/images/generations"
    assert paths[1] == "/v1/files/generated.png"
    assert server.calls[1]["has_authorization"] is False


async def test_images_failing_every_attempt(server: FakeOpenAIServer) -> None:
    sleep = RecordingSleep()
    for _ in range(3):
        server.script(status=503, path="/images/generations")

    async with image_provider(server, sleep, "gpt-image-1") as provider:
        with pytest.raises(ProviderUnavailableError, match="3 times"):
            await provider.generate_image(image_request())

    assert sleep.waits == [1.0, 2.0]


@pytest.fixture(params=["module", "script"])
def server_process(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """Start the fake server as a program; yield its base URL and call-log path."""
    log_path = tmp_path / "calls.jsonl"
    if request.param == "module":
        program = ["-m", "tests.support.openai_server"]
    else:
        program = [str(SUPPORT_DIR / "openai_server.py")]
    process = subprocess.Popen(
        [sys.executable, *program, "--port", "0", "--log", str(log_path), "--fault", "500"],
        cwd=SUPPORT_DIR.parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        assert first_line.startswith("listening on http://127.0.0.1:")
        yield first_line.removeprefix("listening on "), log_path
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.slow
async def test_server_in_another_process(server_process: tuple[str, Path]) -> None:
    base_url, log_path = server_process
    sleep = RecordingSleep()
    settings = OpenAISettings(base_url=base_url, model="llama3.1:8b")

    async with OpenAIText(settings, sleep=sleep, jitter=lambda cap: cap) as provider:
        article = await provider.write_article(article_request())

    assert article.title == f"{TITLE_PREFIX} {KEYWORD}"
    assert sleep.waits == [1.0]
    calls = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    assert [call["keyword"] for call in calls] == [KEYWORD, KEYWORD]
    assert [call["path"] for call in calls] == ["/v1/chat/completions"] * 2
