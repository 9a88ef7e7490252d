"""The exception hierarchy of k2w.

Every exception k2w raises derives from :class:`K2WError`. Misuse (you called
it wrong) is kept apart from failure (the operation failed)::

    K2WError
    ├── UsageError                      you called it wrong
    │   ├── InvalidInputError           (also a ValueError) bad keywords, options, ids
    │   ├── ConfigurationError          (also a ValueError) bad or missing settings
    │   └── UnsupportedBackendError     not running on asyncio (for example under trio)
    ├── NotFoundError                   (also a LookupError) no such job, run or schedule
    ├── WaitTimeoutError                (also a TimeoutError) a wait ran out of time
    ├── JobFailedError                  a waited-for job or run ended failed or cancelled
    ├── UnrecoverableError              a handler says: do not retry this job
    ├── RateLimitedError                a handler says: try again after ``retry_after`` seconds,
    │                                   without using up an attempt
    ├── JobTimeoutError                 a handler ran past its job's timeout
    ├── StoreError                      the database failed or has an unknown schema
    └── ProviderError                   an LLM, image or publishing service failed
        ├── ProviderResponseError       a 2xx response that cannot be used (truncated, empty)
        ├── ProviderUnavailableError    5xx, timeouts, connection errors after retries
        ├── ProviderRateLimitedError    429 rate limit (also a RateLimitedError)
        ├── ProviderAuthError           401/403 (also an UnrecoverableError)
        ├── QuotaExhaustedError         429 insufficient_quota (also an UnrecoverableError)
        ├── ContextLengthError          the prompt is over the model's limit (also unrecoverable)
        └── ProviderRequestError        any other 4xx (also an UnrecoverableError)
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ContextLengthError",
    "InvalidInputError",
    "JobFailedError",
    "JobTimeoutError",
    "K2WError",
    "NotFoundError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimitedError",
    "ProviderRequestError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "StoreError",
    "UnrecoverableError",
    "UnsupportedBackendError",
    "UsageError",
    "WaitTimeoutError",
]


class K2WError(Exception):
    """Root of every exception that k2w raises."""


class UsageError(K2WError):
    """The caller used k2w wrongly; the message names what to change."""


class InvalidInputError(UsageError, ValueError):
    """An argument has an invalid value (keywords, languages, priority, options)."""


class ConfigurationError(UsageError, ValueError):
    """A setting is missing or invalid."""


class UnsupportedBackendError(UsageError, RuntimeError):
    """k2w was started outside asyncio; aiosqlite needs an asyncio event loop."""


class NotFoundError(K2WError, LookupError):
    """No job, run or schedule has the given id."""


class WaitTimeoutError(K2WError, TimeoutError):
    """A wait for a job or run ran out of time; the job itself goes on."""


class JobFailedError(K2WError):
    """A job or run that was waited for ended failed or cancelled."""

    def __init__(self, message: str, *, state: str, error: str | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.error = error


class UnrecoverableError(K2WError):
    """Raised by a handler to fail its job at once, skipping the remaining attempts."""


class RateLimitedError(K2WError):
    """Raised by a handler to run its job again later without using up an attempt."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class JobTimeoutError(K2WError, TimeoutError):
    """A handler ran longer than its job's ``timeout`` and was cancelled."""


class StoreError(K2WError):
    """The database failed, or has a schema this version of k2w cannot use."""


class ProviderError(K2WError):
    """An external service (LLM, images, publishing) failed."""


class ProviderResponseError(ProviderError):
    """The service returned a success status, but its response cannot be used."""


class ProviderUnavailableError(ProviderError):
    """The service kept failing with 5xx, timeouts or connection errors."""


class ProviderRateLimitedError(ProviderError, RateLimitedError):
    """The service rate-limited the request; the job waits ``retry_after`` seconds."""


class ProviderAuthError(ProviderError, UnrecoverableError):
    """The service rejected the credentials (401 or 403)."""


class QuotaExhaustedError(ProviderError, UnrecoverableError):
    """The account behind the API key has no quota left."""


class ContextLengthError(ProviderError, UnrecoverableError):
    """The request is longer than the model's context window."""


class ProviderRequestError(ProviderError, UnrecoverableError):
    """The service rejected the request as invalid (a 4xx other than 401, 403 and 429)."""
