"""The catalog holds issue 3's table (brought to late 2026 by issue 12) as data, and lists it through
`imagemagic models` and `%imagegen --models`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from imagemagic.catalog import DEFAULT_MODEL, MODELS, catalog_text, describe, lookup

GPT = ("1024x1024", "1536x1024", "1024x1536", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")
NEW_QUALITIES = ("low", "medium", "high", "xhigh", "max", "auto")
NEW = ("gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.5-sunburst")
NEW += ("gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst")

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
    **{name: (GPT, NEW_QUALITIES, 10, 32000, None) for name in NEW},
}
SUCCESSORS = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")


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
    newest = name.startswith("gpt-image-2.6")
    assert model.output_formats == (
        ("png", "jpeg", "webp", "gif", "svg") if newest else ("png", "jpeg", "webp") if gpt else ()
    )
    assert model.complexities == (("low", "medium", "high") if newest else ())
    fidelities = {"gpt-image-1": ("high", "low"), "gpt-image-1.5": ("high", "low"), "gpt-image-1-mini": ("low",)}
    assert model.input_fidelities == fidelities.get(name, ())
    assert model.replacements == (SUCCESSORS if model.shutdown == dt.date(2026, 12, 1) else ())
    assert model.moderations == (("low", "auto") if gpt else ())
    assert model.response_formats == (() if gpt else ("url", "b64_json"))
    assert model.styles == (("vivid", "natural") if name == "dall-e-3" else ())
    free = name.startswith("gpt-image-2")
    assert bool(model.free_sizes) is free
    only_opaque = name.startswith("gpt-image-2") and not name.startswith(("gpt-image-2.5", "gpt-image-2.6"))
    assert model.backgrounds == (
        () if not gpt else ("opaque", "auto") if only_opaque else ("transparent", "opaque", "auto")
    )


@pytest.mark.parametrize("name", DOCUMENTED)
def test_only_the_2_6_family_animates_gif(name):
    animation = MODELS[name].animation
    if not name.startswith("gpt-image-2.6"):
        assert animation is None
        return
    assert (animation.min_frames, animation.max_frames, animation.default_frames) == (2, 16, 9)
    assert (animation.min_frame_ms, animation.default_frame_ms) == (20, 200)
    assert animation.refuses == ("stream", "partial_images", "mask", "output_compression")


@pytest.mark.parametrize("name", [n for n in DOCUMENTED if n.startswith("gpt-image-2")])
def test_free_sizes_bound_total_pixels_and_warn_below_the_client_minimum(name):
    free = MODELS[name].free_sizes
    assert (free.max_pixels, free.warn_below_pixels) == (8_294_400, 655_360)


def test_the_default_model_is_current_and_explicit():
    assert DEFAULT_MODEL == "gpt-image-2"
    assert not MODELS[DEFAULT_MODEL].is_shut_down(dt.date(2030, 1, 1))


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("dall-e-3", "dall-e-3"),
        ("openai/dall-e-3", "dall-e-3"),
        ("openrouter/openai/gpt-image-1", "gpt-image-1"),
        ("gpt-image-3-nova", None),
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
        "at most 3840x2160 and 8,294,400 pixels (above 2560x1440 experimental)",
        "  n: 1-10 per request; prompt up to 32000 characters",
        "  options: quality low/medium/high/auto; background opaque/auto; output_format png/jpeg/webp; "
        "moderation low/auto; output_compression 0-100 with jpeg/webp; stream with partial_images 0-3",
    ]


def test_describe_the_2_6_family():
    assert describe(MODELS["gpt-image-2.6-flare"])[::3] == [
        "gpt-image-2.6-flare (current)",
        "  options: quality low/medium/high/xhigh/max/auto; background transparent/opaque/auto; "
        "output_format png/jpeg/webp/gif/svg; moderation low/auto; complexity low/medium/high; "
        "output_compression 0-100 with jpeg/webp; stream with partial_images 0-3; "
        "gif: frame_count 2-16 (default 9), frame_duration_ms 20 or more (default 200), "
        "no stream, partial_images, mask, output_compression",
    ]


@pytest.mark.parametrize(
    ("today", "line"),
    [
        (dt.date(2026, 11, 29), "shuts down 2026-12-01"),
        (dt.date(2026, 11, 30), "shuts down 2026-12-01"),
        (dt.date(2026, 12, 1), "shut down 2026-12-01"),
    ],
)
@pytest.mark.parametrize("name", ["gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest"])
def test_the_december_shutdowns_name_their_replacements(name, today, line):
    assert describe(MODELS[name], today=today)[0] == (
        f"{name} ({line}; replaced by gpt-image-2.6-flare, gpt-image-2.6-sunburst)"
    )


def test_input_fidelity_is_described_for_gpt_image_1_5_edits():
    assert "input_fidelity high/low (edits)" in describe(MODELS["gpt-image-1.5"])[3]


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
        "gpt-image-2.5-flare-2026-09-08 (current)",
        "gpt-image-2.6-sunburst (current)",
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
