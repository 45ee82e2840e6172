"""The bill in sight: token usage per call and per session, with a dated, overridable price table.

Costs are estimates from published per-token prices; a model without a known price says
"price unknown" rather than guessing, and the offline preview server costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import MODELS, base_name

PRICES_AS_OF = "2026-11-29"
PRICES_SOURCE = "openai.com/api/pricing"
BATCH_DISCOUNT = 0.5  # the Batch API bills half of every rate
_NEW = {
    "text_input": 5.00,
    "cached_text_input": 1.25,
    "image_input": 8.00,
    "cached_image_input": 2.00,
    "image_output": 30.00,
}
# USD per 1M tokens, as reported from OpenAI's pricing page (PRICES_SOURCE) on PRICES_AS_OF; the gpt-image-1
# rows are unchanged since 2025-12-16. A row without a cached rate bills cached tokens at the full rate.
PRICES = {
    "gpt-image-1": {"text_input": 5.00, "image_input": 10.00, "image_output": 40.00},
    "gpt-image-1-mini": {"text_input": 2.00, "image_input": 2.50, "image_output": 8.00},
    "gpt-image-1.5": {"text_input": 5.00, "image_input": 8.00, "image_output": 32.00},
    **{m.name: _NEW for m in MODELS.values() if m.series in ("gpt-image-2", "gpt-image-2.5", "gpt-image-2.6")},
}


def price_for(model, prices=None):
    """The price row for a model (a provider prefix is ignored), or None when unknown."""
    table = PRICES if prices is None else {**PRICES, **prices}
    return table.get(model) or table.get(base_name(model))


def cost(usage, price, *, batch=False):
    """Estimated USD for one answer's `usage`, or None without a price or token counts.

    Cached input tokens (`input_tokens_details.cached_tokens`, when the answer reports them) are billed at
    the cached rates, counted against the text tokens first; `batch=True` bills half, as the Batch API does.
    """
    if not price or not usage or "input_tokens" not in usage:
        return None
    details = usage.get("input_tokens_details") or {}
    text_in = details.get("text_tokens", usage.get("input_tokens", 0))
    image_in = details.get("image_tokens", 0)
    cached = details.get("cached_tokens", 0)
    cached_text = min(cached, text_in)
    cached_image = min(cached - cached_text, image_in)
    total = (
        (text_in - cached_text) * price["text_input"]
        + cached_text * price.get("cached_text_input", price["text_input"])
        + (image_in - cached_image) * price["image_input"]
        + cached_image * price.get("cached_image_input", price["image_input"])
        + usage.get("output_tokens", 0) * price["image_output"]
    ) / 1e6
    return total * BATCH_DISCOUNT if batch else total


# Output tokens of one 1024x1024 image by quality (OpenAI's figures for gpt-image-1); other sizes scale by area.
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160}


def estimate(model, size, quality, images, prices=None):
    """Estimated USD for `images` images of a size and quality before sending, or None without a price."""
    price = price_for(model, prices)
    if not price:
        return None
    width, height = (int(x) for x in size.split("x")) if size and "x" in str(size) else (1024, 1024)
    tokens = OUTPUT_TOKENS_1024.get(quality, OUTPUT_TOKENS_1024["medium"]) * width * height / 1024**2
    return images * tokens * price["image_output"] / 1e6


@dataclass
class ModelTotals:
    """Running totals for one model."""

    calls: int = 0
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    offline: bool = True


@dataclass
class Ledger:
    """Usage of this session, per model."""

    models: dict = field(default_factory=dict)

    def record(self, model, result, *, offline, prices=None, batch=False):
        """Add one call's result; return its estimated cost (0 offline, None if the price is unknown;
        `batch`: billed at Batch API rates)."""
        totals = self.models.setdefault(model, ModelTotals())
        totals.calls += 1
        totals.images += len(result)
        totals.input_tokens += result.usage.get("input_tokens", 0)
        totals.output_tokens += result.usage.get("output_tokens", 0)
        totals.offline = totals.offline and offline
        spent = 0.0 if offline else cost(result.usage, price_for(model, prices), batch=batch)
        totals.cost = None if totals.cost is None or spent is None else totals.cost + spent
        return spent

    def report(self):
        """The session's totals as a text table, one row per model."""
        if not self.models:
            return "no images generated in this session yet"
        rows = [("model", "calls", "images", "input tokens", "output tokens", "est. cost (USD)")]
        for model, t in self.models.items():
            rows.append(
                (
                    model,
                    str(t.calls),
                    str(t.images),
                    f"{t.input_tokens:,}",
                    f"{t.output_tokens:,}",
                    describe_cost(t.cost, t.offline),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join([*lines, f"prices from {PRICES_SOURCE} as of {PRICES_AS_OF}; estimates, not a bill"])


def describe_tokens(usage):
    """'1,234 tokens (input 34, output 1,200)', or None when the usage has no total."""
    if not usage or usage.get("total_tokens") is None:
        return None
    return (
        f"{usage['total_tokens']:,} tokens "
        f"(input {usage.get('input_tokens', 0):,}, output {usage.get('output_tokens', 0):,})"
    )


def describe_cost(amount, offline=False):
    """'$0.0420', 'offline preview: free' or 'price unknown'."""
    if offline:
        return "offline preview: free"
    return "price unknown" if amount is None else f"${amount:.4f}"
