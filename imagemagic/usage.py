"""The bill in sight: token usage per call and per session, with a dated, overridable price table.

Costs are estimates from published per-token prices; a model without a known price says
"price unknown" rather than guessing, and the offline preview server costs nothing.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import TypeGuard

from .catalog import CHAT_MODELS, MODELS, base_name, chat_model, lookup
from .errors import quoted

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
    # chat-completions image models: the catalog's rates (its input rate for text and input images alike)
    **{
        m.name: {"text_input": m.input_price, "image_input": m.input_price, "image_output": m.image_price}
        for m in CHAT_MODELS.values()
    },
}


RATES = ("text_input", "image_input", "image_output")  # the rates every price row has
OPTIONAL_RATES = ("cached_text_input", "cached_image_input", "text_output")


def prices_problems(prices: object) -> list[str]:
    """One line per thing wrong with a `prices` setting (empty when it may be used): model names to rows of
    USD per 1M tokens, each rate a finite number, 0 or more."""
    if prices is None:
        return []
    if not isinstance(prices, dict):
        return [f"prices={quoted(prices)} must be a dict of model names to price rows, or None"]
    found = []
    for model, row in prices.items():
        rates = row if isinstance(row, dict) else {}
        odd = [key for key in rates if key not in (*RATES, *OPTIONAL_RATES)]
        bad = [key for key, rate in rates.items() if key not in odd and not is_amount(rate)]
        if not isinstance(model, str) or set(RATES) - set(rates) or odd or bad:
            found.append(
                f"prices[{quoted(model)}] must be a dict of USD per 1M tokens: {', '.join(RATES)} (and optionally "
                f"{', '.join(OPTIONAL_RATES)}), each a finite number, 0 or more"
            )
    return found


def is_amount(value: object) -> TypeGuard[float]:
    """Whether `value` is an amount of dollars (a price, a cost, a budget): a number, not True/False, 0 or more,
    that a float holds (not NaN, not infinite, no whole number past 1e308)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= sys.float_info.max


def price_for(model, prices=None):
    """The price row for a model (a provider prefix is ignored), or None when unknown."""
    table = PRICES if prices is None else {**PRICES, **prices}
    return table.get(model) or table.get(base_name(model))


COST_SOURCES = ("provider", "tokens", "estimate")  # where a cost came from, as `cost source: …` names it


def provider_cost(usage) -> float | None:
    """The USD the provider reported for an answer (`usage.cost`, as OpenRouter and LiteLLM send it), or None
    when it sent none (or something that is not a finite amount of 0 or more)."""
    found = usage.get("cost") if isinstance(usage, dict) else None
    return float(found) if is_amount(found) else None


def images_shape(usage):
    """`usage` with the Images API's keys (input_tokens, output_tokens and their details), also when it came
    in the chat shape (prompt_tokens, completion_tokens, completion_tokens_details.image_tokens)."""
    if not isinstance(usage, dict) or "input_tokens" in usage or "prompt_tokens" not in usage:
        return usage
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    image_in, image_out = prompt_details.get("image_tokens") or 0, out_details.get("image_tokens", completion)
    return {
        **usage,
        "input_tokens": prompt,
        "output_tokens": completion,
        "input_tokens_details": {
            "text_tokens": prompt - image_in,
            "image_tokens": image_in,
            "cached_tokens": prompt_details.get("cached_tokens") or 0,
        },
        "output_tokens_details": {"image_tokens": image_out, "text_tokens": completion - image_out},
    }


def priced(usage, price, *, batch=False) -> tuple[float | None, str | None]:
    """(USD, source) of one answer: the provider's own figure ("provider"), else its tokens at the price
    table's rates ("tokens"), else (None, None): the caller may fall back to an estimate."""
    reported = provider_cost(usage)
    if reported is not None:
        return reported, "provider"
    amount = cost(usage, price, batch=batch)
    return (amount, "tokens") if amount is not None else (None, None)


MAX_TOKENS = 10_000_000  # more than any one answer bills (about $300 of output at today's dearest rate)


def usage_problem(usage) -> str | None:
    """What makes a server's `usage` no token count ('output_tokens=nan'), or None when every count in it (nested
    details and the Responses API's `mainline` included) is a whole number from 0 to MAX_TOKENS. The one rule for
    usage numbers: a usage it faults is unknown, never added to a ledger."""
    for key, value in (usage or {}).items() if isinstance(usage, dict) else ():
        if isinstance(value, dict):
            inner = usage_problem(value)
            if inner:
                return f"{key}.{inner}"
        elif key.endswith("tokens") and not _count(value):
            return f"{key}={value!r}"
    return None


def _count(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value == int(value) and 0 <= value <= MAX_TOKENS


def cost(usage, price, *, batch=False):
    """Estimated USD for one answer's `usage`, or None without a price or token counts (or with counts that
    `usage_problem` faults, or a price that makes no finite amount of 0 or more).

    Cached input tokens (`input_tokens_details.cached_tokens`, when the answer reports them) are billed at
    the cached rates, counted against the text tokens first; `batch=True` bills half, as the Batch API does.
    Usage in the chat shape is read too (images_shape); output text tokens are billed at `text_output` when the
    price row has one, else as image output.
    """
    usage = images_shape(usage)
    if not price or not usage or "input_tokens" not in usage or usage_problem(usage):
        return None
    details = usage.get("input_tokens_details") or {}
    text_in = details.get("text_tokens", usage.get("input_tokens", 0))
    image_in = details.get("image_tokens", 0)
    cached = details.get("cached_tokens", 0)
    cached_text = min(cached, text_in)
    cached_image = min(cached - cached_text, image_in)
    text_out = (usage.get("output_tokens_details") or {}).get("text_tokens", 0) if "text_output" in price else 0
    total = (
        (text_in - cached_text) * price["text_input"]
        + cached_text * price.get("cached_text_input", price["text_input"])
        + (image_in - cached_image) * price["image_input"]
        + cached_image * price.get("cached_image_input", price["image_input"])
        + usage.get("output_tokens", 0) * price["image_output"]
        - text_out * (price["image_output"] - price.get("text_output", price["image_output"]))
    ) / 1e6
    if not (math.isfinite(total) and total >= 0):
        return None
    return total * BATCH_DISCOUNT if batch else total


# What one image's output tokens are, by quality and size. Source: OpenAI's image-generation guide ("Cost and
# latency", developers.openai.com/api/docs/guides/image-generation) and its pricing calculator, read on
# TOKENS_AS_OF. gpt-image-1 family: a table per size. gpt-image-2 and later: the calculator's formula (below),
# with a factor per quality; OpenAI publishes no figure for xhigh and max, so they are priced as high (a floor,
# and the estimate says so). `auto` (and no quality: the API's default is auto) is priced as high, the most it
# may pick; size auto as the dearest of the model's listed sizes.
TOKENS_AS_OF = "2026-11-29"
GPT_IMAGE_1_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
GPT_IMAGE_2_FACTORS = {"low": 16, "medium": 48, "high": 96}
PRICED_AS_HIGH = ("xhigh", "max", "auto")
_AREA_OFFSET, _AREA_SCALE = 2_000_000, 4_000_000


def _gpt_image_2_tokens(factor: int, width: int, height: int) -> int:
    """Output tokens of one gpt-image-2 image (OpenAI's calculator): a quality factor times a short-side factor
    times the area plus a fixed offset, scaled."""
    long, short = max(width, height), min(width, height)
    short_factor = (2 * factor * short + long) // (2 * long)
    return (factor * short_factor * (_AREA_OFFSET + width * height) + _AREA_SCALE - 1) // _AREA_SCALE


def image_tokens(model: str, size: str | None, quality: str | None) -> tuple[int | None, str | None]:
    """(output tokens of one image, a note on what was assumed) — or (None, why it cannot be priced)."""
    chat = chat_model(model)
    if chat is not None:  # a fixed count per image, whatever the aspect; 4K may bill more (Gemini 3 Pro)
        return chat.tokens_for(size), None
    row = lookup(model)
    if row is None or row.family != "gpt-image" or row.series == "chatgpt-image-latest":
        return None, f"no token figures for {model}"
    quality = quality or "auto"
    note = None
    if quality in PRICED_AS_HIGH:
        if quality != "auto":
            note = f"{quality} priced as high: OpenAI publishes no token figures for {quality}"
        quality = "high"
    if quality not in GPT_IMAGE_2_FACTORS:
        return None, f"no token figures for quality {quality}"
    sizes = [s for s in row.sizes if "x" in s] if size in (None, "auto") else [size]
    dims = [tuple(int(x) for x in s.split("x")) for s in sizes if re.fullmatch(r"\d+x\d+", s)]
    if not dims:
        return None, f"size {size} cannot be priced"
    if row.free_sizes is not None:
        return max(_gpt_image_2_tokens(GPT_IMAGE_2_FACTORS[quality], w, h) for w, h in dims), note
    table = GPT_IMAGE_1_TOKENS[quality]
    known = [table[f"{w}x{h}"] for w, h in dims if f"{w}x{h}" in table]
    return (max(known), note) if known else (None, f"no token figures for {model} at size {size}")


@dataclass(frozen=True)
class Quote:
    """What a request is expected to cost before it is sent: `amount` in USD (None: it cannot be priced) and
    `note`, what was assumed or why it cannot be priced."""

    amount: float | None
    note: str | None = None


def quote(request, prices=None, *, batch: bool = False) -> Quote:
    """The expected cost of `request` (every image it asks for, its prompt's text tokens at about 4 characters
    a token; input images of edits are not counted) at the price table's rates; `batch`: Batch API rates."""
    price = price_for(request.model, prices)
    if not price:
        return Quote(None, f"no price for {request.model} in the table (set prices in the settings)")
    tokens, note = image_tokens(request.model, request.size, request.quality)
    if tokens is None:
        return Quote(None, note)
    text = -(-len(request.prompt or "") // 4)
    amount = (request.count * tokens * price["image_output"] + text * price["text_input"]) / 1e6
    if not (math.isfinite(amount) and amount >= 0):
        return Quote(None, f"the prices of {request.model} give {amount}: each rate must be dollars, 0 or more")
    return Quote(amount * BATCH_DISCOUNT if batch else amount, note)


def estimate(model, size, quality, images, prices=None):
    """Estimated USD for `images` output images of a size and quality before sending, or None without a price."""
    price = price_for(model, prices)
    tokens = image_tokens(model, size, quality)[0] if price else None
    return None if tokens is None else images * tokens * price["image_output"] / 1e6


def dollars(amount: float) -> str:
    """'$1.25', or '$0.012' under ten cents (so a cheap image is never '$0.00')."""
    return f"${amount:.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.3f}"


def describe_quote(q: Quote, *, offline: bool = False, model: str = "") -> str:
    """'about $0.21', 'free offline; about $0.21 on gpt-image-2', or 'price unknown: why'; with its note."""
    if q.amount is None:
        text = f"price unknown: {q.note}"
        return f"free offline; on {model}: {text}" if offline else text
    about = f"about {dollars(q.amount)}" + (f" ({q.note})" if q.note else "")
    return f"free offline; {about} on {model}" if offline else about


@dataclass
class ModelTotals:
    """Running totals for one model."""

    calls: int = 0
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    offline: bool = True
    sources: set = field(default_factory=set)  # where the costs came from: provider, tokens, estimate
    refused: int = 0  # calls the provider's moderation refused: not billed


@dataclass
class Ledger:
    """Usage of this session, per model."""

    models: dict = field(default_factory=dict)
    spent: float = 0.0  # USD billed online this session, as far as known (see budget.py)

    def record(self, model, result, *, offline, prices=None, batch=False):
        """Add one call's result; return its estimated cost (0 offline, None if the price is unknown;
        `batch`: billed at Batch API rates)."""
        totals = self.models.setdefault(model, ModelTotals())
        totals.calls += 1
        totals.images += len(result)
        usage = images_shape(result.usage) or {}
        known = usage_problem(usage) is None  # a usage that is no token count is unknown: nothing added
        totals.input_tokens += usage.get("input_tokens", 0) if known else 0
        totals.output_tokens += usage.get("output_tokens", 0) if known else 0
        totals.offline = totals.offline and offline
        spent, source = (0.0, "estimate") if offline else priced(usage, price_for(model, prices), batch=batch)
        if spent is None and not result.usage and getattr(result, "request", None) is not None:  # none: the estimate
            spent = quote(result.request, prices, batch=batch).amount
            source = "estimate" if spent is not None else None
        result.cost_source = source
        totals.sources.update([source] if source else [])
        totals.cost = None if totals.cost is None or spent is None else totals.cost + spent
        self.spent += spent or 0.0
        return spent

    def refused(self, model):
        """Count one call the provider's moderation refused (no image, not billed)."""
        self.models.setdefault(model, ModelTotals()).refused += 1

    def report(self):
        """The session's totals as a text table, one row per model."""
        if not self.models:
            return "no images generated in this session yet"
        rows = [("model", "calls", "images", "input tokens", "output tokens", "est. cost (USD)", "cost source")]
        for model, t in self.models.items():
            rows.append(
                (
                    model,
                    str(t.calls) + (f" ({t.refused} refused, unbilled)" if t.refused else ""),
                    str(t.images),
                    f"{t.input_tokens:,}",
                    f"{t.output_tokens:,}",
                    describe_cost(t.cost, t.offline),
                    "/".join(s for s in COST_SOURCES if s in t.sources) or "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join([*lines, f"prices from {PRICES_SOURCE} as of {PRICES_AS_OF}; estimates, not a bill"])


def cost_line(amount, plan, source=None) -> str:
    """What a finished call cost: '$0.2107' from its usage, or offline what it would cost on the real endpoint
    ('free offline; about $0.21 on gpt-image-2'); with `source`, '(cost source: provider)' after it."""
    said = f" (cost source: {source})" if source else ""
    if plan.endpoint.offline:
        return describe_quote(quote(plan.request, plan.settings.prices), offline=True, model=plan.request.model) + said
    return describe_cost(amount) + said


def describe_tokens(usage):
    """'1,234 tokens (input 34, output 1,200)', or None when the usage has no total (or is no token count); either
    shape (images_shape)."""
    usage = images_shape(usage)
    if not usage or usage.get("total_tokens") is None or usage_problem(usage):
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
