"""The panel in a real JupyterLab (and Notebook 7) and a real browser: generate, see the image, cancel a stream."""

from __future__ import annotations

import time

PANEL = ".imagemagic-panel"


def _start_panel(lab, page, artifacts):
    """Open notebooks/panel.ipynb, run its panel cell, return the panel's locator."""
    from playwright.sync_api import TimeoutError as PageTimeout

    notebook = lab.open(page, "panel.ipynb")
    lab.run_cell(notebook, 0)
    panel = notebook.locator(PANEL)
    try:
        panel.wait_for(timeout=60_000)  # the kernel's first import of ipywidgets, on a loaded machine
    except PageTimeout:  # keep a screenshot of what the page showed instead, then fail
        page.screenshot(path=artifacts / f"panel-missing-{type(lab).__name__}.png")
        raise
    return panel


def _field(panel, label):
    """The input of the control whose label is `label`."""
    return (
        panel.locator(".widget-inline-hbox", has=panel.page.locator(f"label:text-is('{label}')"))
        .locator("input, textarea, select")
        .first
    )


def test_generate_shows_final_image_of_the_chosen_size(front_end, page, artifacts):
    lab = front_end
    panel = _start_panel(lab, page, artifacts)
    panel.locator("textarea").first.fill("A lighthouse on a cliff at dawn, watercolor")
    _field(panel, "size").fill("1536x1024")
    panel.get_by_role("button", name="Generate").click()
    final = panel.locator("img.imagemagic-final")
    final.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=final.element_handle())
    assert final.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1536, 1024]
    panel.get_by_text("done: 1 image").wait_for()
    panel.screenshot(path=artifacts / f"panel-generated-{type(lab).__name__}.png")


def test_cancel_mid_stream_returns_to_idle_before_another_partial_could_arrive(lab, page, artifacts):
    panel = _start_panel(lab, page, artifacts)
    panel.locator("textarea").first.fill("A red kite over a blue sea")
    panel.get_by_role("checkbox", name="stream").check()
    _field(panel, "partial images").select_option("2")
    panel.get_by_role("button", name="Generate").click()
    clicked = time.monotonic()
    panel.locator("img.imagemagic-partial").wait_for(timeout=lab.delay * 1000 + 10_000)
    first_partial = time.monotonic() - clicked
    panel.get_by_role("button", name="Cancel").click()
    cancelled = time.monotonic()
    panel.get_by_text("cancelled: the connection was closed; kept 1 image (partial)").wait_for(
        timeout=lab.delay * 1000 + 10_000
    )
    assert panel.get_by_role("button", name="Generate").is_enabled()
    assert panel.get_by_role("button", name="Cancel").is_disabled()
    assert time.monotonic() - cancelled < first_partial / 2  # back to idle faster than one partial arrives
    assert panel.locator("img.imagemagic-final").count() == 0
    panel.screenshot(path=artifacts / "panel-cancelled.png")
