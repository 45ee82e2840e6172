"""Issue 12 in the panel: the model field is a combo box of the catalog (free text allowed), the size
field offers the model's sizes and accepts any valid WxH, and the choices follow the new families."""

from __future__ import annotations

import html
import re

from imagemagic.catalog import MODELS
from imagemagic.controlpanel import panel


def hint(p):
    return html.unescape(re.sub(r"<[^>]+>", "", p.hint.value))


def offered(p, name):
    return [value for _, value in p.controls[name].options][1:]  # after the "default" entry


def test_the_model_field_offers_every_known_model_and_takes_any_name():
    p = panel()
    assert p.controls["model"].options == tuple(MODELS)
    assert "gpt-image-2.6-sunburst" in p.controls["model"].options
    p.controls["model"].value = "house-model"
    p.controls["prompt"].value = "a red kite"
    assert (p.request().model, hint(p)) == ("house-model", "")


def test_the_size_field_offers_the_models_sizes_and_accepts_any_valid_wxh():
    p = panel()
    p.controls["prompt"].value = "a red kite"
    p.controls["model"].value = "gpt-image-2.6-flare"
    aspects = ("square", "landscape", "portrait", "1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21")
    assert p.controls["size"].options == (*aspects, "1024x1024", "1536x1024", "1024x1536", "auto")
    p.controls["size"].value = "1536x864"
    assert (p.request().size, hint(p)) == ("1536x864", "")
    p.controls["size"].value = "1536x856"
    assert (
        hint(p)
        == "size=1536x856 does not fit gpt-image-2.6-flare: both sides must be divisible by 16 — did you mean 1536x864?"
    )
    p.controls["model"].value = "dall-e-3"
    assert p.controls["size"].options == (
        "square",
        "landscape",
        "portrait",
        "1:1",
        "1024x1024",
        "1792x1024",
        "1024x1792",
    )


def test_the_choices_follow_the_2_6_family():
    p = panel()
    p.controls["prompt"].value = "a red kite"
    p.controls["model"].value = "gpt-image-2.6-flare"
    assert offered(p, "quality") == ["low", "medium", "high", "xhigh", "max", "auto"]
    assert offered(p, "output_format") == ["png", "jpeg", "webp", "gif", "svg"]
    assert offered(p, "complexity") == ["low", "medium", "high"]
    assert not p.controls["complexity"].disabled
    p.controls["model"].value = "gpt-image-2"
    assert p.controls["complexity"].disabled
    assert p.controls["complexity"].tooltip == "gpt-image-2 does not support complexity"


def test_the_hint_judges_as_generate_does_with_the_capability_layer():
    """Before: the hint judged without the capability layer: a size a model's override refuses showed no hint (only
    Generate refused it), and a %config default a chat model does not take was an error where every other front end
    leaves it out with a note, so the panel could not generate at all."""
    from imagemagic.settings import Settings

    overrides = {"house-model": {"takes": ["size"], "size": ["512x512"]}}
    p = panel(settings=Settings(offline=True, capabilities=overrides))
    p.controls["prompt"].value = "a red kite"
    p.controls["model"].value = "house-model"
    p.controls["size"].value = "1024x1024"
    assert hint(p) == "size='1024x1024' is not allowed for house-model: use 512x512"
    p.controls["size"].value = "512x512"
    assert hint(p) == ""
    chat = panel(settings=Settings(offline=True, defaults={"model": "gemini-2.5-flash-image", "quality": "high"}))
    chat.controls["prompt"].value = "a red kite"
    assert hint(chat) == "gemini-2.5-flash-image does not take quality: the default quality='high' is left out"
