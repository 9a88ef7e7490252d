"""OpenAIImages against httpx.MockTransport."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from k2w._errors import (
    ProviderAuthError,
    ProviderResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
)
from k2w._providers._models import ImageRequest
from k2w._providers._openai_images import OpenAIImages, OpenAIImageSettings
from support.openai_server import RecordingSleep, ScriptedTransport, error_body, tiny_png

pytestmark = pytest.mark.anyio

BASE_URL = "http://127.0.0.1:9/v1"
API_KEY = "sk-image-test-9a8b7c6d5e"
PNG = tiny_png()


def make_provider(
    transport: ScriptedTransport, sleep: RecordingSleep | None = None, **changes: Any
) -> OpenAIImages:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "model": "gpt-image-1",
        "api_key": SecretStr(API_KEY),
    }
    values.update(changes)
    return OpenAIImages(
        OpenAIImageSettings(**values),
        transport=transport,
        sleep=sleep or RecordingSleep(),
        jitter=lambda cap: cap,
    )


def make_request(title: str = "Máy lọc không khí: cách chọn đúng") -> ImageRequest:
    return ImageRequest(
        keyword="máy lọc không khí", title=title, slug="may-loc-khong-khi", language="vi"
    )


def b64_answer(data: bytes = PNG, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]}
    body.update(extra)
    return httpx.Response(200, json=body)


async def test_gpt_image_never_gets_response_format() -> None:
    transport = ScriptedTransport(b64_answer())

    image = await make_provider(transport).generate_image(make_request())

    body = transport.bodies[0]
    assert "response_format" not in body
    assert body["model"] == "gpt-image-1"
    assert body["size"] == "1024x1024"
    assert "máy lọc không khí" in body["prompt"]
    assert transport.requests[0].url == f"{BASE_URL}/images/generations"
    assert image.data == PNG
    assert image.media_type == "image/png"
    assert image.generator == "openai:gpt-image-1"
    assert image.offline is False


async def test_other_models_ask_for_base64() -> None:
    transport = ScriptedTransport(b64_answer())

    await make_provider(transport, model="dall-e-3").generate_image(make_request())

    assert transport.bodies[0]["response_format"] == "b64_json"


async def test_rejected_response_format_dropped_and_remembered() -> None:
    rejection = httpx.Response(
        400,
        json=error_body(
            400,
            "unknown_parameter",
            "Unknown parameter: 'response_format'.",
            param="response_format",
        ),
    )
    transport = ScriptedTransport(rejection, b64_answer(), b64_answer())
    provider = make_provider(transport, model="local-diffusion")

    await provider.generate_image(make_request())
    await provider.generate_image(make_request())

    formats = [body.get("response_format") for body in transport.bodies]
    assert formats == ["b64_json", None, None]


async def test_url_answer_downloaded_without_key() -> None:
    image_url = "http://127.0.0.1:9/files/image.png?sig=abc"
    transport = ScriptedTransport(
        httpx.Response(200, json={"created": 1, "data": [{"url": image_url}]}),
        httpx.Response(200, content=PNG, headers={"content-type": "image/png"}),
    )

    image = await make_provider(transport, model="dall-e-3").generate_image(make_request())

    assert image.data == PNG
    download = transport.requests[1]
    assert download.method == "GET"
    assert str(download.url) == image_url
    assert "authorization" not in download.headers


async def test_failed_download_hides_query_string() -> None:
    transport = ScriptedTransport(
        httpx.Response(200, json={"data": [{"url": "http://127.0.0.1:9/img.png?sig=secret"}]}),
        httpx.Response(403, text="expired"),
    )

    with pytest.raises(ProviderResponseError, match="HTTP 403") as caught:
        await make_provider(transport, model="dall-e-3").generate_image(make_request())

    assert "sig=secret" not in str(caught.value)


async def test_empty_data_fails_clearly() -> None:
    transport = ScriptedTransport(httpx.Response(200, json={"created": 1, "data": []}))

    with pytest.raises(ProviderResponseError, match="no image"):
        await make_provider(transport).generate_image(make_request())


async def test_invalid_base64_fails_clearly() -> None:
    transport = ScriptedTransport(httpx.Response(200, json={"data": [{"b64_json": "%%%"}]}))

    with pytest.raises(ProviderResponseError, match="base64"):
        await make_provider(transport).generate_image(make_request())


async def test_bytes_that_are_not_an_image_fail() -> None:
    transport = ScriptedTransport(b64_answer(b"<html>not an image</html>"))

    with pytest.raises(ProviderResponseError, match="not a PNG, JPEG or WebP"):
        await make_provider(transport).generate_image(make_request())


async def test_every_attempt_failing_raises_unavailable() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        httpx.Response(500, json=error_body(500)),
        httpx.Response(502, text="Bad Gateway"),
        httpx.ConnectError("connection refused"),
        httpx.Response(503, json=error_body(503)),
    )

    with pytest.raises(ProviderUnavailableError, match="4 times"):
        await make_provider(transport, sleep, max_retries=3).generate_image(make_request())

    assert sleep.waits == [1.0, 2.0, 4.0]


async def test_refused_key_fails_at_once_and_stops() -> None:
    transport = ScriptedTransport(httpx.Response(401, json=error_body(401, "invalid_api_key")))
    provider = make_provider(transport)

    with pytest.raises(ProviderAuthError) as caught:
        await provider.generate_image(make_request())
    with pytest.raises(ProviderAuthError, match="no further calls"):
        await provider.generate_image(make_request())

    assert "K2W_IMAGE_API_KEY" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(transport.requests) == 1


async def test_quota_exhausted_is_final() -> None:
    transport = ScriptedTransport(httpx.Response(429, json=error_body(429, "insufficient_quota")))

    with pytest.raises(QuotaExhaustedError):
        await make_provider(transport).generate_image(make_request())


async def test_usage_and_cost_recorded() -> None:
    usage = {"input_tokens": 50, "output_tokens": 1000, "total_tokens": 1050}
    transport = ScriptedTransport(b64_answer(usage=usage))

    image = await make_provider(transport).generate_image(make_request())

    assert image.usage.calls == 1
    assert image.usage.prompt_tokens == 50
    assert image.usage.completion_tokens == 1000
    assert image.usage.cost_usd == pytest.approx(50 * 5.0 / 1e6 + 1000 * 40.0 / 1e6)


async def test_alt_text_has_title_and_keyword() -> None:
    transport = ScriptedTransport(b64_answer(), b64_answer())
    provider = make_provider(transport)

    with_keyword = await provider.generate_image(make_request())
    without_keyword = await provider.generate_image(make_request("Chọn thiết bị cho phòng ngủ"))

    assert with_keyword.alt_text == "Máy lọc không khí: cách chọn đúng"
    assert without_keyword.alt_text == "Chọn thiết bị cho phòng ngủ (máy lọc không khí)"


async def test_settings_size_overrides_request() -> None:
    transport = ScriptedTransport(b64_answer())

    await make_provider(transport, size="1536x1024", quality="low").generate_image(make_request())

    assert transport.bodies[0]["size"] == "1536x1024"
    assert transport.bodies[0]["quality"] == "low"


def test_settings_from_env_falls_back_to_llm_values() -> None:
    settings = OpenAIImageSettings.from_env(
        {
            "K2W_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
            "K2W_LLM_API_KEY": API_KEY,
            "K2W_IMAGE_MODEL": "dall-e-3",
        }
    )

    assert settings is not None
    assert settings.base_url == "http://127.0.0.1:8000/v1"
    assert settings.model == "dall-e-3"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)


def test_settings_from_env_prefers_image_values() -> None:
    settings = OpenAIImageSettings.from_env(
        {
            "K2W_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
            "K2W_IMAGE_BASE_URL": "http://127.0.0.1:8001/v1",
            "K2W_IMAGE_MODEL": "gpt-image-1",
            "K2W_IMAGE_API_KEY": "sk-image-only-123456",
        }
    )

    assert settings is not None
    assert settings.base_url == "http://127.0.0.1:8001/v1"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-image-only-123456"


def test_settings_from_env_without_model_is_none() -> None:
    assert OpenAIImageSettings.from_env({"K2W_LLM_BASE_URL": "http://127.0.0.1:8000/v1"}) is None
    assert OpenAIImageSettings.from_env({"K2W_IMAGE_MODEL": "dall-e-3"}) is None
