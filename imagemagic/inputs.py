"""Input images of an edit: what a user hands over, as bytes with their format, origin and hash.

`collect(value)` accepts a PIL image, an `ImageResult` (all of its images, in order), one of its
elements (or its GeneratedImage), a path (str or Path), `bytes`, a history entry, or a list of
those. A PIL image is sent as its original bytes when it has them (a generated image, a file it was
opened from), else encoded losslessly as PNG. `mask_from` makes a mask. InputImage itself and the rules
the API sets on inputs (`input_problems`) are in inputimage.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .errors import Problem, ValidationError
from .imaging import sniff_format
from .inputimage import FORMATS, InputImage
from .result import GeneratedImage, ImageResult
from .store import HistoryEntry

KINDS = "a PIL image, an ImageResult, a path, bytes or a history entry"


def _refused(what, line):
    return ValidationError([Problem(what, line)])


def _from_pil(pil, name):
    generated = pil.info.get("imagemagic")
    if generated is not None and not generated.partial:
        file = getattr(generated, "file", None)
        return InputImage(generated.data, name=f"{name}-{generated.index + 1}", file=str(file) if file else None)
    source = getattr(pil, "filename", "") or ""
    if source and Path(source).is_file() and sniff_format(Path(source).read_bytes()[:16]) in FORMATS:
        return InputImage(Path(source).read_bytes(), name=Path(source).name, file=str(source))
    out = io.BytesIO()
    pil.save(out, "PNG")  # lossless
    return InputImage(out.getvalue(), name=name)


def _one(value, what, name):
    from PIL import Image

    if isinstance(value, InputImage):
        return [value]
    if isinstance(value, GeneratedImage) and not value.partial:
        return [InputImage(value.data, name=f"{name}-{value.index + 1}", file=str(value.file) if value.file else None)]
    if isinstance(value, ImageResult):
        files = list(value.files) if len(value.files) == len(value.images) else [None] * len(value.images)
        return [
            InputImage(img.data, name=f"{name}-{img.index + 1}", file=str(path) if path else None)
            for img, path in zip(value.images, files)
        ]
    if isinstance(value, Image.Image):
        return [_from_pil(value, name)]
    if isinstance(value, HistoryEntry):
        return [InputImage(value.path.read_bytes(), name=value.path.name, file=str(value.path))]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [InputImage(bytes(value), name=name)]
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        try:
            return [InputImage(path.read_bytes(), name=path.name, file=str(path))]
        except OSError as exc:
            raise _refused(what, f"{what} {str(value)!r} could not be read: {exc.strerror or exc}") from exc
    raise _refused(what, f"{what} is {type(value).__name__}, not an image: give {KINDS}")


def collect(value, what="image") -> tuple[InputImage, ...]:
    """The input images `value` stands for (a list or tuple of values: each in turn). ValidationError for a
    value that is not one of the accepted kinds or a file that cannot be read."""
    values = value if isinstance(value, (list, tuple)) and not _is_result(value) else [value]
    found: list[InputImage] = []
    for item in values:
        found += _one(item, what, f"{what}{len(found) + 1}" if what == "image" else what)
    return tuple(found)


def _is_result(value):
    return isinstance(value, ImageResult)


def mask_from(image_or_box: Any, size: tuple[int, int] | None = None) -> bytes:
    """A PNG mask with alpha (transparent = the region to edit), from a black-and-white image (white = edit)
    or a box (x0, y0, x1, y1) within an image of `size` (width, height)."""
    from PIL import Image, ImageDraw

    if isinstance(image_or_box, (tuple, list)) and len(image_or_box) == 4:
        if size is None:
            raise _refused("mask", "mask_from(box) needs size=(width, height) of the image to edit")
        width, height = size
        edit = Image.new("L", (width, height), 0)
        ImageDraw.Draw(edit).rectangle(tuple(image_or_box), fill=255)
    else:
        pil = image_or_box if isinstance(image_or_box, Image.Image) else collect(image_or_box, "mask")[0].pil
        if pil is None:
            raise _refused("mask", f"mask_from takes an image or a box (x0, y0, x1, y1), not {image_or_box!r}")
        edit = pil.convert("L").point(lambda v: 255 if v >= 128 else 0)
        if size is not None:
            width, height = size
            edit = edit.resize((width, height), Image.Resampling.NEAREST)
    mask = Image.new("RGBA", edit.size, (0, 0, 0, 255))
    mask.putalpha(edit.point(lambda v: 255 - v))
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()
