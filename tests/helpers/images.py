"""Small real image files for tests: PNG, JPEG or WebP bytes of a given size and colour."""

from __future__ import annotations

import base64
import io
import struct

from PIL import Image


def image_bytes(size=(64, 64), colour=(200, 40, 40), fmt="PNG", mode="RGB"):
    """The bytes of a one-colour image file (fmt PNG, JPEG, WEBP, GIF)."""
    out = io.BytesIO()
    Image.new(mode, size, colour if mode != "RGBA" else (*colour, 255)).save(out, fmt)
    return out.getvalue()


def decoded(data):
    """The PIL image of image file bytes, loaded."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_width(b64):
    """Width from a base64 PNG's IHDR (the first 24 bytes), without decoding the image."""
    return struct.unpack(">I", base64.b64decode(b64[:32])[16:20])[0]


def pixels_loaded(pil):
    """Whether a PIL image has decoded its pixels (Pillow 10 keeps them in `im`, Pillow 11 and later in `_im`)."""
    return vars(pil).get("_im", vars(pil).get("im")) is not None
