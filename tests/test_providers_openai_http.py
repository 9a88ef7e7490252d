"""Shared HTTP helpers: wait headers, error classification, JSON extraction, prices."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from k2w._errors import (
    ContextLengthError,
    ProviderAuthError,
    ProviderRequestError,
    QuotaExhaustedError,
)
from k2w._providers._http import (
    ApiError,
    CircuitBreaker,
    Endpoint,
    final_error,
    parse_duration,
    redact,
    retry_after_from_headers,
)
from k2w._providers._openai import find_json_object
from k2w._providers._pricing import ModelPrice, estimate_cost, find_price

NOW = 1_767_225_600.0
ENDPOINT = Endpoint(
    base_url="http://127.0.0.1:9/v1",
    model="test-model",
    operation="chat completion",
    key_setting="K2W_LLM_API_KEY",
    secret="sk-secret-value-123456",
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("2", 2.0),
        ("1.25", 1.25),
    ],
)
def test_parse_duration_accepts_reset_formats(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "1x", "s1"])
def test_parse_duration_rejects_other_text(text: str) -> None:
    assert parse_duration(text) is None


def test_retry_after_ms_wins_over_seconds() -> None:
    headers = {"Retry-After-Ms": "250", "Retry-After": "9"}

    assert retry_after_from_headers(headers, rate_limited=True) == 0.25


def test_retry_after_seconds() -> None:
    assert retry_after_from_headers({"retry-after": "2"}, rate_limited=False) == 2.0


def test_retry_after_http_date() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 30, tz=UTC), usegmt=True)

    wait = retry_after_from_headers({"retry-after": date}, rate_limited=True, now=lambda: NOW)

    assert wait == pytest.approx(30.0)


def test_retry_after_date_in_past_is_zero() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW - 30, tz=UTC), usegmt=True)

    wait = retry_after_from_headers({"retry-after": date}, rate_limited=True, now=lambda: NOW)

    assert wait == 0.0


def test_reset_headers_use_exhausted_limit() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "20ms",
    }

    assert retry_after_from_headers(headers, rate_limited=True) == pytest.approx(0.02)


def test_reset_headers_ignored_unless_rate_limited() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1s"}

    assert retry_after_from_headers(headers, rate_limited=False) is None


def test_no_wait_headers() -> None:
    assert retry_after_from_headers({}, rate_limited=True) is None


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (408, None, True),
        (409, None, True),
        (429, "rate_limit_exceeded", True),
        (429, None, True),
        (429, "insufficient_quota", False),
        (500, None, True),
        (503, None, True),
        (400, None, False),
        (401, None, False),
        (404, None, False),
    ],
)
def test_api_error_retryable(status: int, code: str | None, retryable: bool) -> None:
    response = httpx.Response(status, json={"error": {"code": code, "message": "m"}})

    assert ApiError.from_response(response).is_retryable is retryable


def test_api_error_reads_plain_text_body() -> None:
    error = ApiError.from_response(httpx.Response(502, text="Bad Gateway"))

    assert error.message == "Bad Gateway"
    assert error.code is None


def test_api_error_reads_llama_cpp_context_error() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 9000,
            "n_ctx": 4096,
        }
    }

    error = final_error(httpx.Response(400, json=body), ENDPOINT)

    assert isinstance(error, ContextLengthError)
    assert "4096" in str(error)
    assert "'test-model'" in str(error)


def test_payment_required_is_quota() -> None:
    error = final_error(httpx.Response(402, json={"error": {"message": "no credits"}}), ENDPOINT)

    assert isinstance(error, QuotaExhaustedError)


def test_auth_error_redacts_echoed_key() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-secret-value-123456."}}

    error = final_error(httpx.Response(401, json=body), ENDPOINT)

    assert isinstance(error, ProviderAuthError)
    assert "sk-secret-value-123456" not in str(error)
    assert "[redacted]" in str(error)


def test_not_found_is_request_error() -> None:
    error = final_error(httpx.Response(404, text="404 page not found"), ENDPOINT)

    assert isinstance(error, ProviderRequestError)
    assert "/v1" in str(error)


def test_redact_masks_key_like_strings() -> None:
    text = redact("key sk-proj-abcdef123456 and secret-x", "secret-x")

    assert "abcdef123456" not in text
    assert "secret-x" not in text


def test_endpoint_repr_hides_secret() -> None:
    assert "sk-secret-value-123456" not in repr(ENDPOINT)


def test_circuit_breaker_trips_and_resets() -> None:
    breaker = CircuitBreaker()
    breaker.check()

    breaker.trip(QuotaExhaustedError("quota exhausted for the key"))
    with pytest.raises(QuotaExhaustedError, match="no further calls"):
        breaker.check()

    breaker.reset()
    breaker.check()
    assert not breaker.is_open


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ('{"title": "A"}', "A"),
        ('```json\n{"title": "A"}\n```\nDone.', "A"),
        ('Here {is} some prose. {"title": "A", "x": {"y": 1}} and more.', "A"),
        ('<think>maybe {"title": "wrong"}</think>{"title": "A"}', "A"),
        ('{"title": "A } with { braces \\" and quotes"}', 'A } with { braces " and quotes'),
        ('```\n{"title": "fenced"}\n```\n{"title": "later"}', "fenced"),
        ('Use { to open. {"title": "A"}', "A"),
    ],
)
def test_find_json_object(text: str, title: str) -> None:
    found = find_json_object(text)

    assert found is not None
    assert found["title"] == title


@pytest.mark.parametrize("text", ["", "no braces", "{not json}", '{"open": "never closed"'])
def test_find_json_object_none(text: str) -> None:
    assert find_json_object(text) is None


def test_find_price_prefers_longest_prefix() -> None:
    assert find_price("gpt-4o-mini-2024-07-18") == find_price("gpt-4o-mini")
    assert find_price("gpt-4o-2024-08-06") == find_price("gpt-4o")
    assert find_price("openai/gpt-4o") == find_price("gpt-4o")
    assert find_price("llama3.1:8b") is None


def test_estimate_cost_per_image_and_override() -> None:
    prices = {"m": ModelPrice(per_image=0.5)}

    assert estimate_cost("dall-e-3", images=2) == pytest.approx(0.08)
    assert estimate_cost("m", images=3, prices=prices) == pytest.approx(1.5)
    assert estimate_cost("unknown-model", prompt_tokens=10**6) == 0.0
