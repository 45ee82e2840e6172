"""Sizes as people say them: aspects and resolutions become the model's size, from every front end; a size
that breaks a rule is refused with the nearest allowed size; `resolution` is never sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.scripted import reply

import imagemagic
from imagemagic import sizes
from imagemagic.catalog import MODELS
from imagemagic.controlpanel import panel
from imagemagic.request import ImageRequest
from imagemagic.settings import Settings, prepare

GPT2 = MODELS["gpt-image-2"]


@pytest.mark.parametrize(
    ("size", "resolution", "expected"),
    [
        ("16:9", None, "1088x608"),  # 1K is at least the 655,360 pixels client libraries require
        ("16:9", "2K", "2048x1152"),
        ("16:9", "4K", "3840x2160"),
        ("9:16", "4K", "2160x3840"),
        ("square", None, "1024x1024"),
        ("1:1", "2K", "2048x2048"),
        ("square", "4K", "2160x2160"),  # the largest square the model makes
        ("4:3", "2K", "2048x1536"),
        ("landscape", "1K", "1024x688"),
        ("portrait", "2K", "1360x2048"),
        ("3:1", "4K", "3840x1280"),
        (None, "2K", "2048x2048"),  # a resolution without a size: square
        ("1536x1024", None, "1536x1024"),  # not an aspect: passed on for validation
        ("auto", None, "auto"),
        (None, None, None),
    ],
)
def test_an_aspect_and_a_resolution_become_a_free_size_models_size(size, resolution, expected):
    chosen = sizes.choose(GPT2, "gpt-image-2", size, resolution)
    assert (chosen.size, chosen.problem) == (expected, None)
    if expected and "x" in expected:
        assert not ImageRequest(prompt="k", size=expected).problems()


@pytest.mark.parametrize("model", [m for m in MODELS.values() if m.free_sizes])
@pytest.mark.parametrize("aspect", [*sizes.NAMED, *sizes.ASPECTS])
@pytest.mark.parametrize("resolution", ["1K", "2K", "4K"])
def test_every_offered_aspect_at_every_resolution_is_a_size_the_model_takes(model, aspect, resolution):
    chosen = sizes.choose(model, model.name, aspect, resolution)
    assert chosen.problem is None
    request = ImageRequest(prompt="k", model=model.name, size=chosen.size)
    assert request.problems() == []
    assert not [note for note in request.warnings() if "below" in note]  # never under the client libraries' minimum


@pytest.mark.parametrize(
    ("model", "size", "expected", "note"),
    [
        ("gpt-image-1", "landscape", "1536x1024", None),
        ("gpt-image-1", "portrait", "1024x1536", None),
        (
            "gpt-image-1",
            "16:9",
            "1536x1024",
            "size=16:9 is 1536x1024 on gpt-image-1: it has no 16:9 size, this is the closest",
        ),
        (
            "dall-e-3",
            "16:9",
            "1792x1024",
            "size=16:9 is 1792x1024 on dall-e-3: it has no 16:9 size, this is the closest",
        ),
        ("dall-e-3", "square", "1024x1024", None),
        (
            "dall-e-2",
            "portrait",
            "1024x1024",
            "size=portrait is 1024x1024 on dall-e-2: it has no 2:3 size, this is the closest",
        ),
    ],
)
def test_a_fixed_size_model_takes_its_closest_size_with_a_note_when_the_aspect_is_not_exact(
    model, size, expected, note
):
    assert sizes.choose(MODELS[model], model, size, None) == sizes.Chosen(expected, note)


def test_the_notes_of_free_sizes_say_what_the_aspect_came_to():
    assert sizes.choose(GPT2, "gpt-image-2", "landscape", None).note == (
        "size=landscape is 1024x688 on gpt-image-2: the nearest to 3:2 on its 16-pixel grid"
    )
    assert sizes.choose(GPT2, "gpt-image-2", "square", "4K").note == (
        "size=square at 4K is 2160x2160 on gpt-image-2: the closest within its limits"
    )
    assert sizes.choose(GPT2, "gpt-image-2", "16:9", "2K").note is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": "16:9", "resolution": "3K"}, "resolution='3K' is not a resolution: use 1K, 2K, 4K"),
        ({"size": "4:1"}, "size=4:1 does not fit gpt-image-2: the aspect ratio must be between 1:3 and 3:1"),
        ({"size": "16:0"}, "size=16:0 is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)"),
        (
            {"size": "1024x1024", "resolution": "2K"},
            "resolution=2K needs an aspect size (e.g. 16:9), not size=1024x1024",
        ),
        (
            {"model": "dall-e-3", "size": "16:9", "resolution": "2K"},
            "resolution=2K is not supported by dall-e-3: its sizes are fixed (1024x1024, 1792x1024, 1024x1792); "
            "leave it out",
        ),
        (
            {"model": "house-model", "size": "16:9"},
            "size=16:9 needs a model whose sizes we know: write WIDTHxHEIGHT for house-model",
        ),
        (
            {"size": "1000x1000"},
            "size=1000x1000 does not fit gpt-image-2: both sides must be divisible by 16 — did you mean 1008x1008?",
        ),
        (
            {"model": "dall-e-3", "size": "1920x1080"},
            "size=1920x1080 is not allowed for dall-e-3: use 1024x1024, 1792x1024, 1024x1792 — did you mean 1792x1024?",
        ),
    ],
)
def test_a_size_that_cannot_be_made_is_refused_in_one_line_before_anything_is_sent(params, message, scripted):
    server = scripted()
    with pytest.raises(imagemagic.ValidationError) as caught:
        imagemagic.generate("a kite", base_url=server.url, **params)
    assert str(caught.value) == message
    assert server.requests == []


@pytest.mark.parametrize(
    ("size", "nearest"),
    [
        ("1000x1000", "1008x1008"),
        ("1536x856", "1536x864"),
        ("3856x2160", "3840x2160"),
        ("3840x2176", "3840x2160"),
        ("4000x1000", "3840x1280"),
        ("999x999", "992x992"),
    ],
)
def test_the_nearest_allowed_size_moves_each_side_as_little_as_it_can(size, nearest):
    width, height = map(int, size.split("x"))
    assert sizes.nearest(width, height, GPT2.free_sizes) == nearest
    assert ImageRequest(prompt="k", size=nearest).problems() == []


def test_resolution_is_never_sent_only_the_size_it_picks(scripted):
    server = scripted(reply())
    imagemagic.generate("a kite", base_url=server.url, size="16:9", resolution="2K")
    body = json.loads(server.requests[0][1])
    assert body == {"prompt": "a kite", "model": "gpt-image-2", "size": "2048x1152"}


def test_python_gets_the_size_and_the_note_as_a_warning():
    with pytest.warns(imagemagic.ImageMagicWarning, match="experimental"):  # 4K is above 2560x1440
        result = imagemagic.generate("a kite", offline=True, size="16:9", resolution="4K")
    assert result[0].size == (3840, 2160)
    with pytest.warns(imagemagic.ImageMagicWarning) as caught:
        imagemagic.generate("a kite", offline=True, size="landscape")
    assert (
        str(caught[0].message) == "size=landscape is 1024x688 on gpt-image-2: the nearest to 3:2 on its 16-pixel grid"
    )


def test_the_plan_carries_the_note_and_the_history_the_size_sent():
    plan = prepare("a kite", {"size": "16:9", "model": "dall-e-3"}, settings=Settings(offline=True))
    assert plan.request.size == "1792x1024"
    assert plan.warnings[0] == "size=16:9 is 1792x1024 on dall-e-3: it has no 16:9 size, this is the closest"


def test_the_magic_takes_aspects_resolutions_and_config_defaults(ip, capsys):
    ip.run_cell("%imagegen --size 16:9 --resolution 2K --out wide a kite")
    assert ip.user_ns["wide"][0].size == (2048, 1152)
    ip.run_line_magic("config", "ImageGenMagics.size = 'portrait'")
    ip.run_line_magic("config", "ImageGenMagics.resolution = '2K'")
    ip.run_cell("%imagegen --out tall a kite")
    assert ip.user_ns["tall"][0].size == (1360, 2048)
    capsys.readouterr()
    ip.run_line_magic("config", "ImageGenMagics.resolution = '8K'")
    assert capsys.readouterr().err == (
        "UsageError: resolution='8K' is not a resolution: use 1K, 2K, 4K (ImageGenMagics keeps its settings)\n"
    )


def test_the_magic_refuses_a_bad_aspect_in_one_line(ip, capsys):
    ip.run_cell("%imagegen --size 5:1 a kite")
    assert "UsageError: size=5:1 does not fit gpt-image-2: the aspect ratio must be between 1:3 and 3:1" in (
        capsys.readouterr().err
    )


def test_the_cli_takes_aspects_and_resolutions(tmp_path, clean_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    done = subprocess.run(
        [sys.executable, "-m", "imagemagic", "generate", "a kite", "--size", "9:16", "--resolution", "2K",
         "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**env, "IMAGEMAGIC_HOME": str(clean_env)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from PIL import Image

    with Image.open(done.stdout.strip()) as img:
        assert img.size == (1152, 2048)


def test_the_panel_offers_the_models_aspects_and_resolutions_and_copies_what_was_chosen():
    p = panel(offline=True)
    p.controls["prompt"].value = "a kite"
    assert [v for _, v in p.controls["resolution"].options] == [None, "1K", "2K", "4K"]
    assert "16:9" in p.controls["size"].options
    p.controls["size"].value = "16:9"
    p.controls["resolution"].value = "2K"
    assert p.request().size == "2048x1152"
    assert p.copy_as_cell() == "%%imagegen --model gpt-image-2 --size 16:9 --resolution 2K\na kite"
    assert p.hint.value == ""  # 16:9 at 2K is exact
    p.controls["size"].value = "landscape"
    assert "size=landscape is 2048x1360 on gpt-image-2: the nearest to 3:2 on its 16-pixel grid" in p.hint.value
    p.controls["model"].value = "gpt-image-1"
    assert p.controls["resolution"].disabled and p.controls["resolution"].value is None
    assert p.controls["resolution"].tooltip == "gpt-image-1 does not support resolution"
    assert "16:9" not in p.controls["size"].options and "landscape" in p.controls["size"].options
