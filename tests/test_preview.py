"""The offline preview engine: deterministic, exact sizes, real formats and alpha, fast."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagemagic.server import preview


def _render(prompt="a lighthouse at dawn", **options):
    options = {"width": 640, "height": 480, "model": "gpt-image-2", **options}
    return preview.render_final(prompt, **options)


def test_same_request_same_bytes():
    assert preview.encode(_render()) == preview.encode(_render())


@pytest.mark.parametrize(
    "change",
    [{"prompt": "a castle at dusk"}, {"index": 1}, {"quality": "high"}, {"style": "natural"}, {"model": "gpt-image-1"}],
)
def test_each_input_changes_the_image(change):
    assert preview.encode(_render(**change)) != preview.encode(_render())


@pytest.mark.parametrize("size", [(1024, 1024), (1536, 1024), (1024, 1792), (3840, 2160), (256, 256), (48, 144)])
def test_size_to_the_pixel(size):
    assert Image.open(io.BytesIO(preview.encode(_render(width=size[0], height=size[1])))).size == size


@pytest.mark.parametrize(("fmt", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_formats_are_real(fmt, pil_format):
    assert Image.open(io.BytesIO(preview.encode(_render(), fmt))).format == pil_format


def test_compression_is_the_jpeg_quality():
    img = _render()
    assert len(preview.encode(img, "jpeg", 10)) < len(preview.encode(img, "jpeg", 95)) / 2


def test_transparent_background_has_real_alpha():
    img = Image.open(io.BytesIO(preview.encode(_render(background="transparent"), "png")))
    alpha = img.getchannel("A")
    assert img.mode == "RGBA"
    assert alpha.histogram()[0] > 0.2 * img.width * img.height  # the background is see-through
    assert alpha.histogram()[255] > 0.05 * img.width * img.height  # the drawing is opaque


def test_colour_words_in_the_prompt_colour_the_image():
    red = _render("red red red", width=64, height=64).convert("RGB").getpixel((1, 1))
    blue = _render("blue blue blue", width=64, height=64).convert("RGB").getpixel((1, 1))
    assert red[0] > red[2] and blue[2] > blue[0]


def test_partials_are_coarser_versions_converging_on_the_final():
    final = _render()
    stages = [preview.pixelate(final, k, 3) for k in range(3)]
    detail = [sum(1 for count in s.convert("L").histogram() if count) for s in (*stages, final)]
    assert detail[0] <= detail[1] <= detail[2] <= detail[3]
    assert stages[0].size == final.size
