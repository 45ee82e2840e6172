"""Where a call's cost comes from, over real HTTP (a scripted server on 127.0.0.1): the provider's own
`usage.cost`, else its tokens in either usage shape at the price table, else the estimate — always named."""

from __future__ import annotations

import pytest
from helpers.scripted import png_b64, reply

import imagemagic
from imagemagic.session import Session
from imagemagic.settings import Settings
from imagemagic.usage import quote

CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 1300, "completion_tokens_details": {"image_tokens": 1290}}


def answer(usage):
    body = {"created": 1, "data": [{"b64_json": png_b64()}]}
    return reply(body={**body, "usage": usage} if usage is not None else body)


@pytest.mark.parametrize(
    ("usage", "prices", "cost", "source"),
    [
        ({"input_tokens": 10, "output_tokens": 1300, "cost": 0.0421}, None, 0.0421, "provider"),
        (CHAT_USAGE, None, (10 * 5 + 1300 * 30) / 1e6, "tokens"),
        (
            CHAT_USAGE,
            {"gpt-image-2": {"text_input": 5, "image_input": 8, "image_output": 30, "text_output": 10}},
            (10 * 5 + 1290 * 30 + 10 * 10) / 1e6,
            "tokens",
        ),
        ({"input_tokens": 10, "output_tokens": 1300, "cost": float("nan")}, None, (10 * 5 + 1300 * 30) / 1e6, "tokens"),
        (None, None, "quote", "estimate"),
    ],
    ids=["provider", "chat-tokens", "chat-text-output-rate", "nan-cost-is-no-cost", "no-usage"],
)
def test_each_cost_names_its_source(scripted, usage, prices, cost, source):
    server = scripted(answer(usage))
    session = Session()
    result = imagemagic.generate("a kite", settings=Settings(base_url=server.url, prices=prices), session=session)
    expected = quote(result.request).amount if cost == "quote" else cost
    assert result.cost == pytest.approx(expected) and result.cost_source == source
    assert session.ledger.report().splitlines()[1].endswith(f"  {source}")


def test_the_provider_costs_of_split_calls_add_up(scripted):
    server = scripted(default=answer({"input_tokens": 10, "output_tokens": 1300, "cost": 0.0125}))
    settings = Settings(base_url=server.url, capabilities={"gpt-image-2": {"max_n": 1}})
    result = imagemagic.generate("a kite", settings=settings, session=Session(), n=3)
    assert len(server.requests) == 3 and len(result) == 3
    assert (result.cost, result.cost_source) == (pytest.approx(0.0375), "provider")


def test_the_caption_counts_chat_shaped_tokens(scripted):
    from imagemagic.display import caption

    server = scripted(answer({**CHAT_USAGE, "total_tokens": 1310}))
    result = imagemagic.generate("a kite", settings=Settings(base_url=server.url), session=Session())
    assert "1,310 tokens (input 10, output 1,300)" in caption(result)
