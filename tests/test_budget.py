"""A budget in dollars: every quality priced, offline runs show the real endpoint's price and warnings, and a run
that would pass `budget` or `daily_budget` sends nothing and says so in one line, from every front end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.scripted import ok_body, reply
from IPython.utils.capture import capture_output

import imagemagic
from imagemagic import budget
from imagemagic.catalog import MODELS
from imagemagic.request import ImageRequest
from imagemagic.session import Session
from imagemagic.settings import Settings, prepare
from imagemagic.usage import TOKENS_AS_OF, describe_quote, estimate, image_tokens, quote

BILLED = {"input_tokens": 10, "output_tokens": 7024, "total_tokens": 7034}  # one 1024x1024 high image
ONE_IMAGE = 7024 * 30 / 1e6 + 10 * 5 / 1e6  # $0.21077 at gpt-image-2's rates


@pytest.fixture(autouse=True)
def fresh_session_spending():
    """The default session's spending starts at 0 in each test (it lives as long as the test process)."""
    from imagemagic.session import default

    default().ledger.spent = 0.0


def billed():
    return reply(200, {**ok_body(), "usage": BILLED})


# --- prices ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [m for m in MODELS.values() if m.family == "gpt-image" and m.shutdown is None])
def test_every_quality_of_a_current_model_has_a_price_and_none_is_below_the_next_lower(model):
    amounts = {}
    for quality in model.qualities:
        tokens, _ = image_tokens(model.name, "3840x2160", quality)
        assert tokens is not None, quality
        amounts[quality] = tokens
    assert amounts["low"] < amounts["medium"] < amounts["high"]
    assert all(amounts[q] >= amounts["high"] for q in ("xhigh", "max", "auto") if q in amounts)


@pytest.mark.parametrize("quality", ["xhigh", "max"])
def test_the_estimate_of_xhigh_and_max_is_at_least_that_of_high(quality):
    """The defect of issue 21: two 3840x2160 images at xhigh or max were estimated at the medium price."""
    high = estimate("gpt-image-2.6-flare", "3840x2160", "high", 2)
    assert (
        estimate("gpt-image-2.6-flare", "3840x2160", quality, 2)
        >= high
        > estimate("gpt-image-2.6-flare", "3840x2160", "medium", 2)
    )


def test_xhigh_and_max_are_never_priced_as_medium_and_say_what_was_assumed():
    request = ImageRequest(prompt="a kite", model="gpt-image-2.6-flare", size="3840x2160", n=2)
    high = quote(request.__class__(**{**request.__dict__, "quality": "high"}))
    for quality in ("xhigh", "max"):
        q = quote(ImageRequest(prompt="a kite", model="gpt-image-2.6-flare", size="3840x2160", n=2, quality=quality))
        assert q.amount == high.amount
        assert describe_quote(q) == (
            f"about $0.80 ({quality} priced as high: OpenAI publishes no token figures for {quality})"
        )


@pytest.mark.parametrize(
    ("quality", "size", "tokens"),
    [
        ("low", "1024x1024", 196),
        ("medium", "1024x1024", 1756),
        ("high", "1024x1024", 7024),
        ("high", "1536x1024", 5488),
        ("high", "3840x2160", 13342),
    ],
)
def test_gpt_image_2_output_tokens_follow_openais_calculator(quality, size, tokens):
    assert image_tokens("gpt-image-2", size, quality) == (tokens, None)


def test_a_model_without_figures_cannot_be_priced_and_says_why():
    assert describe_quote(quote(ImageRequest(prompt="k", model="house-model"))) == (
        "price unknown: no price for house-model in the table (set prices in the settings)"
    )
    assert TOKENS_AS_OF == "2026-11-29"


# --- offline: what it would cost, and the same warnings --------------------------------------------------------------


def test_an_offline_run_shows_what_it_would_cost_on_the_real_endpoint(ip):
    with capture_output() as captured:
        ip.run_cell("%imagegen --offline --quality high --size 1024x1024 a kite")
    last = captured.stdout.splitlines()[-1]
    assert last == "est. cost: free offline; about $0.21 on gpt-image-2 (cost source: estimate)"


def test_an_offline_plan_warns_of_shutdowns_as_the_real_endpoint_does():
    offline = prepare("a kite", {"model": "gpt-image-1.5"}, settings=Settings(offline=True))
    online = ImageRequest(prompt="a kite", model="gpt-image-1.5").warnings("https://api.openai.com/v1")
    assert online and list(offline.warnings) == online


# --- the budget -------------------------------------------------------------------------------------------------------


def test_a_run_that_would_pass_the_budget_sends_nothing_and_says_so_in_one_line(scripted):
    server = scripted(billed(), billed())
    settings, session = Settings(budget=0.30), Session()
    imagemagic.generate("a kite", base_url=server.url, settings=settings, session=session, quality="high")
    assert session.ledger.spent == pytest.approx(ONE_IMAGE)
    with pytest.raises(imagemagic.BudgetError) as caught:
        imagemagic.generate("a second kite", base_url=server.url, settings=settings, session=session, quality="high")
    assert str(caught.value) == (
        "budget: this run would cost about $0.21, more than the $0.089 left of $0.30 ($0.21 spent this session); "
        "nothing was sent. To go ahead, raise it: %config ImageGenMagics.budget = 0.43 "
        "(budget= in Settings, --budget 0.43 in the CLI)"
    )
    assert len(server.requests) == 1


def test_a_request_that_failed_without_being_billed_never_counts(scripted, clean_env):
    server = scripted(reply(400, {"error": {"message": "no", "type": "invalid_request_error"}}))
    session = Session()
    with pytest.raises(imagemagic.BadRequestError):
        imagemagic.generate("a kite", base_url=server.url, settings=Settings(budget=1.0), session=session)
    assert session.ledger.spent == 0 and budget.spent_today(clean_env) == 0


def test_an_offline_run_costs_nothing_and_is_never_refused():
    result = imagemagic.generate("a kite", offline=True, settings=Settings(budget=0.0, daily_budget=0.0))
    assert len(result) == 1 and result.cost == 0


def test_an_unpriceable_run_under_a_budget_is_refused_with_the_reason(scripted):
    server = scripted()
    with pytest.raises(imagemagic.BudgetError) as caught:
        imagemagic.generate("a kite", base_url=server.url, model="house-model", settings=Settings(budget=5.0))
    assert str(caught.value) == (
        "budget: this run cannot be priced (no price for house-model in the table (set prices in the settings)), "
        "so it cannot be held to the budget; nothing was sent. To go ahead: give its price in prices, "
        "or set budget = None"
    )
    assert server.requests == []


def _cli(*args, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "imagemagic", "generate", "a kite", "--quality", "high", *args],
        capture_output=True, text=True, timeout=60, env={**env, "IMAGEMAGIC_HOME": str(home)},
    )  # fmt: skip


def test_daily_spending_survives_restarts_and_holds_every_process_to_the_daily_budget(scripted, clean_env, tmp_path):
    server = scripted(billed(), billed())
    first = _cli("--base-url", server.url, "--daily-budget", "0.40", "--output-dir", str(tmp_path), home=clean_env)
    assert first.returncode == 0, first.stderr
    assert budget.spent_today(clean_env) == pytest.approx(ONE_IMAGE)  # in the history folder, after that process
    second = _cli(  # --fresh: the identical request would come from the cache, free
        "--base-url", server.url, "--daily-budget", "0.40", "--fresh", "--output-dir", str(tmp_path), home=clean_env
    )
    assert second.returncode == 2  # refused before sending, as bad input is
    assert second.stderr.splitlines()[-1] == (
        "imagemagic: error: daily_budget: this run would cost about $0.21, more than the $0.19 left of $0.40 "
        "($0.21 spent today (UTC)); nothing was sent. To go ahead, raise it: %config ImageGenMagics.daily_budget = "
        "0.43 (daily_budget= in Settings, --daily-budget 0.43 in the CLI)"
    )
    assert len(server.requests) == 1


def test_daily_spending_survives_a_kernel_restart(scripted, clean_env):
    from helpers.kernels import kernel

    server = scripted(billed(), billed())
    env = {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-test-not-a-real-key", "IMAGEMAGIC_HOME": str(clean_env)}
    with kernel(**env) as first:
        first.run("%config ImageGenMagics.daily_budget = 0.40")
        assert [t for t, _ in first.run("%imagegen --quality high a kite") if t == "error"] == []
    with kernel(**env) as second:  # a restart: a new process, the same history folder
        second.run("%config ImageGenMagics.daily_budget = 0.40")
        replies = second.run("%imagegen --quality high a boat")  # not a kite: that one is cached, so free
    said = "".join(c["text"] for t, c in replies if t == "stream" and c["name"] == "stderr")
    assert said == (
        "UsageError: daily_budget: this run would cost about $0.21, more than the $0.19 left of $0.40 ($0.21 spent "
        "today (UTC)); nothing was sent. To go ahead, raise it: %config ImageGenMagics.daily_budget = 0.43 "
        "(daily_budget= in Settings, --daily-budget 0.43 in the CLI)\n"
    )
    assert len(server.requests) == 1


def test_the_magic_takes_budgets_from_config_and_shows_spend_against_them(ip, scripted, monkeypatch):
    server = scripted(billed())
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    ip.run_line_magic("config", "ImageGenMagics.budget = 0.50")
    ip.run_line_magic("config", "ImageGenMagics.daily_budget = 10.0")
    with capture_output() as captured:
        ip.run_cell("%imagegen --quality high a kite")
    assert captured.stdout.splitlines()[-1] == "est. cost: $0.2108 (cost source: tokens)"
    with capture_output() as captured:
        ip.run_cell("%imagegen --quality high -n 2 a kite")
    assert captured.stderr.startswith("UsageError: budget: this run would cost about $0.42, more than the $0.29 left")
    with capture_output() as captured:
        ip.run_line_magic("imagegen_usage", "")
    assert captured.stdout.splitlines()[-2:] == [
        "budget: $0.21 of $0.50 spent this session ($0.29 left)",
        "daily_budget: $0.21 of $10.00 spent today (UTC) ($9.79 left)",
    ]
    with capture_output() as captured:
        ip.run_line_magic("config", "ImageGenMagics.budget = -1")
    assert captured.stderr == (
        "UsageError: budget=-1 must be a finite number of dollars, 0 or more (None: no limit) "
        "(ImageGenMagics keeps its settings)\n"
    )
    assert len(server.requests) == 1


def test_sweeps_and_batches_are_checked_at_their_price_before_anything_is_sent(scripted):
    server = scripted()
    settings = Settings(base_url=server.url, api_key="sk-test-not-a-real-key", budget=0.50)
    with pytest.raises(imagemagic.BudgetError) as caught:
        imagemagic.sweep("a {animal}", animal=["fox", "owl", "hare"], quality="high", settings=settings, progress=False)
    assert str(caught.value).startswith("budget: this run would cost about $0.63, more than the $0.50 left of $0.50")
    with pytest.raises(imagemagic.BudgetError) as caught:
        imagemagic.submit_batch(["a fox"] * 5, quality="high", settings=settings.but(budget=0.40))
    assert str(caught.value).startswith("budget: this run would cost about $0.53, more than the $0.40 left of $0.40")
    assert server.requests == []


def test_the_panel_is_held_to_the_budget_and_says_so(scripted):
    import asyncio

    from imagemagic.controlpanel import Panel

    server = scripted()
    p = Panel(settings=Settings(base_url=server.url, api_key="sk-test-not-a-real-key", budget=0.10), session=Session())
    p.controls["prompt"].value = "a kite"

    async def click():
        p.generate_button.click()
        return await p.task

    run = asyncio.run(click())
    assert run.error == (
        "budget: this run would cost about $0.21, more than the $0.10 left of $0.10 ($0.00 spent this session); "
        "nothing was sent. To go ahead, raise it: %config ImageGenMagics.budget = 0.22 "
        "(budget= in Settings, --budget 0.22 in the CLI)"
    )
    assert server.requests == []
