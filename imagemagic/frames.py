"""Sweep tables for pandas: thumbnails in a notebook, plain data in files.

`SweepFrame` is a pandas DataFrame whose `image` column holds the PIL images (an SVGDocument for an SVG).
In a notebook it shows each as a small thumbnail (pandas' own HTML would print the object's repr); written
with `to_csv` or `to_parquet`, the column holds each image's file in the history instead (text, as those
formats need). Frames derived from it (a filter, a sort) stay SweepFrames.
"""

from __future__ import annotations

import base64
import html
import io

import pandas

THUMB = 96  # pixels: the box a thumbnail fits in


def thumbnail_html(image: object) -> str:
    """An <img> of a PIL image (or an SVGDocument) fitting THUMB pixels; the escaped text of anything else."""
    if hasattr(image, "_repr_svg_"):
        data, mime = image.data, "image/svg+xml"  # type: ignore[attr-defined]
    elif hasattr(image, "thumbnail"):
        small = image.copy()  # type: ignore[attr-defined]
        small.thumbnail((THUMB, THUMB))
        out = io.BytesIO()
        small.save(out, "PNG")
        data, mime = out.getvalue(), "image/png"
    else:
        return "" if image is None else html.escape(str(image))
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<img src="{src}" style="max-width:{THUMB}px;max-height:{THUMB}px">'


class SweepFrame(pandas.DataFrame):
    """One row per image of a sweep; `image` shows as a thumbnail in a notebook and is the file path in files."""

    @property
    def _constructor(self):
        return SweepFrame

    def _repr_html_(self) -> str | None:
        if "image" not in self.columns:
            return super()._repr_html_()
        shown = self.head(pandas.get_option("display.max_rows") or len(self))
        others = [c for c in shown.columns if c != "image"]
        styler = shown.style.format(thumbnail_html, subset=["image"]).format(escape="html", subset=others)
        more = f"<p>{len(self) - len(shown)} more rows</p>" if len(shown) < len(self) else ""
        return styler.to_html() + more

    def plain(self) -> pandas.DataFrame:
        """A plain DataFrame with the `image` column as each image's file path (text)."""
        frame = pandas.DataFrame(self)
        if "image" in frame.columns and "file" in frame.columns:
            frame["image"] = frame["file"]
        return frame

    def to_csv(self, *args, **kwargs):
        """pandas' to_csv of `plain()`: the image column is the file path."""
        return self.plain().to_csv(*args, **kwargs)

    def to_parquet(self, *args, **kwargs):
        """pandas' to_parquet of `plain()`: the image column is the file path."""
        return self.plain().to_parquet(*args, **kwargs)
