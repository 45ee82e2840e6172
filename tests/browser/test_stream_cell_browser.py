"""A streamed %%imagegen cell in a real JupyterLab and Notebook 7: one output goes placeholder → partials → final."""

from __future__ import annotations

import base64
import io

import nbformat
from PIL import Image

CELL = "%%imagegen --stream --partial-images 2 --size 1024x1024\nA red kite over a blue sea"

RECORD = """cell => {
    window.seen = [];
    window.imageOutputs = 0;
    window.recorder = setInterval(() => {
        const imgs = cell.querySelectorAll('.jp-OutputArea-output img');
        window.imageOutputs = Math.max(window.imageOutputs, imgs.length);
        const src = imgs.length ? imgs[0].src : null;
        if (src && window.seen[window.seen.length - 1] !== src) window.seen.push(src);
    }, 10);
}"""


def _size(data_url):
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).size


def test_streamed_cell_updates_one_output_in_place(front_end, page, artifacts):
    lab = front_end
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%load_ext imagemagic"), nbformat.v4.new_code_cell(CELL)]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "stream.ipynb")
    notebook = lab.open(page, "stream.ipynb")
    lab.run_cell(notebook, 0)
    cell = notebook.locator(".jp-CodeCell").nth(1)
    cell.evaluate(RECORD)
    lab.run_cell(notebook, 1)
    cell.locator(".jp-InputPrompt", has_text="[2]").wait_for(timeout=lab.delay * 1000 + 20_000)
    cell.locator(".jp-OutputArea-output", has_text="1 image in").wait_for()
    seen = page.evaluate("clearInterval(window.recorder), window.seen")
    sizes = [_size(src) for src in seen]
    first_full = sizes.index((1024, 1024))
    assert first_full > 0 and {s[0] for s in sizes[:first_full]} == {480}  # placeholders, at most one per tick
    assert sizes[first_full:] == [(1024, 1024)] * (len(sizes) - first_full)
    assert len(sizes) - first_full == 3  # partial 1, partial 2, final
    assert page.evaluate("window.imageOutputs") == 1
    assert cell.locator(".jp-OutputArea-output img").count() == 1
    assert cell.locator(".jp-OutputArea-output img").get_attribute("src") == seen[-1]
    cell.screenshot(path=artifacts / f"stream-cell-{type(lab).__name__}.png")
