"""marimo: `marimo export html` runs tests/marimo_notebooks/kites.py (generate, edit, sweep, a streamed generation)
in marimo's own runtime against the offline server; the export holds each result's image, and the
streamed generation replaced its cell's output in place: partial, partial, final."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.environment import ENDPOINT_VARIABLES

pytest.importorskip("marimo", reason="the test extra installs marimo")
NOTEBOOK = Path(__file__).parent / "marimo_notebooks" / "kites.py"  # a folder named marimo would shadow the package


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """Each cell's (outputs, console text) from the exported HTML's embedded session, in order."""
    folder = tmp_path_factory.mktemp("marimo")
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES}
    env["IMAGEMAGIC_HOME"] = str(folder / "home")
    out, notebook = folder / "kites.html", folder / NOTEBOOK.name  # marimo writes its session cache beside it
    shutil.copy(NOTEBOOK, notebook)
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(notebook), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    page = out.read_text()
    start = page.index('"session": ') + len('"session": ')
    session = json.JSONDecoder().raw_decode(page[start:])[0]
    return [
        ([o.get("data", {}) for o in cell["outputs"]], "".join(c.get("text", "") for c in cell["console"]))
        for cell in session["cells"]
    ]


@pytest.mark.parametrize("index, what", [(1, "generate"), (2, "edit"), (3, "sweep")])
def test_results_render_as_images_in_the_export(cells, index, what):
    (data,) = cells[index][0]
    bundle = data["application/vnd.marimo+mimebundle"]
    assert bundle["image/png"].startswith("data:image/png;base64,iVBOR"), what
    assert "Traceback" not in cells[index][1]


def test_a_streamed_generation_replaces_its_output_in_place(cells):
    (data,) = cells[4][0]
    assert list(data) == ["text/html"] and data["text/html"].count("<img") == 1  # the final image, once
    assert 'title="image 1"' in data["text/html"]
    assert "replaced: 3 [True, True, False]" in cells[5][1]  # partial 1, partial 2, final: one output each time
