"""The app's configuration: a small pydantic model, validated when the app opens."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._pipeline._models import STAGES, Stage
from ._providers._openai_images import OpenAIImageSettings
from ._providers._openai_text import OpenAISettings
from ._providers._wordpress import WordPressSettings

__all__ = ["K2WConfig"]

_DEFAULT_CONCURRENCY: dict[Stage, int] = {
    "keywords": 2,
    "content": 4,
    "images": 2,
    "seo": 4,
    "translation": 4,
    "publishing": 2,
    "analytics": 2,
}
_DEFAULT_ATTEMPTS: dict[Stage, int] = {
    "keywords": 2,
    "content": 3,
    "images": 3,
    "seo": 2,
    "translation": 3,
    "publishing": 4,
    "analytics": 2,
}


class K2WConfig(BaseModel):
    """Settings of a :class:`~k2w.K2W` app. Secrets live here, never in jobs or events.

    ``llm``, ``images`` and ``wordpress`` default to the values of the ``K2W_*``
    environment variables (see :meth:`from_env`); with nothing configured, k2w uses its offline
    providers and writes files, so it runs with no network and no key.

    Example::

        config = k2w.K2WConfig(
            out_dir="articles",
            llm=k2w.OpenAISettings(base_url="http://127.0.0.1:11434/v1", model="qwen2.5"),
        )
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    out_dir: Path = Field(default=Path("k2w-out"), description="where files and reports go")
    locale: Literal["en", "vi"] = Field(default="en", description="default message language")
    llm: OpenAISettings | None = None
    images: OpenAIImageSettings | None = None
    wordpress: WordPressSettings | None = None
    publisher: Literal["files", "wordpress"] | None = Field(
        default=None, description="None picks wordpress when it is configured, else files"
    )
    concurrency: dict[Stage, int] = Field(default_factory=lambda: dict(_DEFAULT_CONCURRENCY))
    attempts: dict[Stage, int] = Field(default_factory=lambda: dict(_DEFAULT_ATTEMPTS))
    retry_delay_s: float = Field(default=1.0, ge=0, description="first retry wait, doubling")
    max_retry_delay_s: float = Field(default=300.0, gt=0)
    lease_s: float = Field(default=30.0, gt=0, description="job lease; renewed every third")
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL", description="SQLite synchronous mode: FULL also survives power loss"
    )
    event_retention_s: float | None = Field(
        default=30 * 24 * 3600.0, gt=0, description="events older than this are pruned"
    )
    event_retention_count: int | None = Field(default=None, gt=0)

    @field_validator("concurrency", "attempts")
    @classmethod
    def _complete_per_stage(cls, value: dict[Stage, int]) -> dict[Stage, int]:
        for stage, number in value.items():
            if number < 1:
                raise ValueError(f"{stage} must be >= 1, got {number}")
        return value

    def per_stage(self, field: Literal["concurrency", "attempts"]) -> dict[Stage, int]:
        """Return ``field`` for every stage, defaults filled in."""
        defaults = _DEFAULT_CONCURRENCY if field == "concurrency" else _DEFAULT_ATTEMPTS
        given = getattr(self, field)
        return {stage: given.get(stage, defaults[stage]) for stage in STAGES}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> K2WConfig:
        """Build a config from ``K2W_*`` environment variables, then ``overrides``.

        ``K2W_LLM_BASE_URL``, ``K2W_LLM_MODEL``, ``K2W_LLM_API_KEY``: the text model.
        ``K2W_IMAGE_BASE_URL``, ``K2W_IMAGE_MODEL``, ``K2W_IMAGE_API_KEY``: the image
        model. ``K2W_WP_URL``, ``K2W_WP_USER``, ``K2W_WP_APP_PASSWORD``: WordPress.
        ``K2W_OUT_DIR``, ``K2W_LOCALE``: where files go and the message language.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "llm": OpenAISettings.from_env(env),
            "images": OpenAIImageSettings.from_env(env),
            "wordpress": WordPressSettings.from_env(env) if env.get("K2W_WP_URL") else None,
        }
        if env.get("K2W_OUT_DIR"):
            values["out_dir"] = env["K2W_OUT_DIR"]
        if env.get("K2W_LOCALE"):
            values["locale"] = env["K2W_LOCALE"]
        values.update(overrides)
        return cls.model_validate(values)
