"""The panel's "Use as input" in a real JupyterLab and browser: generate, use the image, generate again,
and an edit of that image reaches the kernel's offline server (and its history)."""

from __future__ import annotations

import json

PANEL = ".imagemagic-panel"


def test_use_as_input_then_generate_edits(lab, page, artifacts, tmp_path_factory):
    notebook = lab.open(page, "panel.ipynb")
    lab.run_cell(notebook, 0)
    panel = notebook.locator(PANEL)
    panel.wait_for(timeout=30_000)
    panel.locator("textarea").first.fill("A lighthouse on a cliff at dawn")
    panel.get_by_role("button", name="Generate").click()
    panel.locator("img.imagemagic-final").first.wait_for(timeout=lab.delay * 1000 + 30_000)
    panel.get_by_role("button", name="Use as input").first.click()
    strip = panel.locator(".imagemagic-inputs")
    strip.get_by_text("Generate edits it").wait_for(timeout=10_000)
    assert strip.locator("img").count() == 1
    panel.locator("textarea").first.fill("The same lighthouse at night")
    panel.get_by_role("button", name="Generate").click()
    panel.get_by_text("(edit of 1 image)").wait_for(timeout=10_000)
    panel.get_by_text("done: 1 image").first.wait_for(timeout=lab.delay * 1000 + 30_000)
    panel.locator("img.imagemagic-final").nth(1).wait_for(timeout=10_000)
    panel.screenshot(path=artifacts / "panel-edit.png")
    found = tmp_path_factory.getbasetemp().glob("lab-state*/home/images/*/*.json")
    stored = list({p.resolve(): json.loads(p.read_text()) for p in found}.values())
    edits = [meta for meta in stored if meta.get("inputs")]
    assert [meta["prompt"] for meta in edits] == ["The same lighthouse at night"]
    first = next(meta for meta in stored if meta["prompt"] == "A lighthouse on a cliff at dawn")
    assert edits[0]["inputs"][0]["sha256"] == first["sha256"]
