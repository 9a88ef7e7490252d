"""k2w: an embedded, durable job engine that turns search keywords into web articles.

Open an app with :meth:`K2W.open`, submit keywords with :meth:`K2W.submit`, and follow
the run through ``app.events``. The generic engine is public too: ``app.queue(name)``.
Only asyncio is supported, because aiosqlite needs it.
"""

from ._app import K2W
from ._clock import Clock, FakeClock, SystemClock
from ._config import K2WConfig
from ._errors import (
    ConfigurationError,
    ContextLengthError,
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    K2WError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
    StoreError,
    UnrecoverableError,
    UnsupportedBackendError,
    UsageError,
    WaitTimeoutError,
)
from ._events import Event, EventBus, Subscription, localize
from ._pipeline._models import STAGES, RunOptions
from ._pipeline._run import Run, RunResult
from ._providers._files import FilePublisher
from ._providers._models import (
    Article,
    ArticleRequest,
    GeneratedImage,
    ImageRequest,
    PublishRequest,
    PublishResult,
    Section,
    Usage,
)
from ._providers._offline import OfflineWriter, PlaceholderImages
from ._providers._openai_images import OpenAIImages, OpenAIImageSettings
from ._providers._openai_text import OpenAISettings, OpenAIText
from ._providers._protocols import ImageGenerator, Publisher, ResponseCache, TextGenerator
from ._providers._wordpress import WordPressPublisher, WordPressSettings
from ._queue import (
    MAX_PRIORITY,
    Backoff,
    ChildFailurePolicy,
    ChildResult,
    FlowJob,
    Job,
    JobState,
    Queue,
    QueueSettings,
    RateLimit,
    Schedule,
)

__version__ = "0.1.0"

__all__ = [
    "K2W",
    "MAX_PRIORITY",
    "STAGES",
    "Article",
    "ArticleRequest",
    "Backoff",
    "ChildFailurePolicy",
    "ChildResult",
    "Clock",
    "ConfigurationError",
    "ContextLengthError",
    "Event",
    "EventBus",
    "FakeClock",
    "FilePublisher",
    "FlowJob",
    "GeneratedImage",
    "ImageGenerator",
    "ImageRequest",
    "InvalidInputError",
    "Job",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "K2WConfig",
    "K2WError",
    "NotFoundError",
    "OfflineWriter",
    "OpenAIImageSettings",
    "OpenAIImages",
    "OpenAISettings",
    "OpenAIText",
    "PlaceholderImages",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimitedError",
    "ProviderRequestError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "PublishRequest",
    "PublishResult",
    "Publisher",
    "Queue",
    "QueueSettings",
    "QuotaExhaustedError",
    "RateLimit",
    "RateLimitedError",
    "ResponseCache",
    "Run",
    "RunOptions",
    "RunResult",
    "Schedule",
    "Section",
    "StoreError",
    "Subscription",
    "SystemClock",
    "TextGenerator",
    "UnrecoverableError",
    "UnsupportedBackendError",
    "Usage",
    "UsageError",
    "WaitTimeoutError",
    "WordPressPublisher",
    "WordPressSettings",
    "__version__",
    "localize",
]
