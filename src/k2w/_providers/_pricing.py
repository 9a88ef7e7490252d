"""Estimated cost of provider calls, from a small table of list prices.

Every figure here is an estimate. The default table has OpenAI's published list prices
for a few well-known models as of :data:`PRICES_AS_OF`; prices change, discounts (cached
input, batch) are ignored, and a model missing from the table costs 0. Pass your own
table through the provider settings to replace it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "ModelPrice", "estimate_cost", "find_price"]

PRICES_AS_OF = "2025-08"
"""Month in which the default price table was last compared with OpenAI's price list."""


class ModelPrice(BaseModel):
    """List price of one model in US dollars.

    ``input_per_million`` and ``output_per_million`` are USD per one million prompt and
    completion tokens. ``per_image`` is USD per generated image, for image models that
    are billed by the image rather than by the token.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_million: float = Field(default=0.0, ge=0)
    output_per_million: float = Field(default=0.0, ge=0)
    per_image: float = Field(default=0.0, ge=0)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": ModelPrice(input_per_million=2.50, output_per_million=10.00),
    "gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "gpt-4.1": ModelPrice(input_per_million=2.00, output_per_million=8.00),
    "gpt-4.1-mini": ModelPrice(input_per_million=0.40, output_per_million=1.60),
    "gpt-4.1-nano": ModelPrice(input_per_million=0.10, output_per_million=0.40),
    "gpt-5": ModelPrice(input_per_million=1.25, output_per_million=10.00),
    "gpt-5-mini": ModelPrice(input_per_million=0.25, output_per_million=2.00),
    "gpt-5-nano": ModelPrice(input_per_million=0.05, output_per_million=0.40),
    "o3": ModelPrice(input_per_million=2.00, output_per_million=8.00),
    "o4-mini": ModelPrice(input_per_million=1.10, output_per_million=4.40),
    # gpt-image-1 bills text input and image output by the token.
    "gpt-image-1": ModelPrice(input_per_million=5.00, output_per_million=40.00),
    # DALL·E bills by the image; these are the standard-quality 1024x1024 prices.
    "dall-e-3": ModelPrice(per_image=0.040),
    "dall-e-2": ModelPrice(per_image=0.020),
}
"""Default list prices (estimates, see :data:`PRICES_AS_OF`), keyed by model name."""


def find_price(model: str, prices: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """Look up the price of ``model``, or ``None`` when the table has no entry for it.

    A dated or suffixed name such as ``gpt-4o-mini-2024-07-18`` matches the longest table
    key it starts with, and a routing prefix such as ``openai/`` is ignored.
    """
    table = DEFAULT_PRICES if prices is None else prices
    name = model.strip().lower().removeprefix("openai/")
    if name in table:
        return table[name]

    best: str | None = None
    for key in table:
        if name.startswith(key + "-") and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best is not None else None


def estimate_cost(
    model: str,
    *,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    images: int = 0,
    prices: Mapping[str, ModelPrice] | None = None,
) -> float:
    """Estimate the cost in USD of one call to ``model``; 0 for a model with no known price."""
    price = find_price(model, prices)
    if price is None:
        return 0.0

    return (
        prompt_tokens * price.input_per_million / 1_000_000
        + completion_tokens * price.output_per_million / 1_000_000
        + images * price.per_image
    )
