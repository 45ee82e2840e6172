"""Generated images: the original bytes and format, a lazily opened PIL image, and metadata.

`GeneratedImage` keeps the base64 text exactly as it came off the wire, so a display can pass it
on without decoding; the bytes are decoded on first use, the pixels only when PIL needs them.
`ImageResult` is the list of PIL images a call returns, with usage and request ids attached.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImageDataError

MAX_PIXELS = 8192 * 8192  # larger images are refused as decompression bombs

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "svg": "image/svg+xml"}


def sniff_format(head):
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


@dataclass(eq=False)
class GeneratedImage:
    """One image (final or partial) as received. Either `b64` (wire text) or `data` is given."""

    b64: str | None = field(default=None, repr=False)
    index: int = 0
    partial: bool = False
    partial_index: int | None = None
    revised_prompt: str | None = None
    url: str | None = None
    request_id: str | None = None
    usage: dict | None = None  # usage of the request this image came from
    file: object = None  # its path in the history once stored (an edit's input records it)
    response_id: str | None = None  # the Responses API call that made it (a refinement continues it)
    image_call_id: str | None = None  # its image_generation_call item in that response
    _data: bytes | None = field(default=None, repr=False)
    _pil: object = field(default=None, repr=False)

    def __repr__(self):
        kind = "partial" if self.partial else "final"
        size = f" {len(self._data):,} bytes" if self._data is not None else ""
        return f"<GeneratedImage {self.index + 1} ({kind}){size} request {self.request_id or '-'}>"

    @classmethod
    def from_bytes(cls, data, **meta):
        """Wrap bytes that did not come as base64 (a downloaded URL, a file from history)."""
        return cls(_data=bytes(data), **meta)

    @property
    def data(self):
        """The image file's bytes, decoded from base64 once, on first use."""
        if self._data is None:
            try:
                self._data = base64.b64decode(self.b64, validate=True)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise ImageDataError(f"image {self.index + 1}: the base64 data is invalid ({exc})") from exc
        return self._data

    @property
    def format(self):
        """png, jpeg, webp, gif or svg, read from the bytes themselves (not from what the server declared)."""
        fmt = sniff_format(self._head())
        if fmt is None:
            raise ImageDataError(f"image {self.index + 1}: the data is not a PNG, JPEG, WebP, GIF or SVG image")
        return fmt

    def _head(self):
        if self._data is None and self.b64 is not None:
            try:
                return base64.b64decode(self.b64[:24])
            except (binascii.Error, ValueError):
                return b""
        return self.data[:16]

    @property
    def mime(self):
        """The MIME type of the bytes, e.g. image/png."""
        return _MIME[self.format]

    @property
    def wire_b64(self):
        """The base64 text to hand a front end: the wire's own text when there was one."""
        return self.b64 if self.b64 is not None else base64.b64encode(self._data).decode("ascii")

    @property
    def image(self):
        """What the result lists for this image: a PIL image, or an SVGDocument for an SVG."""
        return SVGDocument(self.data, label=f"image {self.index + 1}") if self.format == "svg" else self.pil

    @property
    def pil(self):
        """A PIL image opened lazily from the original bytes (pixels decode on first use)."""
        if self._pil is None and self.format == "svg":
            raise ImageDataError(f"image {self.index + 1}: an SVG has no pixels for PIL; its document is in .data")
        if self._pil is None:
            self._pil = open_image(self.data, label=f"image {self.index + 1}")
            self._pil.info["imagemagic"] = self
        return self._pil


class SVGDocument:
    """An SVG answer (PIL has no pixels for it): `data` (the document's bytes), `width`, `height`, `size`;
    shown as the drawing in a notebook."""

    format = "SVG"

    def __init__(self, data, label="image"):
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise ImageDataError(f"{label}: the SVG document is not well-formed XML ({exc})") from exc
        if not root.tag.endswith("svg"):
            raise ImageDataError(f"{label}: the XML document is not an SVG (its root is {root.tag!r})")
        self.data = bytes(data)
        self.width, self.height = (_length(root.get(side)) for side in ("width", "height"))

    @property
    def size(self):
        """(width, height) as the document states them (0 where it does not)."""
        return self.width, self.height

    def __repr__(self):
        return f"<SVGDocument {self.width}x{self.height}, {len(self.data):,} bytes>"

    def _repr_svg_(self):
        return self.data.decode("utf-8", "replace")


def _length(text):
    digits = "".join(ch for ch in (text or "").split(".")[0] if ch.isdigit())
    return int(digits) if digits else 0


def open_image(data, label="image"):
    """Open bytes as a PIL image without decoding pixels; refuse non-images and decompression bombs."""
    from PIL import Image, UnidentifiedImageError

    bomb = f"{label}: refused as a possible decompression bomb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise ImageDataError(f"{label}: the data is not an image PIL can read") from exc
        except Image.DecompressionBombError as exc:
            raise ImageDataError(f"{bomb} (more than {MAX_PIXELS:,} pixels)") from exc
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageDataError(f"{bomb} ({width}x{height} is more than {MAX_PIXELS:,} pixels)")
    return img


class ImageResult(list):
    """The PIL images of one call, in order, with what the call returned besides.

    Attributes: `images` (GeneratedImage records with the original bytes), `usage` (token
    counts summed over requests), `request_ids`, `created`, `elapsed` (seconds), `partial`
    (True when some images are partials because the call was interrupted or failed), `request`,
    `cached` (True when the images came from the history instead of a new generation), `files`
    (their paths in the history), `unsaved` (None, or the line saying which images the history could
    not store) and `cost` (estimated USD: 0.0 offline or cached, None when the price is unknown);
    the last four are set when the call went through `Call`/the magic.
    """

    cached = False
    files = ()
    cost = None
    unsaved = None  # one line when some images could not be written to the history

    def __init__(self, images=(), *, usage=None, request_ids=(), created=None, elapsed=None, request=None):
        self.images = list(images)
        super().__init__(img.image for img in self.images)
        self.usage = usage or {}
        self.request_ids = list(request_ids)
        self.created = created
        self.elapsed = elapsed
        self.request = request

    @property
    def partial(self):
        """True when any image is a partial (the call did not complete)."""
        return any(img.partial for img in self.images)

    def __repr__(self):
        sizes = sorted({f"{shown.width}x{shown.height} {img.format}" for img, shown in zip(self.images, self)})
        model = f", {self.request.model}" if self.request is not None else ""
        state = ", partial" if self.partial else ", cached" if self.cached else ""
        plural = "s" if len(self) != 1 else ""
        return f"<ImageResult: {len(self)} image{plural}{': ' if sizes else ''}{', '.join(sizes)}{model}{state}>"

    def refine(self, prompt, **params):
        """Refine image 0 as `prompt` says (`api=`, `index=` and the request's parameters by name); return the
        new step of the chain as an ImageResult. See imagemagic.refine."""
        from .refinement import refine  # orchestration above this module: imported when a refinement is asked for

        return refine(self, prompt, **params)

    async def arefine(self, prompt, **params):
        """The async twin of `refine`."""
        from .refinement import arefine

        return await arefine(self, prompt, **params)

    def save(self, folder, stem="image"):
        """Write each image's original bytes into `folder` as `<stem>-<n>.<format>`, never overwriting;
        return the paths."""
        return save_images([(f"{stem}-{img.index + 1}", img) for img in self.images], folder)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """In a notebook: a compact strip of thumbnails (one small PNG) and the one-line text form."""
        bundle = {"text/plain": repr(self)}
        if any(hasattr(shown, "thumbnail") for shown in self):  # PIL images (an SVG has no pixels to shrink)
            from .display import thumbnail_strip

            bundle["image/png"] = base64.b64encode(thumbnail_strip(self)).decode("ascii")
        return bundle


def save_images(named, folder):
    """Write each (stem, GeneratedImage) as its original bytes into `folder`, never overwriting; return the paths."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, img in named:
        for attempt in itertools.count(1):
            path = folder / f"{stem}{'' if attempt == 1 else f'-{attempt}'}.{img.format}"
            try:
                with open(path, "xb") as handle:
                    handle.write(img.data)
            except FileExistsError:
                continue
            paths.append(path)
            break
    return paths


def add_usage(total, usage):
    """Add one response's usage into a running total (nested token details included)."""
    for key, value in (usage or {}).items():
        if isinstance(value, dict):
            add_usage(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
    return total
