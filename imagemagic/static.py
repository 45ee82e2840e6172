"""Static representations: what a saved notebook shows where nothing runs.

nbconvert's HTML exporter (and GitHub, nbviewer, Quarto, which render the same way) draws image/png,
image/jpeg, image/svg+xml and text/html, but not image/webp or image/gif, and never runs a widget whose
state was not saved. So every display carries a form those draw:

- `image_bundle`: a WebP or GIF image gets a PNG or JPEG copy (an animated one: its first frame, and the
  animation itself as an HTML <img>, which every front end that runs HTML prefers);
- `WidgetDisplay`: a widget is displayed with a text line (and optionally a PNG still) beside its view,
  refreshed in place through its display_id when the widget's state changes (the panel's gallery as a
  contact sheet, `gallery_still`; a finished progress bar's last line).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable

from .contact import Cell, render, thumbnail
from .imaging import encoded_copy, open_image

STATIC_IMAGES = ("image/png", "image/jpeg", "image/svg+xml")  # what every static viewer draws
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
GALLERY_LIMIT = 24  # images in the panel's still (the newest ones)


def image_bundle(mime: str, data: str) -> dict[str, str]:
    """A display bundle for an image given as `mime` and base64 text (an SVG: its text) that every front
    end draws: PNG, JPEG and SVG as they are; WebP and GIF as a PNG copy of the (first) frame (JPEG for an
    opaque WebP), plus the animation as an HTML <img> when there is more than one frame."""
    if mime in STATIC_IMAGES:
        return {mime: data}
    img = open_image(base64.b64decode(data))
    bundle = dict([still(img)])
    if getattr(img, "n_frames", 1) > 1:
        bundle["text/html"] = f'<img src="data:{mime};base64,{data}" alt="animated {img.format} image">'
    return bundle


def still(img) -> tuple[str, str]:
    """(mime, base64) of a PIL image's current frame: PNG when it is a GIF or has transparency, else JPEG."""
    frame = img.convert("RGBA") if img.mode not in ("RGB", "RGBA", "L", "LA") else img
    return encoded_copy(frame, quality=90, lossless=img.format == "GIF" or "transparency" in img.info)


def gallery_still(runs: Iterable, limit: int = GALLERY_LIMIT) -> bytes | None:
    """The panel's gallery as one PNG contact sheet, newest run first (None before the first image).
    `runs` have `number` and `images` (PIL images; an SVG, which has no pixels, is left out)."""
    cells = [
        Cell({"run": run.number, "#": index + 1}, thumbnail(pil), f"run {run.number} · {pil.width}x{pil.height}")
        for run in reversed(list(runs))
        for index, pil in enumerate(run.images)
        if hasattr(pil, "convert")
    ][:limit]
    return render(cells, "imagemagic panel · newest first") if cells else None


class WidgetDisplay:
    """Shows a widget with a static form beside its view: `static()` returns (text line, PNG bytes or None).

    `show()` displays it (under a display_id, so each later `refresh()` replaces the static form in place);
    a front end running widgets shows the view, a static one the PNG or the line."""

    def __init__(self, widget, static: Callable[[], tuple[str, bytes | None]], *, publish=None, update=None):
        from IPython.display import display, update_display

        self.widget = widget
        self.static = static
        self._publish = publish or display
        self._update = update or update_display
        self.display_ids: list[str] = []

    def bundle(self) -> dict:
        """The widget view, the text line and, when there is one, the PNG still."""
        text, png = self.static()
        bundle: dict = {"text/plain": text, WIDGET_VIEW: {"version_major": 2, "version_minor": 0}}
        bundle[WIDGET_VIEW]["model_id"] = self.widget.model_id
        if png:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle

    def show(self) -> None:
        """Display the widget (once more, if it was shown already)."""
        self.display_ids.append(f"imagemagic-widget-{uuid.uuid4().hex}")
        self._publish(self.bundle(), raw=True, display_id=self.display_ids[-1])

    def refresh(self) -> None:
        """Replace the static form of every display of the widget with its current state."""
        if self.display_ids:
            bundle = self.bundle()
            for display_id in self.display_ids:
                self._update(bundle, raw=True, display_id=display_id)
