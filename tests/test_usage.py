"""Issue 12's price table: cost from each answer's usage (cached tokens at cached rates), Batch API at half."""

from __future__ import annotations

import pytest

from imagemagic.catalog import MODELS
from imagemagic.usage import PRICES, PRICES_AS_OF, PRICES_SOURCE, cost, price_for

NEW = {"text_input": 5.00, "cached_text_input": 1.25, "image_input": 8.00, "cached_image_input": 2.00}
NEW["image_output"] = 30.00


def usage(text, image=0, output=0, cached=None):
    details = {"text_tokens": text, "image_tokens": image, **({} if cached is None else {"cached_tokens": cached})}
    return {
        "input_tokens": text + image,
        "output_tokens": output,
        "total_tokens": text + image + output,
        "input_tokens_details": details,
    }


def test_the_table_is_dated_and_names_its_source():
    assert (PRICES_AS_OF, PRICES_SOURCE) == ("2026-11-29", "openai.com/api/pricing")


@pytest.mark.parametrize("name", [n for n in MODELS if n.startswith("gpt-image-2")])
def test_gpt_image_2_2_5_and_2_6_share_one_price_row(name):
    assert PRICES[name] == NEW
    assert price_for(f"openai/{name}") == NEW


@pytest.mark.parametrize(
    ("answer", "usd"),
    [
        (usage(1_000_000), 5.00),
        (usage(0, image=1_000_000), 8.00),
        (usage(0, output=1_000_000), 30.00),
        (usage(1_000_000, cached=1_000_000), 1.25),
        (usage(0, image=1_000_000, cached=1_000_000), 2.00),
        (usage(400_000, image=600_000, cached=500_000), 0.4 * 1.25 + 0.1 * 2.00 + 0.5 * 8.00),
        (usage(100, output=4160), (100 * 5 + 4160 * 30) / 1e6),
        ({"input_tokens": 10, "output_tokens": 20}, (10 * 5 + 20 * 30) / 1e6),
    ],
)
def test_cost_from_usage_with_cached_tokens(answer, usd):
    assert cost(answer, price_for("gpt-image-2")) == pytest.approx(usd)
    assert cost(answer, price_for("gpt-image-2.6-flare"), batch=True) == pytest.approx(usd / 2)


def test_a_row_without_cached_rates_bills_cached_tokens_in_full():
    assert cost(usage(1_000_000, cached=1_000_000), price_for("gpt-image-1")) == pytest.approx(5.00)


@pytest.mark.parametrize(
    ("answer", "model"),
    [({}, "gpt-image-2"), (None, "gpt-image-2"), ({"output_tokens": 5}, "gpt-image-2"), (usage(5), "house-model")],
)
def test_no_guess_without_usage_or_price(answer, model):
    assert cost(answer, price_for(model)) is None


PRICE_LINE = (
    "prices['gpt-image-2'] must be a dict of USD per 1M tokens: text_input, image_input, image_output (and optionally "
    "cached_text_input, cached_image_input, text_output), each a finite number, 0 or more"
)
RATES = {"text_input": 1, "image_input": 2, "image_output": 3}


@pytest.mark.parametrize(
    "row",
    [5, {"text_input": "x"}, {**RATES, "image_output": float("nan")}, {**RATES, "image_output": -30},
     {**RATES, "image_output": 10**5000}, {**RATES, "surcharge": 1}, {"image_output": 3}],
)  # fmt: skip
def test_a_price_row_that_cannot_price_is_one_line_and_nothing_is_sent(recorder, row):
    """Before: the row was taken, and the first estimate under a budget raised TypeError or KeyError."""
    import imagemagic
    from imagemagic.errors import ValidationError
    from imagemagic.session import Session
    from imagemagic.settings import Settings

    with pytest.raises(ValidationError) as caught:
        settings = Settings(base_url=f"{recorder.base}/v1", api_key="k-test", budget=1.0, prices={"gpt-image-2": row})
        imagemagic.generate("a kite", size="1024x1024", settings=settings)
    assert str(caught.value) == PRICE_LINE
    assert recorder.requests == []
    settings = Settings(base_url=f"{recorder.base}/v1", api_key="k-test", budget=1.0,
                        prices={"gpt-image-2": {**RATES, "text_output": 1}})  # fmt: skip
    assert len(imagemagic.generate("a kite", size="1024x1024", settings=settings, session=Session())) == 1
