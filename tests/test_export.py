"""Every saved output shows the picture: a notebook with every output kind, executed in a real kernel
(offline server) and exported to HTML by nbconvert, has each image as an <img> or inline SVG there and
no output that is only an object's repr (nbconvert draws no image/webp, image/gif or widget without state)."""

from __future__ import annotations

import re

import nbformat
import pytest
from helpers.environment import ENDPOINT_VARIABLES
from nbclient import NotebookClient
from nbconvert import HTMLExporter

SETUP = """%load_ext imagemagic
%config ImageGenMagics.offline = True
%config ImageGenMagics.model = 'gpt-image-2.6-flare'
import imagemagic"""
KINDS = {  # cell tag -> (code, what its HTML must hold)
    "png": ("%%imagegen --output-format png --size 512x512 --out kite\nA red kite", ["data:image/png"]),
    "jpeg": ("%%imagegen --output-format jpeg --size 512x512\nA red kite", ["data:image/jpeg"]),
    "webp": ("%%imagegen --output-format webp --size 512x512\nA red kite", ["data:image/"]),
    "gif": ("%%imagegen --output-format gif --frame-count 3 --size 512x512\nA red kite", ["data:image/gif"]),
    "svg": ("%%imagegen --output-format svg --size 512x512\nA red kite", ["data:image/svg+xml"]),
    "fan-out": ("%%imagegen -n 3 --size 512x512\nA red kite", ["data:image/png"] * 3),
    "grid": ("%%imagegen --grid quality=low,high --size 512x512\nA red kite", ["data:image/png"]),
    "sweep": (
        'imagemagic.sweep("A {animal}", rows=[{"animal": "fox"}, {"animal": "owl"}], size="512x512")',
        ["data:image/png", "images: 100%"],
    ),
    "edit": ("%%imagegen --image kite --size 512x512\nMake it night", ["data:image/png"]),
    "result": ('imagemagic.generate("A blue kite", size="512x512")', ["data:image/png"]),
    "panel": ("p = imagemagic.panel()\np", ["data:image/png"]),
    "panel-run": ('p.controls["prompt"].value = "A green kite"\nrun = await p.generate()', []),
}
BARE_REPR = re.compile(r"&lt;[\w.]+ object at 0x|&lt;PIL\.|images: 0%")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The executed notebook and its HTML export (widget state not saved, as JupyterLab saves by default)."""
    cells = [nbformat.v4.new_code_cell(SETUP)]
    for tag, (code, _) in KINDS.items():
        cells.append(nbformat.v4.new_code_cell(code, metadata={"tags": [tag]}))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as env:  # a fresh history, and no endpoint of the developer's
        env.setenv("IMAGEMAGIC_HOME", str(folder / "home"))
        for name in ENDPOINT_VARIABLES:
            env.delenv(name, raising=False)
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            store_widget_state=False,
            resources={"metadata": {"path": str(folder)}},
        ).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    return nb, body


def _cell_html(body, index):
    """The HTML of the `index`-th code cell's outputs (nbconvert's lab template: one jp-CodeCell div each)."""
    return re.split(r'<div class="jp-Cell jp-CodeCell', body)[index + 1]


@pytest.mark.parametrize("tag", KINDS)
def test_each_output_kind_is_a_picture_in_the_html(exported, tag):
    nb, body = exported
    index = 1 + list(KINDS).index(tag)
    cell = nb.cells[index]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    html = _cell_html(body, index)
    for marker in KINDS[tag][1]:
        assert html.count(marker) >= KINDS[tag][1].count(marker), (tag, marker)
    assert not BARE_REPR.search(html), BARE_REPR.search(html)


def test_every_image_output_of_the_notebook_has_a_static_form(exported):
    nb, body = exported
    static = ("image/png", "image/jpeg", "image/svg+xml")
    shown = [o for c in nb.cells for o in c.outputs if o.output_type in ("display_data", "execute_result")]
    pictures = [o for o in shown if any(mime.startswith("image/") or mime == "text/html" for mime in o.data)]
    assert len(pictures) == 13  # every kind above, three for the fan-out
    assert all(any(m in o.data for m in static) for o in pictures), [list(o.data) for o in pictures]
    assert body.count("<img") + body.count("<svg") >= len(pictures)


def test_webp_and_gif_get_a_display_copy_and_the_animation_stays(exported):
    nb, _ = exported
    webp, gif = (nb.cells[1 + list(KINDS).index(tag)].outputs for tag in ("webp", "gif"))
    (webp_image,) = [o for o in webp if o.output_type == "display_data"]
    assert "image/webp" not in webp_image.data and {"image/png", "image/jpeg"} & set(webp_image.data)
    (gif_image,) = [o for o in gif if o.output_type == "display_data"]
    assert set(gif_image.data) == {"image/png", "text/html", "text/plain"}
    assert gif_image.data["text/html"].startswith('<img src="data:image/gif;base64,R0lGOD')


def test_the_panel_output_carries_the_gallery_after_a_run(exported):
    nb, _ = exported
    (panel,) = [o for o in nb.cells[1 + list(KINDS).index("panel")].outputs if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in panel.data
    assert panel.data["text/plain"] == "<imagemagic panel: 1 run>"
    assert "image/png" in panel.data
