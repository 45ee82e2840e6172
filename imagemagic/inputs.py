"""Input images of an edit: what a user hands over, as bytes with their format, origin and hash.

`collect(value)` accepts a PIL image, an `ImageResult` (all of its images, in order), one of its
elements (or its GeneratedImage), a path (str or Path), `bytes`, a history entry, or a list of
those. What is sent is what the user holds: a PIL image goes as its original bytes (a generated image,
a file it was opened from) only when its pixels are provably those bytes' — never decoded, or decoded
and equal to a fresh decode of the bytes — and otherwise (after thumbnail(), ImageDraw, paste …) as its
pixels, encoded losslessly as PNG. A path is refused by its size before it is read, and read bounded.
`mask_from` makes a mask. InputImage itself and the rules the API sets on inputs (`input_problems`) are in
inputimage.py.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .errors import ImageDataError, Problem, ValidationError
from .imaging import open_image, sniff_format
from .inputimage import FORMATS, MAX_BYTES, InputImage
from .result import GeneratedImage, ImageResult
from .store import HistoryEntry

KINDS = "a PIL image, an ImageResult, a path, bytes or a history entry"


def _refused(what, line):
    return ValidationError([Problem(what, line)])


def _read(path, what, shown) -> bytes:
    """The bytes of the file at `path`, refused unread when it is MAX_BYTES or more (read bounded: a device
    or a growing file cannot make it read more)."""
    too_big = f"each input image must be under {MAX_BYTES / 2**20:.0f} MB"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size >= MAX_BYTES:
                raise _refused(what, f"{what} {shown!r} is {size / 2**20:.1f} MB: {too_big}")
            data = handle.read(MAX_BYTES)
    except OSError as exc:
        raise _refused(what, f"{what} {shown!r} could not be read: {exc.strerror or exc}") from exc
    if len(data) >= MAX_BYTES:
        raise _refused(what, f"{what} {shown!r} is {MAX_BYTES / 2**20:.1f} MB or more: {too_big}")
    return data


def untouched(pil, data: bytes) -> bool:
    """True when `pil`'s pixels are provably those of the image file `data`: same size, mode and palette, and
    either never decoded (PIL decodes before any change) or equal to a fresh decode of `data`."""
    try:
        original = open_image(data)
    except ImageDataError:
        return False
    if (original.size, original.mode) != (pil.size, pil.mode):
        return False
    if getattr(pil, "tile", None):  # pixels not decoded yet: they can only be the file's
        return True
    return original.getpalette() == pil.getpalette() and original.tobytes() == pil.tobytes()


def _from_pil(pil, name, original=None, file=None):
    """`pil` as an input: `original` (given, or its generated or opened file's bytes) when its pixels are
    provably those bytes', else its pixels as a PNG."""
    generated = pil.info.get("imagemagic")
    if original is None and generated is not None and not generated.partial:
        original, name = generated.data, f"{name}-{generated.index + 1}"
        file = getattr(generated, "file", None) or file
    elif original is None and getattr(pil, "filename", ""):
        file = pil.filename
        try:
            original = _read(Path(file), "image", file) if Path(file).is_file() else None
        except ValidationError:
            original = None  # too large to be sent as it is: its pixels may still be
        name = Path(file).name
    if original is not None and sniff_format(original[:16]) in FORMATS + ("gif",) and untouched(pil, original):
        return InputImage(original, name=name, file=str(file) if file else None)
    out = io.BytesIO()
    pil.save(out, "PNG")  # what the user holds, losslessly
    return InputImage(out.getvalue(), name=name)


def _one(value, what, name):
    from PIL import Image

    if isinstance(value, InputImage):
        return [value]
    if isinstance(value, GeneratedImage) and value._pil is not None:  # its pixels may have been changed
        return [_from_pil(value._pil, name)]
    if isinstance(value, GeneratedImage) and not value.partial:
        return [InputImage(value.data, name=f"{name}-{value.index + 1}", file=str(value.file) if value.file else None)]
    if isinstance(value, ImageResult):
        files = list(value.files) if len(value.files) == len(value.images) else [None] * len(value.images)
        return [
            _from_pil(shown, f"{name}-{img.index + 1}", img.data, path)
            if isinstance(shown, Image.Image)
            else InputImage(img.data, name=f"{name}-{img.index + 1}", file=str(path) if path else None)
            for shown, img, path in zip(value, value.images, files)
        ]
    if isinstance(value, Image.Image):
        return [_from_pil(value, name)]
    if isinstance(value, HistoryEntry):
        return [InputImage(_read(value.path, what, str(value.path)), name=value.path.name, file=str(value.path))]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [InputImage(bytes(value), name=name)]
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        return [InputImage(_read(path, what, str(value)), name=path.name, file=str(path))]
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
