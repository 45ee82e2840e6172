"""Contact sheets: a grid of thumbnails labelled by the run's axes, one small PNG.

`layout(cells)` decides the grid from the cells' variables alone (pure, testable): the axes are the
variables whose values differ; the last axis gives the columns, the others the rows. With a single
axis the cells wrap in rows and each carries its own label. `render` draws it.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .result import SVGDocument

THUMB = 160  # pixels: the box each thumbnail fits in
DECODERS = ThreadPoolExecutor(2, thread_name_prefix="imagemagic-thumbnails")
"""The threads thumbnails are made in: few, so few full-size decodes (25 MB of pixels for a 4K image) run at
once, and few malloc arenas keep what they freed (a thread pool of six grew a 48-image 4K sweep's RSS by
17 payloads, two by 6)."""
WRAP = 8  # cells per row when there is only one axis
CAPTION = 18
LABEL_WIDTH = 150
GAP = 6
_BACKGROUND, _TEXT, _EMPTY, _FAILED = (255, 255, 255), (40, 40, 48), (225, 227, 232), (250, 222, 222)


@dataclass
class Cell:
    """One image (or the place of one): the variables that made it, its thumbnail, caption and state."""

    variables: dict
    thumbnail: object = None  # a small PIL image, or None while pending or when it failed
    caption: str = ""
    failed: bool = False


@dataclass
class Layout:
    """Where each cell goes: `positions[i]` is (row, column) of cell i; labels for columns and rows."""

    axes: list
    columns: list
    rows: list
    positions: list
    captions: list  # each cell's own line (its values when they are not in the headers, then its caption)


def _text(value):
    return str(value) if len(str(value)) <= 24 else str(value)[:23] + "…"


def axes_of(cells) -> list:
    """The variable names whose values differ between cells, in first-seen order."""
    names = list(dict.fromkeys(name for cell in cells for name in cell.variables))
    return [n for n in names if len({repr(c.variables.get(n)) for c in cells}) > 1]


def layout(cells) -> Layout:
    """The grid for `cells`: columns from the last axis, rows from the others (wrapped when only one axis)."""
    axes = axes_of(cells)
    if len(axes) < 2:
        positions = [divmod(i, WRAP) for i in range(len(cells))]
        captions = [
            " · ".join(filter(None, [*(f"{n}={_text(c.variables.get(n))}" for n in axes), c.caption])) for c in cells
        ]
        return Layout(axes, [], [], positions, captions)
    column_axis, row_axes = axes[-1], axes[:-1]
    columns, rows, positions = [], [], []
    seen: dict[tuple[str, str], int] = {}
    for cell in cells:
        column = f"{column_axis}={_text(cell.variables.get(column_axis))}"
        row = ", ".join(f"{n}={_text(cell.variables.get(n))}" for n in row_axes)
        rows += [row] if row not in rows else []
        key = (row, column)
        repeat = seen[key] = seen.get(key, -1) + 1  # n > 1: the images of one request side by side
        label = column if not repeat else f"{column} #{repeat + 1}"
        columns += [label] if label not in columns else []
        positions.append((rows.index(row), columns.index(label)))
    return Layout(axes, columns, rows, positions, [c.caption for c in cells])


def render(cells, title="", compress_level=6) -> bytes:
    """PNG bytes of the contact sheet of `cells`, with `title` on top (`compress_level` 1: faster, larger)."""
    from PIL import Image, ImageDraw, ImageFont

    grid = layout(cells)
    font = ImageFont.load_default(size=13)
    n_rows = max((r for r, _ in grid.positions), default=0) + 1
    n_columns = max((c for _, c in grid.positions), default=0) + 1
    left = LABEL_WIDTH if grid.rows else 0
    top = CAPTION + (CAPTION if grid.columns else 0) + GAP
    cell_w, cell_h = THUMB + GAP, THUMB + CAPTION + GAP
    sheet = Image.new("RGB", (left + n_columns * cell_w + GAP, top + n_rows * cell_h + GAP), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, 2), title, font=font, fill=_TEXT)
    for i, label in enumerate(grid.columns):
        draw.text((left + i * cell_w + cell_w // 2, CAPTION + 2), label, font=font, fill=_TEXT, anchor="ma")
    for i, label in enumerate(grid.rows):
        draw.text((GAP, top + i * cell_h + THUMB // 2), label[:22], font=font, fill=_TEXT, anchor="lm")
    for cell, (row, column), caption in zip(cells, grid.positions, grid.captions):
        x, y = left + column * cell_w, top + row * cell_h
        if cell.thumbnail is None:
            draw.rectangle((x, y, x + THUMB, y + THUMB), fill=_FAILED if cell.failed else _EMPTY)
        else:
            thumb = cell.thumbnail
            sheet.paste(thumb.convert("RGB"), (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
        draw.text((x + THUMB // 2, y + THUMB + 2), caption, font=font, fill=_TEXT, anchor="ma")
    out = io.BytesIO()
    sheet.save(out, "PNG", compress_level=compress_level)
    return out.getvalue()


def thumbnail(pil):
    """A small copy of a PIL image that fits the contact sheet's box (no full-size copy is made); for an
    SVGDocument (no pixels to shrink) a card of its shape marked SVG. Run it in DECODERS."""
    from PIL import Image

    if isinstance(pil, SVGDocument):
        return _svg_card(pil)
    scale = min(1.0, THUMB / max(pil.size))
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    small = pil.convert("RGB") if pil.mode not in ("RGB", "RGBA", "L") else pil
    small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    small.info = {}  # never a reference back to the original (its bytes and pixels)
    return small


def _svg_card(doc):
    width, height = doc.size if all(doc.size) else (1, 1)
    scale = THUMB / max(width, height)
    return _card((max(1, round(width * scale)), max(1, round(height * scale))), "SVG")


def refusal_card():
    """The contact sheet's thumbnail of a request the provider's moderation refused: a card marked so."""
    return _card((THUMB, THUMB), "refused by moderation")


def _card(size, word):
    from PIL import Image, ImageDraw

    card = Image.new("RGB", size, _EMPTY)
    ImageDraw.Draw(card).text((card.width // 2, card.height // 2), word, fill=_TEXT, anchor="mm")
    return card
