"""Streaming in marimo: each image slot's latest partial, then its final image, replace the running cell's
output in place (`mo.output.replace`), as the inline display does in Jupyter.

marimo has no magics and runs no ipywidgets; results show there through their `_repr_mimebundle_`.
`live_output()` is the `on_event` hook `generate`/`edit` use when none is given: None outside marimo.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from typing import Any

from .display import display_copy
from .result import GeneratedImage
from .static import image_bundle

MAX_SIDE = 1024  # pixels: a larger image is shown as a bounded copy (the original stays in the result)


def live_output() -> Callable[[object], None] | None:
    """An on_event hook that shows the images in the running marimo cell, or None when not in marimo."""
    mo = sys.modules.get("marimo")  # imported by the notebook itself when it runs in marimo
    if mo is None or not getattr(mo, "running_in_notebook", lambda: False)():
        return None
    return MarimoOutput(mo).on_event


class MarimoOutput:
    """The latest image of each slot, as one HTML row that replaces the cell's output on every image."""

    def __init__(self, mo: Any) -> None:
        self.mo = mo
        self.latest: dict[int, GeneratedImage] = {}

    def on_event(self, event: object) -> None:
        """Take a GeneratedImage (a Status line is left to the cell's console) and redraw the row."""
        if not isinstance(event, GeneratedImage):
            return
        self.latest[event.index] = event
        self.mo.output.replace(self.mo.Html(self.html()))

    def html(self) -> str:
        """One <img> (or inline SVG) per slot, in slot order, each titled with its state."""
        tags = []
        for index, img in sorted(self.latest.items()):
            bundle = image_bundle(*display_copy(img, MAX_SIDE))
            state = f"image {index + 1}" + (" (partial)" if img.partial else "")
            if "text/html" in bundle or "image/svg+xml" in bundle:  # an animation's <img>, an SVG document
                tags.append(f'<div title="{state}">{bundle.get("text/html") or bundle["image/svg+xml"]}</div>')
                continue
            mime, data = next((m, d) for m, d in bundle.items() if m.startswith("image/"))
            src = f"data:{mime};base64,{data}"
            tags.append(f'<img src="{src}" title="{html.escape(state)}" style="max-width:100%">')
        return f'<div style="display:flex;gap:8px;flex-wrap:wrap">{"".join(tags)}</div>'
