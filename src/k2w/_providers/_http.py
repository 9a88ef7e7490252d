"""HTTP plumbing shared by the OpenAI-compatible providers.

It sends a request with in-call retries, classifies error responses into the
exceptions of :mod:`k2w._errors`, and keeps a circuit breaker that stops a provider
after its API key was refused or its quota ran out.

These are retried in-call: 408, 409, 429 rate limits, 5xx, timeouts and connection
errors. Each wait uses exponential backoff with full jitter, or the wait the server
requests. After ``max_retries`` retries a 429 becomes
:class:`~k2w._errors.ProviderRateLimitedError` (the job queue delays the job without
using an attempt) and anything else :class:`~k2w._errors.ProviderUnavailableError`.
Every other error status is final and never retried here.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import backoff
import httpx

from .._errors import (
    ContextLengthError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
)

__all__ = [
    "ApiError",
    "CircuitBreaker",
    "Endpoint",
    "JitterFunction",
    "RetryPolicy",
    "SleepFunction",
    "auth_headers",
    "check_base_url",
    "final_error",
    "parse_duration",
    "read_json_object",
    "redact",
    "retry_after_from_headers",
    "send_with_retries",
]

logger = logging.getLogger("k2w.providers")

SleepFunction = Callable[[float], Awaitable[None]]
"""An ``anyio.sleep``-like function; tests pass one that records the waits instead."""

JitterFunction = Callable[[float], float]
"""Maps a backoff cap in seconds to the wait actually used, like ``backoff.full_jitter``."""

_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "quota_exceeded",
        "billing_hard_limit_reached",
        "billing_not_active",
        "insufficient_credits",
    }
)
_QUOTA_MESSAGE = re.compile(r"exceeded your current quota|insufficient[_ ]quota", re.IGNORECASE)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_MESSAGE = re.compile(
    r"maximum context length|context (?:length|size|window) (?:is |of )?exceeded"
    r"|exceeds? the (?:available )?context",
    re.IGNORECASE,
)
_CONTEXT_LIMIT = re.compile(
    r"(?:maximum context length|context (?:length|size|window))\D{0,20}?(\d{3,})", re.IGNORECASE
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECRET_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}")
_MAX_SERVER_MESSAGE = 300


@dataclass(frozen=True)
class Endpoint:
    """The service a provider talks to, as named in error messages and logs.

    ``secret`` is the API key. It is kept only to remove it from any server message
    quoted in an error, and it never appears in this object's repr.
    """

    base_url: str
    model: str
    operation: str
    key_setting: str
    secret: str | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        """Join ``path`` to the base URL with exactly one slash between them."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failing request within one call.

    Waits grow as ``initial_wait_s * 2**n`` with full jitter; no single wait is longer
    than ``max_wait_s``, whatever the server requests.
    """

    max_retries: int = 4
    max_wait_s: float = 60.0
    initial_wait_s: float = 1.0


@dataclass(frozen=True)
class ApiError:
    """The parts of an OpenAI-style error response that decide what happens next."""

    status: int
    code: str | None
    type: str | None
    param: str | None
    message: str
    context_limit: int | None = None

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read ``{"error": {"code", "type", "param", "message"}}`` from ``response``.

        Servers that respond with another shape, or with plain text, still give a usable
        object: the text becomes the message.
        """
        try:
            body: Any = response.json()
        except ValueError:
            body = None

        error: Any = body.get("error", body) if isinstance(body, dict) else None
        if isinstance(error, str):
            error = {"message": error}
        if not isinstance(error, dict):
            return cls(response.status_code, None, None, None, response.text.strip())

        context_limit = error.get("n_ctx")
        return cls(
            status=response.status_code,
            code=_text_or_none(error.get("code")),
            type=_text_or_none(error.get("type")),
            param=_text_or_none(error.get("param")),
            message=str(error.get("message") or response.text).strip(),
            context_limit=context_limit if isinstance(context_limit, int) else None,
        )

    @property
    def is_quota(self) -> bool:
        """Whether the error reports that the account has no quota or credit left."""
        if self.status == 402:
            return True
        names = {self.code, self.type}
        if names & _QUOTA_CODES:
            return True
        return self.status == 429 and bool(_QUOTA_MESSAGE.search(self.message))

    @property
    def is_context_length(self) -> bool:
        """Whether the error reports a request longer than the model's context window."""
        if {self.code, self.type} & _CONTEXT_CODES:
            return True
        return bool(_CONTEXT_MESSAGE.search(self.message))

    @property
    def is_retryable(self) -> bool:
        """Whether the same request may succeed later: 408, 409, 429 rate limits and 5xx."""
        if self.is_quota:
            return False
        return self.status in _RETRYABLE_STATUSES or self.status >= 500

    def mentions(self, name: str) -> bool:
        """Check whether the error is about the request parameter ``name``."""
        return self.param == name or name in self.message

    def label(self) -> str:
        """Describe the error briefly, for example ``HTTP 429 rate_limit_exceeded``."""
        detail = self.code or self.type
        return f"HTTP {self.status} {detail}" if detail else f"HTTP {self.status}"


class CircuitBreaker:
    """Remembers a refused API key or an exhausted quota and fails later calls at once.

    After :meth:`trip`, :meth:`check` raises an error of the same class without any
    request being sent, until :meth:`reset` is called.
    """

    def __init__(self) -> None:
        self._error: ProviderAuthError | QuotaExhaustedError | None = None

    @property
    def is_open(self) -> bool:
        """Whether calls are currently being stopped."""
        return self._error is not None

    def trip(self, error: ProviderAuthError | QuotaExhaustedError) -> None:
        """Stop every later call because of ``error``."""
        self._error = error

    def check(self) -> None:
        """Raise the remembered kind of error if the breaker was tripped."""
        if self._error is None:
            return
        message = (
            f"{self._error}; no further calls are made by this provider until its reset() is called"
        )
        raise type(self._error)(message)

    def reset(self) -> None:
        """Allow calls again, for example after the quota was raised or the key replaced."""
        self._error = None

    def __repr__(self) -> str:
        state = "open" if self._error is not None else "closed"
        return f"CircuitBreaker({state})"


def check_base_url(url: str) -> str:
    """Validate an http(s) base URL and return it without a trailing slash."""
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {url!r}")
    return url


def auth_headers(api_key: str | None) -> dict[str, str]:
    """Return the ``Authorization`` header for ``api_key``, or no header without a key."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def redact(text: str, secret: str | None) -> str:
    """Remove ``secret`` and anything shaped like an OpenAI key (``sk-...``) from ``text``."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return _SECRET_LIKE.sub("sk-[redacted]", text)


def parse_duration(text: str) -> float | None:
    """Parse a rate-limit reset duration into seconds.

    Accepts the forms OpenAI sends in ``x-ratelimit-reset-*`` headers (``"1s"``,
    ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``) and a bare number of seconds. Returns
    ``None`` for anything else.
    """
    text = text.strip().lower()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass

    position = 0
    total = 0.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * units[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def retry_after_from_headers(
    headers: Mapping[str, str],
    *,
    rate_limited: bool,
    now: Callable[[], float] = time.time,
) -> float | None:
    """Return the wait in seconds that the server requests, or ``None`` if it requests none.

    ``retry-after-ms`` wins over ``retry-after`` (seconds or an HTTP date). For a rate
    limit (``rate_limited``), the ``x-ratelimit-reset-requests`` and
    ``x-ratelimit-reset-tokens`` headers are used when neither is present, taking the
    reset of each limit whose ``x-ratelimit-remaining-*`` is 0 (or missing).
    """
    lowered = {name.lower(): value for name, value in headers.items()}

    milliseconds = _float_or_none(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return max(0.0, milliseconds / 1000)

    retry_after = lowered.get("retry-after")
    if retry_after is not None:
        seconds = _float_or_none(retry_after)
        if seconds is not None:
            return max(0.0, seconds)
        date = _http_date_or_none(retry_after)
        if date is not None:
            return max(0.0, date - now())

    if not rate_limited:
        return None
    resets: list[float] = []
    for limit in ("requests", "tokens"):
        remaining = lowered.get(f"x-ratelimit-remaining-{limit}", "0").strip()
        reset = lowered.get(f"x-ratelimit-reset-{limit}")
        seconds = parse_duration(reset) if reset is not None else None
        if seconds is not None and remaining == "0":
            resets.append(seconds)
    return max(resets) if resets else None


async def send_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    endpoint: Endpoint,
    policy: RetryPolicy,
    sleep: SleepFunction,
    jitter: JitterFunction = backoff.full_jitter,
    json_body: object | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> httpx.Response:
    """Send a request, retrying what may succeed later; return the first final response.

    The response returned is either a success or an error that retrying cannot fix,
    such as a 4xx other than 408, 409 and rate limits. The caller turns the latter into
    an exception with :func:`final_error`, possibly after adapting the request.
    ``timeout_s`` overrides the client's timeout for each attempt. Raises
    :class:`ProviderRateLimitedError` or :class:`ProviderUnavailableError` once the
    retries are used up, and :class:`ProviderRateLimitedError` at once when a rate limit
    asks for a wait longer than ``policy.max_wait_s``.
    """
    caps = _backoff_caps(policy)
    retries = 0
    while True:
        failure = await _send_once(
            client, method, url, json_body=json_body, headers=headers, timeout_s=timeout_s
        )
        if isinstance(failure, httpx.Response):
            return failure

        cap = next(caps)
        if retries >= policy.max_retries:
            raise _retries_exhausted(failure, endpoint, url, attempts=retries + 1, cap=cap)

        wait = _choose_wait(failure, endpoint, url, cap=cap, policy=policy, jitter=jitter)
        retries += 1
        logger.info(
            "%s request to %s failed with %s; retry %d of %d in %.2f s",
            endpoint.operation,
            url,
            failure.label,
            retries,
            policy.max_retries,
            wait,
        )
        await sleep(wait)


def final_error(response: httpx.Response, endpoint: Endpoint) -> ProviderError:
    """Turn an error response that retrying cannot fix into the matching exception."""
    error = ApiError.from_response(response)
    server_message = redact(_shorten(error.message), endpoint.secret)
    server_detail = f": {server_message}" if server_message else ""
    where = f"{endpoint.operation} at {endpoint.base_url}"

    if error.status in (401, 403):
        if endpoint.secret is None:
            return ProviderAuthError(
                f"no API key was sent and {endpoint.base_url} requires one ({error.label()}"
                f"{server_detail}); set {endpoint.key_setting}"
            )
        return ProviderAuthError(
            f"the API key was refused by {endpoint.base_url} ({error.label()}{server_detail}); "
            f"check {endpoint.key_setting} and that the key may use model {endpoint.model!r}"
        )
    if error.is_quota:
        return QuotaExhaustedError(
            f"quota exhausted for the API key used with {where} ({error.label()}{server_detail}); "
            "add credit or raise the account's limit, then call reset() on the provider"
        )
    if error.is_context_length:
        limit = error.context_limit or _context_limit(error.message)
        window = f"{limit} tokens" if limit is not None else "size unknown"
        return ContextLengthError(
            f"the request is longer than the context window of model {endpoint.model!r} "
            f"({window}) at {endpoint.base_url}; shorten the outline or the article, or "
            "use a model with a larger context window"
        )
    if error.status == 404:
        return ProviderRequestError(
            f"model {endpoint.model!r} or its endpoint was not found at {endpoint.base_url} "
            f"({error.label()}{server_detail}); check the model name (Ollama: `ollama pull MODEL`) "
            "and that the base URL ends in /v1"
        )
    return ProviderRequestError(f"{where} rejected the request ({error.label()}{server_detail})")


def read_json_object(response: httpx.Response, endpoint: Endpoint) -> dict[str, Any]:
    """Return the JSON object in a success response, or raise ProviderResponseError."""
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise ProviderResponseError(
            f"{endpoint.operation} at {endpoint.base_url} returned a body that is not JSON "
            f"(HTTP {response.status_code}, {len(response.content)} bytes)"
        ) from exc
    if not isinstance(body, dict):
        raise ProviderResponseError(
            f"{endpoint.operation} at {endpoint.base_url} returned JSON that is not an object"
        )
    return body


@dataclass(frozen=True)
class _Failure:
    """A retryable outcome: an error response or a transport exception."""

    label: str
    status: int | None
    retry_after: float | None
    exception: Exception | None = None


async def _send_once(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json_body: object | None,
    headers: Mapping[str, str] | None,
    timeout_s: float | None,
) -> httpx.Response | _Failure:
    request = client.build_request(method, url, json=json_body, headers=headers)
    if timeout_s is not None:
        request.extensions["timeout"] = httpx.Timeout(timeout_s).as_dict()
    try:
        response = await client.send(request)
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        return _Failure(label=type(exc).__name__, status=None, retry_after=None, exception=exc)

    if response.is_success:
        return response
    error = ApiError.from_response(response)
    if not error.is_retryable:
        return response

    hint = retry_after_from_headers(response.headers, rate_limited=error.status == 429)
    return _Failure(label=error.label(), status=error.status, retry_after=hint)


def _backoff_caps(policy: RetryPolicy) -> Iterator[float]:
    caps = backoff.expo(base=2, factor=policy.initial_wait_s, max_value=policy.max_wait_s)
    caps.send(None)  # backoff's wait generators start with a priming step
    return caps


def _choose_wait(
    failure: _Failure,
    endpoint: Endpoint,
    url: str,
    *,
    cap: float,
    policy: RetryPolicy,
    jitter: JitterFunction,
) -> float:
    if failure.retry_after is None:
        return min(jitter(cap), policy.max_wait_s)

    if failure.status == 429 and failure.retry_after > policy.max_wait_s:
        # Waiting less than the server asked would only earn another 429, so hand the
        # wait to the job queue, which delays the job without using up an attempt.
        raise ProviderRateLimitedError(
            f"{endpoint.operation} at {url} is rate-limited ({failure.label}) for "
            f"{failure.retry_after:.1f} s, longer than max_wait_s={policy.max_wait_s:g}",
            retry_after=failure.retry_after,
        )
    return min(failure.retry_after, policy.max_wait_s)


def _retries_exhausted(
    failure: _Failure, endpoint: Endpoint, url: str, *, attempts: int, cap: float
) -> ProviderError:
    what = f"{endpoint.operation} at {url} (model {endpoint.model!r}) failed"
    if failure.status == 429:
        retry_after = failure.retry_after if failure.retry_after is not None else cap
        return ProviderRateLimitedError(
            f"{what}: still rate-limited ({failure.label}) after {attempts} attempts",
            retry_after=retry_after,
        )

    detail = failure.label
    if failure.exception is not None and str(failure.exception):
        detail = f"{failure.label}: {redact(str(failure.exception), endpoint.secret)}"
    error = ProviderUnavailableError(f"{what} {attempts} times, last with {detail}")
    error.__cause__ = failure.exception
    return error


def _context_limit(message: str) -> int | None:
    match = _CONTEXT_LIMIT.search(message)
    return int(match.group(1)) if match else None


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_SERVER_MESSAGE:
        return text
    return text[: _MAX_SERVER_MESSAGE - 1] + "…"


def _text_or_none(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _float_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


def _http_date_or_none(text: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
