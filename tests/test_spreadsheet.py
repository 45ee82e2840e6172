"""sweep.csv never writes a cell a spreadsheet would run as a formula (=, +, -, @, tab, CR at its start)."""

from __future__ import annotations

import csv

import pytest

import imagemagic
from imagemagic.settings import Settings
from imagemagic.spreadsheet import cell

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_is_written_as_text(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize("value", ["a fox", "", "1024x1024", 3, -0.5, None, "a=b"])
def test_anything_else_is_unchanged(value):
    assert cell(value) == value


def test_sweep_csv_has_no_formula_cells(server_url, tmp_path):
    sweep = imagemagic.sweep("{thing}", thing=HOSTILE[:4], progress=False, settings=Settings(base_url=server_url))
    sweep.save(tmp_path)
    with open(tmp_path / "sweep.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["thing"] for row in rows] == ["'" + text for text in HOSTILE[:4]]
    assert [row["prompt"] for row in rows] == ["'" + text for text in HOSTILE[:4]]
    cells = [value for row in rows for value in row.values() if value]
    assert not [value for value in cells if value.startswith(("=", "+", "-", "@", "\t", "\r"))]
