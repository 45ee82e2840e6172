"""An SVG answer (gpt-image-2.6, output_format svg) reaches the notebook as the drawing: the result lists
an SVGDocument (PIL has no pixels for it), the display sends image/svg+xml text, the history keeps the file."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from IPython.utils.capture import capture_output

from imagemagic.errors import ImageDataError
from imagemagic.result import GeneratedImage, ImageResult, SVGDocument


def test_the_magic_shows_an_svg_as_svg_text_and_binds_its_document(ip):
    with capture_output() as captured:
        ip.run_cell_magic(
            "imagegen", "--model gpt-image-2.6-flare --output-format svg --size 1024x1024 --out art", "a fox"
        )
    art = ip.user_ns["art"]
    assert len(art) == 1 and isinstance(art[0], SVGDocument) and art[0].size == (1024, 1024)
    assert ET.fromstring(art[0].data).tag.endswith("svg")
    finals = [o.data for o in captured.outputs if "image/svg+xml" in o.data]
    assert finals and finals[-1]["image/svg+xml"] == art[0].data.decode("utf-8")
    assert art.files[0].suffix == ".svg" and art.files[0].read_bytes() == art[0].data
    assert repr(art) == "<ImageResult: 1 image: 1024x1024 svg, gpt-image-2.6-flare>"
    assert set(art._repr_mimebundle_()) == {"text/plain"}  # no raster strip of a drawing


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"<svg width='10' height='20'><rect", "image 1: the SVG document is not well-formed XML"),
        (b"<?xml version='1.0'?><html/>", "image 1: the XML document is not an SVG (its root is 'html')"),
    ],
)
def test_a_broken_svg_is_refused_in_one_line(data, line):
    with pytest.raises(ImageDataError) as caught:
        ImageResult([GeneratedImage.from_bytes(data)])
    assert str(caught.value).startswith(line)
