"""Articles from any OpenAI-compatible chat completions API.

:class:`OpenAIText` works with OpenAI and with the local servers that copy its API
(Ollama, vLLM, LM Studio, llama.cpp's ``llama-server``). It requests one JSON object,
checks the response before anything is kept, and turns each way a call can fail into one
exception of :mod:`k2w._errors`::

    settings = OpenAISettings(base_url="http://127.0.0.1:11434/v1", model="qwen2.5:7b")
    async with OpenAIText(settings) as llm:
        article = await llm.write_article(request)

A response is a failed attempt (:class:`~k2w._errors.ProviderResponseError`, which the
job queue retries) when it was cut off by the token limit, has no content, is a refusal,
or holds no JSON object that validates as an article. A truncated response is first
retried once in the same call with twice the token budget (up to
``OpenAISettings.max_output_tokens_cap``), and truncated text is never returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import backoff
import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)

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
from ._models import Article, ArticleRequest, Section, Usage
from ._openai import (
    ArticlePayload,
    first_choice,
    json_schema_format,
    payload_from_choice,
    translate_messages,
    write_messages,
)
from ._pricing import ModelPrice, estimate_cost
from ._protocols import ResponseCache

__all__ = ["DEFAULT_BASE_URL", "OpenAISettings", "OpenAIText"]

logger = logging.getLogger("k2w.providers")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""OpenAI's own API; local servers need their URL set, for example Ollama's
``http://127.0.0.1:11434/v1``."""

_REASONING_MODEL = re.compile(r"^(?:openai/)?(?:o\d|gpt-5)", re.IGNORECASE)
_UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value", "unknown_parameter"})
_UNSUPPORTED_MESSAGE = re.compile(
    r"unsupported|not supported|does not support|unknown|unrecognized|not permitted",
    re.IGNORECASE,
)


class OpenAISettings(BaseModel):
    """Settings of :class:`OpenAIText`; the API key is a ``SecretStr`` and never shown.

    ``token_parameter`` picks the name of the output limit: ``"auto"`` sends
    ``max_completion_tokens`` to OpenAI's o-series and gpt-5 models and ``max_tokens``
    to others, and switches once if the server rejects the name. ``structured_output``
    picks how JSON is requested: ``"auto"`` sends ``response_format`` of type
    ``json_object`` and falls back to asking in the prompt alone if the server rejects
    it. ``temperature`` is not sent to o-series and gpt-5 models, which accept only
    their default, nor to a server that rejected it once. ``prices`` replaces the
    default price table used for cost estimates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = DEFAULT_BASE_URL
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    timeout: float = Field(default=120.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(default=4, ge=0, le=20)
    max_wait_s: float = Field(default=60.0, gt=0, description="cap on any single wait")
    initial_wait_s: float = Field(default=1.0, gt=0, description="first backoff cap")
    max_output_tokens: int = Field(default=4096, ge=16)
    max_output_tokens_cap: int = Field(
        default=16384, ge=16, description="largest budget when retrying a truncated response"
    )
    temperature: float | None = Field(default=0.7, ge=0, le=2)
    token_parameter: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    prices: dict[str, ModelPrice] | None = None

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAISettings | None:
        """Read ``K2W_LLM_BASE_URL``, ``K2W_LLM_MODEL`` and ``K2W_LLM_API_KEY``.

        Returns ``None`` when the base URL or the model is unset, which means "no LLM
        configured"; the key is optional because local servers need none.
        """
        env = os.environ if environ is None else environ
        base_url = env.get("K2W_LLM_BASE_URL", "").strip()
        model = env.get("K2W_LLM_MODEL", "").strip()
        if not base_url or not model:
            return None

        api_key = env.get("K2W_LLM_API_KEY", "").strip()
        return cls(
            base_url=base_url,
            model=model,
            api_key=SecretStr(api_key) if api_key else None,
        )


class OpenAIText:
    """A :class:`~k2w._providers._protocols.TextGenerator` backed by chat completions.

    Pass ``client`` to share an ``httpx.AsyncClient`` (it is not closed by
    :meth:`aclose`), or ``transport`` to route requests, for example through
    ``httpx.MockTransport`` in tests. ``sleep`` and ``jitter`` make retry waits
    testable in virtual time.

    After the API key was refused or the quota ran out, every later call fails at once
    with the same kind of error and sends nothing, until :meth:`reset` is called.
    """

    name = "openai"
    offline = False

    def __init__(
        self,
        settings: OpenAISettings,
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
        self._total_usage = Usage(model=settings.model)

        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self._headers = auth_headers(api_key)
        self._endpoint = Endpoint(
            base_url=settings.base_url,
            model=settings.model,
            operation="chat completion",
            key_setting="K2W_LLM_API_KEY",
            secret=api_key,
        )
        self._policy = RetryPolicy(
            max_retries=settings.max_retries,
            max_wait_s=settings.max_wait_s,
            initial_wait_s=settings.initial_wait_s,
        )

        # What the server accepts, learnt from its 400 responses and kept for later calls.
        self._token_parameter = _initial_token_parameter(settings)
        self._response_format = _initial_response_format(settings)
        self._send_temperature = settings.temperature is not None and not _is_reasoning_model(
            settings.model
        )

    @property
    def settings(self) -> OpenAISettings:
        """The settings this provider was made with."""
        return self._settings

    @property
    def total_usage(self) -> Usage:
        """Tokens, time and estimated cost of every call so far, failed ones included."""
        return self._total_usage

    def reset(self) -> None:
        """Allow calls again after a refused API key or an exhausted quota."""
        self._breaker.reset()

    async def write_article(
        self, request: ArticleRequest, *, cache: ResponseCache | None = None
    ) -> Article:
        """Write the article that ``request`` describes, in ``request.language``.

        Raises a :class:`~k2w._errors.ProviderError` subclass; see the module docstring.
        """
        messages = write_messages(request)
        payload, usage = await self._complete_article(messages, cache=cache, translate=False)
        return Article(
            keyword=request.keyword,
            language=request.language,
            title=payload.title,
            meta_description=payload.meta_description,
            intro_html=payload.intro_html,
            sections=[Section(heading=s.heading, html=s.html) for s in payload.sections],
            generator=f"openai:{self._settings.model}",
            offline=False,
            usage=usage,
        )

    async def translate_article(
        self, article: Article, target_language: str, *, cache: ResponseCache | None = None
    ) -> Article:
        """Translate ``article`` into ``target_language``, keeping its HTML structure.

        The keyword is translated too, as a search phrase in the target language. An
        article already in ``target_language`` is returned unchanged.
        """
        target_language = target_language.strip()
        if not target_language:
            raise InvalidInputError("target_language must be a language code such as 'en'")
        if target_language == article.language:
            return article

        messages = translate_messages(article, target_language)
        payload, usage = await self._complete_article(messages, cache=cache, translate=True)
        return Article(
            keyword=payload.keyword or article.keyword,
            language=target_language,
            title=payload.title,
            meta_description=payload.meta_description,
            intro_html=payload.intro_html,
            sections=[Section(heading=s.heading, html=s.html) for s in payload.sections],
            generator=f"openai:{self._settings.model}",
            offline=False,
            translated_from=article.language,
            usage=usage,
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
        return f"OpenAIText(model={self._settings.model!r}, base_url={self._settings.base_url!r})"

    async def _complete_article(
        self, messages: list[dict[str, str]], *, cache: ResponseCache | None, translate: bool
    ) -> tuple[ArticlePayload, Usage]:
        self._breaker.check()

        cache_key = self._cache_key(messages)
        if cache is not None:
            cached = await self._read_cache(cache, cache_key)
            if cached is not None:
                usage = Usage(model=self._settings.model, cached_calls=1)
                self._total_usage = self._total_usage + usage
                return cached, usage

        tally = _UsageTally(self._settings)
        started = time.perf_counter()
        try:
            payload, raw_body = await self._complete_until_whole(messages, translate, tally)
        finally:
            usage = tally.usage(latency_s=time.perf_counter() - started)
            self._total_usage = self._total_usage + usage

        if cache is not None:
            await cache.put(cache_key, raw_body)
        return payload, usage

    async def _complete_until_whole(
        self, messages: list[dict[str, str]], translate: bool, tally: _UsageTally
    ) -> tuple[ArticlePayload, str]:
        budget = self._settings.max_output_tokens
        retried = False
        while True:
            raw_body, body = await self._post_chat(messages, budget=budget, translate=translate)
            tally.add(body)

            choice = first_choice(body, self._endpoint)
            if choice.get("finish_reason") != "length":
                return payload_from_choice(choice, self._endpoint), raw_body

            # A truncated response gets one more try with a doubled budget, never more.
            larger = min(budget * 2, self._settings.max_output_tokens_cap)
            if retried or larger <= budget:
                raise ProviderResponseError(
                    f"chat completion from model {self._settings.model!r} at "
                    f"{self._settings.base_url} was cut off at the limit of {budget} output "
                    "tokens (finish_reason 'length'); the truncated text was discarded. "
                    "Raise max_output_tokens_cap or ask for a shorter article"
                )
            logger.info(
                "chat completion from model %s was cut off at %d output tokens; "
                "retrying at once with %d",
                self._settings.model,
                budget,
                larger,
            )
            budget = larger
            retried = True

    async def _post_chat(
        self, messages: list[dict[str, str]], *, budget: int, translate: bool
    ) -> tuple[str, dict[str, Any]]:
        adapted: set[str] = set()
        url = self._endpoint.url("chat/completions")
        while True:
            response = await send_with_retries(
                self._client,
                "POST",
                url,
                endpoint=self._endpoint,
                policy=self._policy,
                sleep=self._sleep,
                jitter=self._jitter,
                json_body=self._request_body(messages, budget=budget, translate=translate),
                headers=self._headers,
                timeout_s=self._settings.timeout,
            )
            if response.is_success:
                return response.text, read_json_object(response, self._endpoint)

            if response.status_code == 400 and self._adapt(
                ApiError.from_response(response), adapted
            ):
                continue

            error = final_error(response, self._endpoint)
            if isinstance(error, ProviderAuthError | QuotaExhaustedError):
                self._breaker.trip(error)
            raise error

    def _request_body(
        self, messages: list[dict[str, str]], *, budget: int, translate: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": messages,
            self._token_parameter: budget,
        }
        if self._send_temperature:
            body["temperature"] = self._settings.temperature
        if self._response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif self._response_format == "json_schema":
            body["response_format"] = json_schema_format(translate=translate)
        return body

    def _adapt(self, error: ApiError, adapted: set[str]) -> bool:
        """Change what is sent after a 400 about one parameter; True if it changed.

        Each kind of change is tried once per call and then kept for later calls.
        """
        if error.is_context_length:
            return False
        # A 400 such as "max_tokens is too large" names a parameter without rejecting it.
        unsupported = error.code in _UNSUPPORTED_CODES or bool(
            _UNSUPPORTED_MESSAGE.search(error.message)
        )

        if (
            self._settings.token_parameter == "auto"
            and "token_parameter" not in adapted
            and unsupported
            and error.mentions(self._token_parameter)
        ):
            rejected = self._token_parameter
            self._token_parameter = (
                "max_tokens" if rejected == "max_completion_tokens" else "max_completion_tokens"
            )
            adapted.add("token_parameter")
            logger.info(
                "%s rejected %s; sending %s from now on",
                self._settings.base_url,
                rejected,
                self._token_parameter,
            )
            return True

        if (
            self._settings.structured_output == "auto"
            and self._response_format != "prompt"
            and error.mentions("response_format")
        ):
            self._response_format = "prompt"
            logger.info(
                "%s rejected response_format; asking for JSON in the prompt only from now on",
                self._settings.base_url,
            )
            return True

        if (
            self._send_temperature
            and "temperature" not in adapted
            and unsupported
            and error.mentions("temperature")
        ):
            self._send_temperature = False
            adapted.add("temperature")
            logger.info(
                "%s rejected temperature for model %s; using the model's default from now on",
                self._settings.base_url,
                self._settings.model,
            )
            return True

        return False

    def _cache_key(self, messages: list[dict[str, str]]) -> str:
        # The key names what was asked, not how it was sent, so that learning a
        # parameter name from the server does not make earlier responses unreachable.
        request = {
            "base_url": self._settings.base_url,
            "model": self._settings.model,
            "messages": messages,
            "parameters": {
                "max_output_tokens": self._settings.max_output_tokens,
                "temperature": self._settings.temperature,
                "structured_output": self._settings.structured_output,
            },
        }
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    async def _read_cache(self, cache: ResponseCache, key: str) -> ArticlePayload | None:
        stored = await cache.get(key)
        if stored is None:
            return None
        try:
            body = json.loads(stored)
            if not isinstance(body, dict):
                raise ProviderResponseError("the cached response is not a JSON object")
            return payload_from_choice(first_choice(body, self._endpoint), self._endpoint)
        except (ValueError, ProviderResponseError) as exc:
            logger.warning("ignoring unusable cached response %s: %s", key[:12], exc)
            return None


class _UsageTally:
    """Adds up the usage of the completions received during one call."""

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0

    def add(self, body: Mapping[str, Any]) -> None:
        self._calls += 1
        usage = body.get("usage")
        if not isinstance(usage, dict):
            return
        self._prompt_tokens += _int_or_zero(usage.get("prompt_tokens"))
        self._completion_tokens += _int_or_zero(usage.get("completion_tokens"))

    def usage(self, *, latency_s: float) -> Usage:
        cost = estimate_cost(
            self._settings.model,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            prices=self._settings.prices,
        )
        return Usage(
            calls=self._calls,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            latency_s=latency_s,
            cost_usd=cost,
            model=self._settings.model,
        )


def _is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


def _initial_token_parameter(settings: OpenAISettings) -> str:
    if settings.token_parameter != "auto":
        return settings.token_parameter
    return "max_completion_tokens" if _is_reasoning_model(settings.model) else "max_tokens"


def _initial_response_format(settings: OpenAISettings) -> str:
    return "json_object" if settings.structured_output == "auto" else settings.structured_output


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
