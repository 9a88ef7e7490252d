"""Featured images from any OpenAI-compatible ``/images/generations`` API.

:class:`OpenAIImages` retries and classifies errors exactly as the text provider does
(see :mod:`k2w._providers._http`). ``gpt-image-*`` models always return base64 data
and reject ``response_format``, so it is never sent to them. Other models are asked for
``b64_json``. An image returned as a URL is downloaded with the same HTTP client, but
without the API key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import backoff
import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .._errors import (
    InvalidInputError,
    ProviderAuthError,
    ProviderResponseError,
    QuotaExhaustedError,
)
from ._http import (
    ApiError,
    CircuitBreaker,
    Endpoint,
    JitterFunction,
    RetryPolicy,
    SleepFunction,
    auth_headers,
    check_base_url,
    final_error,
    read_json_object,
    send_with_retries,
)
from ._models import GeneratedImage, ImageRequest, Usage
from ._pricing import ModelPrice, estimate_cost

__all__ = ["OpenAIImageSettings", "OpenAIImages"]

logger = logging.getLogger("k2w.providers")

_MediaType = Literal["image/png", "image/jpeg", "image/webp", "image/svg+xml"]


class OpenAIImageSettings(BaseModel):
    """Settings of :class:`OpenAIImages`; the API key is a ``SecretStr`` and never shown.

    ``size`` (for example ``"1024x1024"``) overrides the size in each image request;
    ``quality`` is sent only when set, because the accepted values differ by model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "https://api.openai.com/v1"
    model: str = Field(default="gpt-image-1", min_length=1)
    api_key: SecretStr | None = None
    size: str | None = None
    quality: str | None = None
    timeout: float = Field(default=180.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(default=3, ge=0, le=20)
    max_wait_s: float = Field(default=60.0, gt=0, description="cap on any single wait")
    initial_wait_s: float = Field(default=1.0, gt=0, description="first backoff cap")
    prices: dict[str, ModelPrice] | None = None

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAIImageSettings | None:
        """Read ``K2W_IMAGE_BASE_URL``, ``K2W_IMAGE_MODEL`` and ``K2W_IMAGE_API_KEY``.

        The base URL and key fall back to ``K2W_LLM_BASE_URL`` and ``K2W_LLM_API_KEY``.
        Returns ``None`` when no base URL or no image model is set, which means "no
        image API configured".
        """
        env = os.environ if environ is None else environ
        base_url = _first_set(env, "K2W_IMAGE_BASE_URL", "K2W_LLM_BASE_URL")
        model = _first_set(env, "K2W_IMAGE_MODEL")
        if base_url is None or model is None:
            return None

        api_key = _first_set(env, "K2W_IMAGE_API_KEY", "K2W_LLM_API_KEY")
        return cls(
            base_url=base_url,
            model=model,
            api_key=SecretStr(api_key) if api_key else None,
        )


class OpenAIImages:
    """An :class:`~k2w._providers._protocols.ImageGenerator` backed by an images API.

    Takes ``client``, ``transport``, ``sleep`` and ``jitter`` like
    :class:`~k2w._providers._openai_text.OpenAIText`, and stops calling after a refused
    API key or an exhausted quota until :meth:`reset` is called.
    """

    name = "openai-images"
    offline = False

    def __init__(
        self,
        settings: OpenAIImageSettings,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: SleepFunction = anyio.sleep,
        jitter: JitterFunction = backoff.full_jitter,
    ) -> None:
        if client is not None and transport is not None:
            raise InvalidInputError("pass either client or transport, not both")

        self._settings = settings
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, timeout=settings.timeout)
        self._sleep = sleep
        self._jitter = jitter
        self._breaker = CircuitBreaker()

        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self._headers = auth_headers(api_key)
        self._endpoint = Endpoint(
            base_url=settings.base_url,
            model=settings.model,
            operation="image generation",
            key_setting="K2W_IMAGE_API_KEY",
            secret=api_key,
        )
        self._download_endpoint = Endpoint(
            base_url=settings.base_url,
            model=settings.model,
            operation="image download",
            key_setting="K2W_IMAGE_API_KEY",
            secret=api_key,
        )
        self._policy = RetryPolicy(
            max_retries=settings.max_retries,
            max_wait_s=settings.max_wait_s,
            initial_wait_s=settings.initial_wait_s,
        )
        self._send_response_format = not _always_returns_base64(settings.model)

    @property
    def settings(self) -> OpenAIImageSettings:
        """The settings this provider was made with."""
        return self._settings

    def reset(self) -> None:
        """Allow calls again after a refused API key or an exhausted quota."""
        self._breaker.reset()

    async def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Generate the featured image for ``request``.

        Raises :class:`~k2w._errors.ProviderResponseError` when the response has no
        usable image, and the other :class:`~k2w._errors.ProviderError` subclasses as
        described in :mod:`k2w._providers._http`.
        """
        self._breaker.check()

        started = time.perf_counter()
        body = await self._post_generation(request)
        data, media_type = await self._image_bytes(body)
        latency_s = time.perf_counter() - started

        return GeneratedImage(
            data=data,
            media_type=media_type,
            alt_text=_alt_text(request),
            generator=f"openai:{self._settings.model}",
            offline=False,
            usage=self._usage(body, latency_s=latency_s),
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"OpenAIImages(model={self._settings.model!r}, base_url={self._settings.base_url!r})"

    async def _post_generation(self, request: ImageRequest) -> dict[str, Any]:
        url = self._endpoint.url("images/generations")
        dropped_response_format = False
        while True:
            response = await send_with_retries(
                self._client,
                "POST",
                url,
                endpoint=self._endpoint,
                policy=self._policy,
                sleep=self._sleep,
                jitter=self._jitter,
                json_body=self._request_body(request),
                headers=self._headers,
                timeout_s=self._settings.timeout,
            )
            if response.is_success:
                return read_json_object(response, self._endpoint)

            error = ApiError.from_response(response)
            if (
                response.status_code == 400
                and self._send_response_format
                and not dropped_response_format
                and error.mentions("response_format")
            ):
                self._send_response_format = False
                dropped_response_format = True
                logger.info(
                    "%s rejected response_format for model %s; not sending it from now on",
                    self._settings.base_url,
                    self._settings.model,
                )
                continue

            failure = final_error(response, self._endpoint)
            if isinstance(failure, ProviderAuthError | QuotaExhaustedError):
                self._breaker.trip(failure)
            raise failure

    def _request_body(self, request: ImageRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._settings.model,
            "prompt": _prompt(request),
            "n": 1,
            "size": self._settings.size or request.size,
        }
        if self._settings.quality is not None:
            body["quality"] = self._settings.quality
        if self._send_response_format:
            body["response_format"] = "b64_json"
        return body

    async def _image_bytes(self, body: Mapping[str, Any]) -> tuple[bytes, _MediaType]:
        source = (
            f"image generation from model {self._settings.model!r} at {self._settings.base_url}"
        )
        items = body.get("data")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ProviderResponseError(f"{source} returned no image (empty 'data')")
        item: dict[str, Any] = items[0]

        encoded = item.get("b64_json")
        if isinstance(encoded, str) and encoded:
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProviderResponseError(f"{source} returned invalid base64 data") from exc
            return data, _media_type(data, source)

        url = item.get("url")
        if isinstance(url, str) and url:
            data = await self._download(url, source)
            return data, _media_type(data, source)

        raise ProviderResponseError(f"{source} returned neither 'b64_json' nor 'url'")

    async def _download(self, url: str, source: str) -> bytes:
        parsed = httpx.URL(url)
        # Signed download URLs carry credentials in the query string, so messages show
        # the URL without it.
        port = f":{parsed.port}" if parsed.port is not None else ""
        display_url = f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"
        if parsed.scheme not in ("http", "https"):
            raise ProviderResponseError(f"{source} returned an image URL that is not http(s)")

        response = await send_with_retries(
            self._client,
            "GET",
            url,
            endpoint=self._download_endpoint,
            policy=self._policy,
            sleep=self._sleep,
            jitter=self._jitter,
            timeout_s=self._settings.timeout,
        )
        if not response.is_success:
            raise ProviderResponseError(
                f"downloading the generated image from {display_url} failed with "
                f"HTTP {response.status_code}"
            )
        return response.content

    def _usage(self, body: Mapping[str, Any], *, latency_s: float) -> Usage:
        reported = body.get("usage")
        tokens = reported if isinstance(reported, dict) else {}
        input_tokens = _int_or_zero(tokens.get("input_tokens"))
        output_tokens = _int_or_zero(tokens.get("output_tokens"))
        cost = estimate_cost(
            self._settings.model,
            prompt_tokens=input_tokens,
            completion_tokens=output_tokens,
            images=1,
            prices=self._settings.prices,
        )
        return Usage(
            calls=1,
            prompt_tokens=input_tokens,
            completion_tokens=output_tokens,
            latency_s=latency_s,
            cost_usd=cost,
            model=self._settings.model,
        )


def _always_returns_base64(model: str) -> bool:
    return model.lower().removeprefix("openai/").startswith("gpt-image")


def _prompt(request: ImageRequest) -> str:
    return (
        f'Featured image for a web article titled "{request.title}" about '
        f'"{request.keyword}". Editorial photograph style. No text, letters, logos or '
        "watermarks in the image."
    )


def _alt_text(request: ImageRequest) -> str:
    title = " ".join(request.title.split())
    keyword = " ".join(request.keyword.split())
    if keyword.casefold() in title.casefold():
        return title
    return f"{title} ({keyword})"


def _media_type(data: bytes, source: str) -> _MediaType:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ProviderResponseError(f"{source} returned data that is not a PNG, JPEG or WebP image")


def _first_set(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
