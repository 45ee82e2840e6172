"""The catalog holds issue 3's table as data, and lists it through `imagemagic models` and `%imagegen --models`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from imagemagic.catalog import DEFAULT_MODEL, MODELS, catalog_text, describe, lookup

GPT = ("1024x1024", "1536x1024", "1024x1536", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")

# name: sizes, qualities, max n per request, prompt limit, shutdown date — as the issue documents them
DOCUMENTED = {
    "dall-e-2": (("256x256", "512x512", "1024x1024"), ("standard",), 10, 1000, dt.date(2026, 5, 12)),
    "dall-e-3": (("1024x1024", "1792x1024", "1024x1792"), ("standard", "hd"), 1, 4000, dt.date(2026, 5, 12)),
    "gpt-image-1": (GPT, GPT_QUALITIES, 10, 32000, dt.date(2026, 10, 23)),
    "gpt-image-1-mini": (GPT, GPT_QUALITIES, 10, 32000, dt.date(2026, 12, 1)),
    "gpt-image-1.5": (GPT, GPT_QUALITIES, 10, 32000, dt.date(2026, 12, 1)),
    "chatgpt-image-latest": (GPT, GPT_QUALITIES, 10, 32000, dt.date(2026, 12, 1)),
    "gpt-image-2": (GPT, GPT_QUALITIES, 10, 32000, None),
    "gpt-image-2-2026-04-21": (GPT, GPT_QUALITIES, 10, 32000, None),
}


def test_the_catalog_is_the_documented_table():
    assert list(MODELS) == list(DOCUMENTED)
    for name, (sizes, qualities, max_n, prompt_limit, shutdown) in DOCUMENTED.items():
        model = MODELS[name]
        assert (model.sizes, model.qualities, model.max_n, model.prompt_limit, model.shutdown) == (
            sizes,
            qualities,
            max_n,
            prompt_limit,
            shutdown,
        ), name


@pytest.mark.parametrize("name", DOCUMENTED)
def test_gpt_image_only_parameters(name):
    model = MODELS[name]
    gpt = name not in ("dall-e-2", "dall-e-3")
    assert model.streaming is gpt
    assert model.max_partial_images == (3 if gpt else 0)
    assert model.output_formats == (("png", "jpeg", "webp") if gpt else ())
    assert model.moderations == (("low", "auto") if gpt else ())
    assert model.response_formats == (() if gpt else ("url", "b64_json"))
    assert model.styles == (("vivid", "natural") if name == "dall-e-3" else ())
    free = name.startswith("gpt-image-2")
    assert bool(model.free_sizes) is free
    assert model.backgrounds == (() if not gpt else ("opaque", "auto") if free else ("transparent", "opaque", "auto"))


def test_the_default_model_is_current_and_explicit():
    assert DEFAULT_MODEL == "gpt-image-2"
    assert not MODELS[DEFAULT_MODEL].is_shut_down(dt.date(2030, 1, 1))


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("dall-e-3", "dall-e-3"),
        ("openai/dall-e-3", "dall-e-3"),
        ("openrouter/openai/gpt-image-1", "gpt-image-1"),
        ("gpt-image-2.6-flare", None),
        ("openai/unknown", None),
        ("dall-e-3/", None),
        ("", None),
    ],
)
def test_lookup_follows_a_provider_prefix(name, row):
    assert lookup(name) is (MODELS[row] if row else None)


def test_describe_a_fixed_size_model():
    assert describe(MODELS["dall-e-3"], today=dt.date(2026, 5, 11)) == [
        "dall-e-3 (shuts down 2026-05-12)",
        "  sizes: 1024x1024, 1792x1024, 1024x1792",
        "  n: 1 per request; prompt up to 4000 characters",
        "  options: quality standard/hd; style vivid/natural; response_format url/b64_json",
    ]
    assert describe(MODELS["dall-e-3"], today=dt.date(2026, 5, 12))[0] == "dall-e-3 (shut down 2026-05-12)"


def test_describe_a_free_size_model():
    assert describe(MODELS["gpt-image-2"]) == [
        "gpt-image-2 (current, the default)",
        "  sizes: 1024x1024, 1536x1024, 1024x1536, auto, or any WxH: sides divisible by 16, ratio up to 3:1, "
        "at most 3840x2160 (above 2560x1440 experimental)",
        "  n: 1-10 per request; prompt up to 32000 characters",
        "  options: quality low/medium/high/auto; background opaque/auto; output_format png/jpeg/webp; "
        "moderation low/auto; output_compression 0-100 with jpeg/webp; stream with partial_images 0-3",
    ]


def assert_lists_the_catalog(text):
    """Real content of the listing, true on any date from now on."""
    lines = text.splitlines()
    for line in (
        "dall-e-2 (shut down 2026-05-12)",
        "  sizes: 256x256, 512x512, 1024x1024",
        "  options: quality standard; response_format url/b64_json",
        "gpt-image-1 (shut down 2026-10-23)",
        "  options: quality low/medium/high/auto; background transparent/opaque/auto; output_format png/jpeg/webp; "
        "moderation low/auto; output_compression 0-100 with jpeg/webp; stream with partial_images 0-3",
        "gpt-image-2 (current, the default)",
        "gpt-image-2-2026-04-21 (current)",
        "Other names: a provider prefix (openai/dall-e-3) follows the rules of the name after it, sent as written;",
    ):
        assert line in lines
    assert [line.split(" (")[0] for line in lines if not line.startswith((" ", "Other", "any other"))] == list(MODELS)


def test_imagemagic_models_cli():
    done = subprocess.run([sys.executable, "-m", "imagemagic", "models"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == catalog_text() + "\n"
    assert_lists_the_catalog(done.stdout)


def test_imagegen_models_magic(ip, capsys):
    ip.run_line_magic("imagegen", "--models")
    assert_lists_the_catalog(capsys.readouterr().out)
