"""Image bytes and pixels, below everything that stores or shows them: the format a file's first bytes
name, opening bytes as a PIL image with the decompression-bomb guard, and the thumbnail strip a result
shows as."""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import ImageDataError

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_PIXELS = 8192 * 8192  # larger images are refused as decompression bombs
STRIP_HEIGHT = 128  # pixels: the thumbnails an ImageResult shows as
STRIP_LIMIT = 16


def sniff_format(head: bytes) -> str | None:
    """The image format named by the first bytes of a file, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<svg", b"<?xml")):
        return "svg"
    return None


def open_image(data: bytes | BinaryIO, label: str = "image") -> Image:
    """Open bytes (or a binary file object) as a PIL image without decoding pixels; refuse non-images and
    decompression bombs."""
    from PIL import Image as PIL
    from PIL import UnidentifiedImageError

    bomb = f"{label}: refused as a possible decompression bomb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PIL.DecompressionBombWarning)
        try:
            img = PIL.open(data if not isinstance(data, (bytes, bytearray)) else io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise ImageDataError(f"{label}: the data is not an image PIL can read") from exc
        except PIL.DecompressionBombError as exc:
            raise ImageDataError(f"{bomb} (more than {MAX_PIXELS:,} pixels)") from exc
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageDataError(f"{bomb} ({width}x{height} is more than {MAX_PIXELS:,} pixels)")
    return img


def encoded_copy(image: Image, quality: int = 85, lossless: bool = False) -> tuple[str, str]:
    """(mime, base64) of `image` to show: PNG when it has transparency (or `lossless`), else JPEG at `quality`."""
    out = io.BytesIO()
    if lossless or image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image.save(out, "PNG", compress_level=1)
        mime = "image/png"
    else:
        image.convert("RGB").save(out, "JPEG", quality=quality)
        mime = "image/jpeg"
    return mime, base64.b64encode(out.getvalue()).decode("ascii")


def thumbnail_strip(images: Iterable[Any], height: int = STRIP_HEIGHT, limit: int = STRIP_LIMIT) -> bytes:
    """PNG bytes of the first `limit` PIL images side by side, each scaled to `height` pixels high."""
    from PIL import Image as PIL

    thumbs = []
    for img in [img for img in images if hasattr(img, "thumbnail")][:limit]:  # rasters (an SVG has no pixels)
        thumb = img.copy()
        thumb.thumbnail((height * 4, height))
        thumbs.append(thumb.convert("RGBA"))
    gap = 4
    strip = PIL.new("RGBA", (sum(t.width for t in thumbs) + gap * (len(thumbs) - 1), height), (0, 0, 0, 0))
    x = 0
    for thumb in thumbs:
        strip.paste(thumb, (x, (height - thumb.height) // 2))
        x += thumb.width + gap
    out = io.BytesIO()
    strip.save(out, "PNG", compress_level=1)
    return out.getvalue()
