"""SVG answers where rasters were assumed: sweeps, batches' thumbnails and the panel take them; a Latin-1
SVG is shown and bound like any other; the well-formedness check never expands entities."""

from __future__ import annotations

import asyncio
import base64
import tracemalloc

import pytest
from helpers.scripted import ok_body, reply
from IPython.utils.capture import capture_output

import imagemagic
from imagemagic.contact import THUMB, thumbnail
from imagemagic.controlpanel import panel
from imagemagic.errors import ImageDataError
from imagemagic.result import GeneratedImage, ImageResult, SVGDocument
from imagemagic.settings import Settings

SVG_MODEL = {"model": "gpt-image-2.6-flare", "output_format": "svg"}
LATIN1 = (
    "<?xml version='1.0' encoding='ISO-8859-1'?>"
    "<svg xmlns='http://www.w3.org/2000/svg' width='300' height='100'><text>café à la crème</text></svg>"
).encode("latin-1")


def test_a_sweep_of_svgs_has_thumbnails_images_and_saves(server_url, tmp_path):
    settings = Settings(base_url=server_url)
    sweep = imagemagic.sweep("a {animal}", animal=["fox", "owl"], progress=False, settings=settings, **SVG_MODEL)
    assert [run.error for run in sweep] == [None, None]
    assert all(isinstance(img, SVGDocument) for img in sweep.images)
    assert [run.thumbnails[0].size for run in sweep] == [(THUMB, THUMB)] * 2
    assert sorted(p.suffix for p in sweep.save(tmp_path)) == [".svg", ".svg"]
    assert "image/png" in sweep._repr_mimebundle_()  # the contact sheet


def test_an_svg_thumbnail_keeps_its_shape():
    wide = SVGDocument(LATIN1)
    assert thumbnail(wide).size == (THUMB, THUMB // 3)
    assert thumbnail(SVGDocument(b"<svg xmlns='http://www.w3.org/2000/svg'/>")).size == (THUMB, THUMB)


def test_the_panel_shows_an_svg_as_a_drawing(server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path / "saved")
    for name, value in {**SVG_MODEL, "prompt": "a fox", "size": "1024x1024"}.items():
        p.controls[name].value = value

    async def click():
        p.generate_button.click()
        return await p.task

    run = asyncio.run(click())
    assert run.error is None
    slot = p.cards[0].slots[0]
    assert (slot.picture.format, slot.caption.value) == ("svg+xml", "1024x1024 svg")
    assert slot.picture.value == run.result.images[0].data


def test_a_latin1_svg_is_shown_and_bound(scripted, ip):
    server = scripted(reply(body=ok_body(base64.b64encode(LATIN1).decode())))
    ip.run_line_magic("config", f"ImageGenMagics.base_url = {server.url!r}")
    with capture_output() as captured:
        ip.run_cell_magic("imagegen", "--out art", "a sign")
    shown = [o.data["image/svg+xml"] for o in captured.outputs if "image/svg+xml" in o.data]
    assert shown and "café à la crème" in shown[-1]
    assert isinstance(ip.user_ns["art"][0], SVGDocument)
    assert "café à la crème" in ip.user_ns["art"][0]._repr_svg_()


def test_entities_are_refused_unexpanded():
    doc = b"<!DOCTYPE svg [<!ENTITY e 'x'>]><svg xmlns='http://www.w3.org/2000/svg'>&e;</svg>"
    with pytest.raises(ImageDataError) as info:
        SVGDocument(doc)
    assert str(info.value) == (
        "image: the SVG document declares XML entities (<!ENTITY>): refused, an SVG answer never needs them"
    )


def test_checking_a_large_svg_takes_no_more_than_a_few_times_its_size():
    one = "<!ENTITY a '" + "x" * 90 + "'>"
    doc = f"<!DOCTYPE svg [{one}]><svg xmlns='http://www.w3.org/2000/svg'>{'&a;' * 1_000_000}</svg>".encode()
    plain = b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"<g/>" * 1_000_000 + b"</svg>"
    for data in (doc, plain):
        tracemalloc.start()
        try:
            ImageResult([GeneratedImage.from_bytes(data)])[0]
        except ImageDataError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2 * len(data), (len(data), peak)
