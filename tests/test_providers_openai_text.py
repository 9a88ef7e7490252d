"""OpenAIText against httpx.MockTransport: rejected responses, retries, limits, cache."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from slugify import slugify

from k2w._errors import (
    ContextLengthError,
    InvalidInputError,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
    UnrecoverableError,
)
from k2w._providers._models import Article, ArticleRequest
from k2w._providers._offline import OfflineWriter
from k2w._providers._openai import clean_title
from k2w._providers._openai_text import OpenAISettings, OpenAIText
from k2w._providers._pricing import ModelPrice
from support.openai_server import (
    RecordingSleep,
    ScriptedTransport,
    article_json,
    chat_completion,
    error_body,
)

pytestmark = pytest.mark.anyio

BASE_URL = "http://127.0.0.1:9/v1"
API_KEY = "sk-test-4f8a1c2e9b7d6e5f"
KEYWORD = "máy lọc không khí"


def make_settings(**changes: Any) -> OpenAISettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "model": "gpt-4o-mini",
        "api_key": SecretStr(API_KEY),
    }
    values.update(changes)
    return OpenAISettings(**values)


def make_provider(
    transport: ScriptedTransport, sleep: RecordingSleep | None = None, **changes: Any
) -> OpenAIText:
    return OpenAIText(
        make_settings(**changes),
        transport=transport,
        sleep=sleep or RecordingSleep(),
        jitter=lambda cap: cap,
    )


def make_request(keyword: str = KEYWORD, language: str = "vi") -> ArticleRequest:
    return ArticleRequest(keyword=keyword, language=language, slug="may-loc-khong-khi")


def ok(content: dict[str, Any] | str | None = None, **options: Any) -> httpx.Response:
    if content is None:
        content = article_json(KEYWORD)
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return httpx.Response(200, json=chat_completion(text, **options))


def failure(
    status: int,
    code: str | None = None,
    message: str = "error",
    *,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> httpx.Response:
    return httpx.Response(
        status, json=error_body(status, code, message, param=param), headers=headers
    )


class DictCache:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str) -> None:
        self.values[key] = value


# Successful answers


async def test_write_article_returns_validated_article() -> None:
    transport = ScriptedTransport(ok())

    article = await make_provider(transport).write_article(make_request())

    assert article.keyword == KEYWORD
    assert article.language == "vi"
    assert article.title == f"[fake-openai] {KEYWORD}"
    assert len(article.sections) == 5
    assert article.generator == "openai:gpt-4o-mini"
    assert article.offline is False
    assert transport.requests[0].url == f"{BASE_URL}/chat/completions"
    assert transport.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_request_names_keyword_language_and_json() -> None:
    transport = ScriptedTransport(ok())

    await make_provider(transport).write_article(make_request())

    body = transport.bodies[0]
    prompt = body["messages"][-1]["content"]
    assert f"Keyword: {KEYWORD}" in prompt
    assert "Vietnamese" in prompt
    assert "JSON" in body["messages"][0]["content"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4o-mini"


async def test_fenced_json_with_sentence_after_is_parsed() -> None:
    payload = json.dumps(article_json(KEYWORD), ensure_ascii=False)
    content = f"Sure! Here it is:\n```json\n{payload}\n```\nLet me know if you want changes {{}}."
    transport = ScriptedTransport(ok(content))

    article = await make_provider(transport).write_article(make_request())

    assert article.title == f"[fake-openai] {KEYWORD}"


async def test_bulleted_title_candidates_pick_first_cleanly() -> None:
    candidates = (
        "Here are three options:\n"
        '1. "Máy lọc không khí: cách chọn đúng"\n'
        "2. Máy lọc không khí cho phòng ngủ\n"
        "3. **Top máy lọc không khí 2025**"
    )
    transport = ScriptedTransport(ok(article_json(KEYWORD, title=candidates)))

    article = await make_provider(transport).write_article(make_request())

    assert article.title == "Máy lọc không khí: cách chọn đúng"
    assert "\n" not in article.title
    assert slugify(article.title) == "may-loc-khong-khi-cach-chon-dung"


async def test_title_list_without_usable_text_is_rejected() -> None:
    transport = ScriptedTransport(ok(article_json(KEYWORD, title="Titles:\n- \n- ...")))

    with pytest.raises(ProviderResponseError, match="title"):
        await make_provider(transport).write_article(make_request())


async def test_title_as_json_array_picks_first() -> None:
    title = ["  - Máy lọc không khí tốt nhất", "Another"]
    transport = ScriptedTransport(ok(article_json(KEYWORD, title=title)))

    article = await make_provider(transport).write_article(make_request())

    assert article.title == "Máy lọc không khí tốt nhất"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Plain title", "Plain title"),
        ("- First\n- Second", "First"),
        ("* First\n* Second", "First"),
        ("1) First\n2) Second", "First"),
        ("Title: “Quoted”", "Quoted"),
        ("## Heading title", "Heading title"),
        ("Options:\n\n   \n• Bullet one", "Bullet one"),
        ("Tiêu đề: Máy lọc\tkhông khí", "Máy lọc không khí"),
        ("10 cách chọn máy lọc", "10 cách chọn máy lọc"),
    ],
)
def test_clean_title_cases(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


def test_clean_title_caps_length_at_a_word() -> None:
    title = clean_title("word " * 100)

    assert len(title) <= 150
    assert title.endswith("word")


@pytest.mark.parametrize("raw", ["", "   ", "- \n* \n1. ", "Options:", 42])
def test_clean_title_rejects_unusable(raw: object) -> None:
    with pytest.raises(ValueError, match="title"):
        clean_title(raw)


# Responses that are failed attempts


async def test_truncated_answer_retried_with_larger_budget() -> None:
    transport = ScriptedTransport(
        ok('{"title": "cut off mid-sen', finish_reason="length"),
        ok(),
    )

    article = await make_provider(
        transport, max_output_tokens=1000, max_output_tokens_cap=4000
    ).write_article(make_request())

    assert article.title == f"[fake-openai] {KEYWORD}"
    assert [body["max_tokens"] for body in transport.bodies] == [1000, 2000]


async def test_truncated_twice_fails_without_returning_text() -> None:
    truncated = json.dumps(article_json(KEYWORD))
    transport = ScriptedTransport(
        ok(truncated, finish_reason="length"),
        ok(truncated, finish_reason="length"),
    )
    provider = make_provider(transport, max_output_tokens=1000, max_output_tokens_cap=2000)

    with pytest.raises(ProviderResponseError, match="cut off at the limit of 2000"):
        await provider.write_article(make_request())

    assert len(transport.requests) == 2


async def test_truncation_retried_only_once() -> None:
    truncated = ok("{", finish_reason="length")
    transport = ScriptedTransport(truncated, truncated)
    provider = make_provider(transport, max_output_tokens=1000, max_output_tokens_cap=16000)

    with pytest.raises(ProviderResponseError, match="cut off at the limit of 2000"):
        await provider.write_article(make_request())

    assert [body["max_tokens"] for body in transport.bodies] == [1000, 2000]


async def test_null_content_fails_clearly() -> None:
    transport = ScriptedTransport(
        httpx.Response(200, json=chat_completion(None, completion_tokens=4096))
    )

    with pytest.raises(ProviderResponseError, match="no content") as caught:
        await make_provider(transport).write_article(make_request())

    assert "reasoning" in str(caught.value)
    assert len(transport.requests) == 1


async def test_refusal_fails_clearly() -> None:
    transport = ScriptedTransport(
        httpx.Response(200, json=chat_completion(None, refusal="I can't help with that."))
    )

    with pytest.raises(ProviderResponseError, match="refusal"):
        await make_provider(transport).write_article(make_request())


async def test_prose_without_json_fails_clearly() -> None:
    transport = ScriptedTransport(ok("I am sorry, I cannot produce JSON today."))

    with pytest.raises(ProviderResponseError, match="no JSON object"):
        await make_provider(transport).write_article(make_request())


async def test_json_missing_sections_fails_validation() -> None:
    transport = ScriptedTransport(ok({"title": "A title", "meta_description": "Meta"}))

    with pytest.raises(ProviderResponseError, match="sections"):
        await make_provider(transport).write_article(make_request())


async def test_response_errors_are_not_unrecoverable() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=chat_completion(None)))

    with pytest.raises(ProviderResponseError) as caught:
        await make_provider(transport).write_article(make_request())

    assert not isinstance(caught.value, UnrecoverableError)


# Rate limits and retries


async def test_rate_limit_waits_retry_after_then_succeeds() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        failure(429, "rate_limit_exceeded", "Rate limit reached", headers={"retry-after": "2"}),
        ok(),
    )

    article = await make_provider(transport, sleep).write_article(make_request())

    assert article.title.startswith("[fake-openai]")
    assert sleep.waits == [2.0]
    assert len(transport.requests) == 2


async def test_rate_limit_exhausted_raises_retry_after() -> None:
    sleep = RecordingSleep()
    limited = failure(429, "rate_limit_exceeded", headers={"retry-after": "2"})
    transport = ScriptedTransport(limited, limited, limited)

    with pytest.raises(ProviderRateLimitedError) as caught:
        await make_provider(transport, sleep, max_retries=2).write_article(make_request())

    # A RateLimitedError makes the job queue delay the job without using an attempt.
    assert isinstance(caught.value, RateLimitedError)
    assert caught.value.retry_after == 2.0
    assert sleep.waits == [2.0, 2.0]
    assert len(transport.requests) == 3


async def test_rate_limit_without_code_is_retried() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(httpx.Response(429, text="Too Many Requests"), ok())

    await make_provider(transport, sleep).write_article(make_request())

    assert sleep.waits == [1.0]


async def test_server_errors_retried_with_growing_backoff() -> None:
    sleep = RecordingSleep()
    caps: list[float] = []

    def half_jitter(cap: float) -> float:
        caps.append(cap)
        return cap / 2

    transport = ScriptedTransport(failure(500, None), failure(503, None), ok())
    provider = OpenAIText(make_settings(), transport=transport, sleep=sleep, jitter=half_jitter)

    article = await provider.write_article(make_request())

    assert article.title.startswith("[fake-openai]")
    assert caps == [1.0, 2.0]
    assert sleep.waits == [0.5, 1.0]
    assert len(transport.requests) == 3


async def test_default_jitter_stays_within_caps() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(failure(500), failure(502), failure(503), ok())
    provider = OpenAIText(make_settings(), transport=transport, sleep=sleep)

    await provider.write_article(make_request())

    assert len(sleep.waits) == 3
    for wait, cap in zip(sleep.waits, [1.0, 2.0, 4.0], strict=True):
        assert 0.0 <= wait <= cap


async def test_server_errors_exhausted_raise_unavailable() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(failure(500), failure(502), failure(503))

    with pytest.raises(ProviderUnavailableError, match="3 times, last with HTTP 503"):
        await make_provider(transport, sleep, max_retries=2).write_article(make_request())

    assert len(sleep.waits) == 2


async def test_connection_error_and_timeout_are_retried() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        ok(),
    )

    article = await make_provider(transport, sleep).write_article(make_request())

    assert article.title.startswith("[fake-openai]")
    assert len(sleep.waits) == 2


async def test_timeouts_exhausted_raise_unavailable() -> None:
    transport = ScriptedTransport(httpx.ReadTimeout("timed out"), httpx.ReadTimeout("again"))

    with pytest.raises(ProviderUnavailableError, match="ReadTimeout") as caught:
        await make_provider(transport, max_retries=1).write_article(make_request())

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_retry_after_ms_is_honoured() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        failure(429, "rate_limit_exceeded", headers={"retry-after-ms": "1500"}), ok()
    )

    await make_provider(transport, sleep).write_article(make_request())

    assert sleep.waits == [1.5]


async def test_ratelimit_reset_header_is_honoured() -> None:
    sleep = RecordingSleep()
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2.5s"}
    transport = ScriptedTransport(failure(429, "rate_limit_exceeded", headers=headers), ok())

    await make_provider(transport, sleep).write_article(make_request())

    assert sleep.waits == [2.5]


async def test_server_wait_is_capped_at_max_wait() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(failure(503, headers={"retry-after": "300"}), ok())

    await make_provider(transport, sleep, max_wait_s=60).write_article(make_request())

    assert sleep.waits == [60.0]


async def test_long_rate_limit_goes_to_the_job_queue() -> None:
    sleep = RecordingSleep()
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    transport = ScriptedTransport(failure(429, "rate_limit_exceeded", headers=headers))

    with pytest.raises(ProviderRateLimitedError) as caught:
        await make_provider(transport, sleep, max_wait_s=60).write_article(make_request())

    assert caught.value.retry_after == 360.0
    assert sleep.waits == []


async def test_retry_is_logged_without_key(caplog: pytest.LogCaptureFixture) -> None:
    transport = ScriptedTransport(
        failure(429, "rate_limit_exceeded", headers={"retry-after": "2"}), ok()
    )

    with caplog.at_level(logging.INFO, logger="k2w.providers"):
        await make_provider(transport).write_article(make_request())

    retries = [record for record in caplog.records if record.name == "k2w.providers"]
    assert len(retries) == 1
    message = retries[0].getMessage()
    assert "HTTP 429 rate_limit_exceeded" in message
    assert "2.00 s" in message
    assert API_KEY not in message


# Final errors


async def test_insufficient_quota_stops_all_later_calls() -> None:
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        failure(429, "insufficient_quota", "You exceeded your current quota")
    )
    provider = make_provider(transport, sleep)

    with pytest.raises(QuotaExhaustedError, match="quota exhausted"):
        await provider.write_article(make_request())
    with pytest.raises(QuotaExhaustedError, match="no further calls are made"):
        await provider.write_article(make_request("other keyword"))

    assert len(transport.requests) == 1
    assert sleep.waits == []


async def test_reset_allows_calls_again() -> None:
    transport = ScriptedTransport(failure(429, "insufficient_quota"), ok())
    provider = make_provider(transport)
    with pytest.raises(QuotaExhaustedError):
        await provider.write_article(make_request())

    provider.reset()
    article = await provider.write_article(make_request())

    assert article.title.startswith("[fake-openai]")
    assert len(transport.requests) == 2


@pytest.mark.parametrize("code", ["billing_hard_limit_reached", "quota_exceeded"])
async def test_other_quota_codes_are_quota_errors(code: str) -> None:
    transport = ScriptedTransport(failure(429, code))

    with pytest.raises(QuotaExhaustedError):
        await make_provider(transport).write_article(make_request())


async def test_context_length_names_model_and_limit() -> None:
    message = (
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens. Please reduce the length of the messages."
    )
    transport = ScriptedTransport(failure(400, "context_length_exceeded", message))

    with pytest.raises(ContextLengthError) as caught:
        await make_provider(transport).write_article(make_request())

    assert "gpt-4o-mini" in str(caught.value)
    assert "8192" in str(caught.value)
    assert len(transport.requests) == 1


async def test_context_length_found_by_message_alone() -> None:
    message = "This model's maximum context length is 4096 tokens. However, you requested 5000."
    transport = ScriptedTransport(failure(400, None, message))

    with pytest.raises(ContextLengthError, match="4096"):
        await make_provider(transport).write_article(make_request())


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_fails_at_once_without_showing_it(status: int) -> None:
    sleep = RecordingSleep()
    echoed = f"Incorrect API key provided: {API_KEY}. You can find your API key online."
    transport = ScriptedTransport(failure(status, "invalid_api_key", echoed))
    provider = make_provider(transport, sleep)

    with pytest.raises(ProviderAuthError) as caught:
        await provider.write_article(make_request())

    error = caught.value
    assert "API key was refused" in str(error)
    assert BASE_URL in str(error)
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)
    assert sleep.waits == []
    assert len(transport.requests) == 1


async def test_refused_key_stops_later_calls() -> None:
    transport = ScriptedTransport(failure(401, "invalid_api_key"))
    provider = make_provider(transport)
    with pytest.raises(ProviderAuthError):
        await provider.write_article(make_request())

    with pytest.raises(ProviderAuthError, match="no further calls"):
        await provider.translate_article(await _offline_article(), "en")

    assert len(transport.requests) == 1


async def test_missing_key_says_which_setting() -> None:
    transport = ScriptedTransport(failure(401, None, "Missing bearer authentication"))
    provider = OpenAIText(make_settings(api_key=None), transport=transport, sleep=RecordingSleep())

    with pytest.raises(ProviderAuthError, match="K2W_LLM_API_KEY"):
        await provider.write_article(make_request())

    assert "authorization" not in transport.requests[0].headers


async def test_unknown_model_names_model_and_base_url() -> None:
    message = "The model `gpt-nine` does not exist or you do not have access to it."
    transport = ScriptedTransport(failure(404, "model_not_found", message))

    with pytest.raises(ProviderRequestError) as caught:
        await make_provider(transport, model="gpt-nine").write_article(make_request())

    assert "'gpt-nine'" in str(caught.value)
    assert BASE_URL in str(caught.value)


async def test_other_client_errors_are_final() -> None:
    transport = ScriptedTransport(failure(422, "invalid_value", "messages is invalid"))

    with pytest.raises(ProviderRequestError, match="HTTP 422"):
        await make_provider(transport).write_article(make_request())

    assert len(transport.requests) == 1


# Adapting to what the server accepts


async def test_auto_token_parameter_by_model() -> None:
    transport = ScriptedTransport(ok(), ok())

    await make_provider(transport, model="gpt-4o-mini").write_article(make_request())
    await make_provider(transport, model="o4-mini").write_article(make_request())

    first, second = transport.bodies
    assert "max_tokens" in first
    assert "max_completion_tokens" not in first
    assert "max_completion_tokens" in second
    assert "max_tokens" not in second
    assert "temperature" not in second


async def test_rejected_max_tokens_switches_once_and_remembers() -> None:
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    transport = ScriptedTransport(
        failure(400, "unsupported_parameter", message, param="max_tokens"), ok(), ok()
    )
    provider = make_provider(transport, model="my-reasoner")

    await provider.write_article(make_request())
    await provider.write_article(make_request("second"))

    keys = [sorted(k for k in body if k.startswith("max_")) for body in transport.bodies]
    assert keys == [["max_tokens"], ["max_completion_tokens"], ["max_completion_tokens"]]


async def test_rejected_token_parameter_both_ways_fails() -> None:
    transport = ScriptedTransport(
        failure(400, "unsupported_parameter", "bad", param="max_tokens"),
        failure(400, "unsupported_parameter", "bad", param="max_completion_tokens"),
    )

    with pytest.raises(ProviderRequestError, match="HTTP 400"):
        await make_provider(transport).write_article(make_request())

    assert len(transport.requests) == 2


async def test_too_large_max_tokens_is_not_switched() -> None:
    message = "max_tokens is too large: 100000. This model supports at most 16384 tokens."
    transport = ScriptedTransport(failure(400, None, message, param="max_tokens"))

    with pytest.raises(ProviderRequestError, match="too large"):
        await make_provider(transport).write_article(make_request())

    assert len(transport.requests) == 1


async def test_explicit_token_parameter_is_not_switched() -> None:
    transport = ScriptedTransport(failure(400, "unsupported_parameter", param="max_tokens"))

    with pytest.raises(ProviderRequestError):
        await make_provider(transport, token_parameter="max_tokens").write_article(make_request())

    assert len(transport.requests) == 1


async def test_rejected_response_format_falls_back_to_prompt() -> None:
    message = "'response_format.type' must be 'json_schema'"
    transport = ScriptedTransport(failure(400, None, message), ok(), ok())
    provider = make_provider(transport)

    await provider.write_article(make_request())
    await provider.write_article(make_request("second"))

    formats = [body.get("response_format") for body in transport.bodies]
    assert formats == [{"type": "json_object"}, None, None]


async def test_json_schema_mode_sends_schema() -> None:
    transport = ScriptedTransport(ok())

    await make_provider(transport, structured_output="json_schema").write_article(make_request())

    response_format = transport.bodies[0]["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]["schema"]
    assert schema["required"] == ["title", "meta_description", "intro_html", "sections"]


async def test_prompt_mode_sends_no_response_format() -> None:
    transport = ScriptedTransport(ok())

    await make_provider(transport, structured_output="prompt").write_article(make_request())

    assert "response_format" not in transport.bodies[0]


async def test_rejected_temperature_is_dropped_and_remembered() -> None:
    message = "Unsupported value: 'temperature' does not support 0.7 with this model."
    transport = ScriptedTransport(
        failure(400, "unsupported_value", message, param="temperature"), ok(), ok()
    )
    provider = make_provider(transport)

    await provider.write_article(make_request())
    await provider.write_article(make_request("second"))

    assert [("temperature" in body) for body in transport.bodies] == [True, False, False]


# Usage, cost and cache


async def test_usage_and_cost_are_recorded() -> None:
    transport = ScriptedTransport(ok(prompt_tokens=1000, completion_tokens=2000))
    provider = make_provider(transport)

    article = await provider.write_article(make_request())

    usage = article.usage
    assert usage.calls == 1
    assert usage.prompt_tokens == 1000
    assert usage.completion_tokens == 2000
    assert usage.cost_usd == pytest.approx(1000 * 0.15 / 1e6 + 2000 * 0.60 / 1e6)
    assert usage.latency_s >= 0
    assert usage.model == "gpt-4o-mini"
    assert provider.total_usage.prompt_tokens == 1000


async def test_usage_adds_up_truncated_attempt() -> None:
    transport = ScriptedTransport(
        ok("{", finish_reason="length", prompt_tokens=10, completion_tokens=100),
        ok(prompt_tokens=10, completion_tokens=200),
    )

    article = await make_provider(transport).write_article(make_request())

    assert article.usage.calls == 2
    assert article.usage.completion_tokens == 300


async def test_price_table_override_and_unknown_model() -> None:
    prices = {"house-model": ModelPrice(input_per_million=1.0, output_per_million=2.0)}
    transport = ScriptedTransport(
        ok(prompt_tokens=1_000_000, completion_tokens=1_000_000),
        ok(prompt_tokens=1_000_000, completion_tokens=1_000_000),
    )

    priced = await make_provider(transport, model="house-model", prices=prices).write_article(
        make_request()
    )
    unknown = await make_provider(transport, model="llama3.1:8b").write_article(make_request())

    assert priced.usage.cost_usd == pytest.approx(3.0)
    assert unknown.usage.cost_usd == 0.0


async def test_cache_hit_sends_no_request() -> None:
    cache = DictCache()
    transport = ScriptedTransport(ok())
    provider = make_provider(transport)

    first = await provider.write_article(make_request(), cache=cache)
    second = await provider.write_article(make_request(), cache=cache)

    assert len(transport.requests) == 1
    assert second.title == first.title
    assert second.sections == first.sections
    assert second.usage.cached_calls == 1
    assert second.usage.calls == 0
    assert second.usage.cost_usd == 0.0


async def test_cache_key_depends_on_request() -> None:
    cache = DictCache()
    transport = ScriptedTransport(ok(), ok())
    provider = make_provider(transport)

    await provider.write_article(make_request(), cache=cache)
    await provider.write_article(make_request("another keyword"), cache=cache)

    assert len(transport.requests) == 2
    assert len(cache.values) == 2
    assert all(len(key) == 64 for key in cache.values)


async def test_failed_answer_is_not_cached() -> None:
    cache = DictCache()
    transport = ScriptedTransport(ok("not json"))

    with pytest.raises(ProviderResponseError):
        await make_provider(transport).write_article(make_request(), cache=cache)

    assert cache.values == {}


# Translation


async def test_translate_article_sets_language_and_source() -> None:
    original = await _offline_article()
    translated = article_json("air purifier", title="Air purifiers: a guide")
    translated["keyword"] = "air purifier"
    transport = ScriptedTransport(ok(translated))

    article = await make_provider(transport).translate_article(original, "en")

    assert article.language == "en"
    assert article.translated_from == "vi"
    assert article.keyword == "air purifier"
    assert article.title == "Air purifiers: a guide"
    prompt = transport.bodies[0]["messages"][-1]["content"]
    assert "into English" in prompt
    assert original.title in prompt


async def test_translate_to_same_language_sends_nothing() -> None:
    original = await _offline_article()
    transport = ScriptedTransport()

    article = await make_provider(transport).translate_article(original, "vi")

    assert article is original
    assert transport.requests == []


async def test_translate_rejects_empty_language() -> None:
    with pytest.raises(InvalidInputError):
        await make_provider(ScriptedTransport()).translate_article(await _offline_article(), " ")


# Settings


def test_settings_from_env_needs_url_and_model() -> None:
    assert OpenAISettings.from_env({}) is None
    assert OpenAISettings.from_env({"K2W_LLM_BASE_URL": BASE_URL}) is None
    assert OpenAISettings.from_env({"K2W_LLM_MODEL": "llama3.1"}) is None


def test_settings_from_env_reads_values() -> None:
    settings = OpenAISettings.from_env(
        {
            "K2W_LLM_BASE_URL": "http://127.0.0.1:11434/v1/",
            "K2W_LLM_MODEL": "qwen2.5:7b",
            "K2W_LLM_API_KEY": API_KEY,
        }
    )

    assert settings is not None
    assert settings.base_url == "http://127.0.0.1:11434/v1"
    assert settings.model == "qwen2.5:7b"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == API_KEY


def test_settings_from_env_key_is_optional() -> None:
    settings = OpenAISettings.from_env(
        {"K2W_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "K2W_LLM_MODEL": "qwen2.5:7b"}
    )

    assert settings is not None
    assert settings.api_key is None


def test_settings_reject_non_http_base_url() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAISettings(base_url="ftp://127.0.0.1/v1", model="m")


async def test_reprs_never_show_key() -> None:
    settings = make_settings()
    provider = OpenAIText(settings, transport=ScriptedTransport())

    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings)
    assert API_KEY not in repr(provider)
    assert API_KEY not in settings.model_dump_json()
    await provider.aclose()


async def test_client_and_transport_together_rejected() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(InvalidInputError):
            OpenAIText(make_settings(), client=client, transport=ScriptedTransport())


async def _offline_article() -> Article:
    return await OfflineWriter().write_article(make_request())
