"""Sweep.to_pandas() in a notebook and in files: thumbnails in the image column of the frame's HTML, the
file path in CSV (and parquet, where pyarrow is installed), the PIL images in the frame itself."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from imagemagic.settings import Settings
from imagemagic.sweeps import sweep

pandas = pytest.importorskip("pandas", reason="the test extra installs pandas")


@pytest.fixture
def frame(server_url):
    rows = [{"animal": "<fox & owl>"}, {"animal": "hare"}]
    result = sweep("A {animal}", rows=rows, settings=Settings(base_url=server_url), progress=False)
    return result.to_pandas()


def test_the_image_column_shows_thumbnails_and_other_text_stays_escaped(frame):
    page = frame._repr_html_()
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(sources) == 2
    assert all(max(Image.open(io.BytesIO(base64.b64decode(s))).size) == 96 for s in sources)
    assert "&lt;fox &amp; owl&gt;" in page and "<fox" not in page
    assert "PIL." not in page
    assert frame[frame["animal"] == "hare"]._repr_html_().count("<img") == 1  # a filtered frame too


def test_files_get_the_image_column_as_the_file_path(frame, tmp_path):
    frame.to_csv(tmp_path / "sweep.csv", index=False)
    written = pandas.read_csv(tmp_path / "sweep.csv")
    assert written["image"].tolist() == frame["file"].tolist()
    assert all(isinstance(img, Image.Image) for img in frame["image"])  # the frame itself keeps the images


def test_parquet_gets_the_image_column_as_the_file_path(frame, tmp_path):
    pytest.importorskip("pyarrow", reason="parquet needs pyarrow (not in the test extra)")
    frame.to_parquet(tmp_path / "sweep.parquet")
    assert pandas.read_parquet(tmp_path / "sweep.parquet")["image"].tolist() == frame["file"].tolist()
