"""Generated images: the original bytes and format, a lazily opened PIL image, and metadata.

`GeneratedImage` refers to its bytes where they are: a file (the client decodes the wire's base64
straight into the history folder, and the image reads the file when asked, holding nothing), bytes in
memory, or base64 text (decoded on first use). The pixels decode only when PIL needs them.
`ImageResult` is the list of PIL images a call returns, with usage and request ids attached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import itertools
import warnings
import weakref
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
    """One image (final or partial) as received: `b64` (wire text), bytes, or a file holding them."""

    b64: str | None = field(default=None, repr=False)
    index: int = 0
    partial: bool = False
    partial_index: int | None = None
    revised_prompt: str | None = None
    url: str | None = None
    request_id: str | None = None
    usage: dict | None = None  # usage of the request this image came from
    file: object = None  # its path in the history once stored (an edit's input records it)
    _data: bytes | bytearray | None = field(default=None, repr=False)
    _pil: object = field(default=None, repr=False)
    _path: Path | None = field(default=None, repr=False)  # the file holding the bytes (read when asked)
    _size: int | None = field(default=None, repr=False)
    _sha256: str | None = field(default=None, repr=False)
    _head_bytes: bytes | None = field(default=None, repr=False)

    def __repr__(self):
        kind = "partial" if self.partial else "final"
        size = f" {self.nbytes:,} bytes" if self._data is not None or self._path is not None else ""
        return f"<GeneratedImage {self.index + 1} ({kind}){size} request {self.request_id or '-'}>"

    @classmethod
    def from_bytes(cls, data, **meta):
        """Wrap bytes that did not come as base64 (a downloaded URL, a file from history)."""
        return cls(_data=bytes(data), **meta)

    @property
    def data(self):
        """The image file's bytes: read from its file each time (never held), or decoded from base64 once."""
        if self._data is None and self.b64 is None and self._path is not None:
            return self._path.read_bytes()
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

    @property
    def nbytes(self) -> int:
        """The size of the image file in bytes (without reading a file that holds it)."""
        return self._size if self._size is not None and self._data is None else len(self.data)

    @property
    def sha256(self) -> str:
        """The sha256 of the bytes, hex (a file is hashed as it is read, never held whole)."""
        if self._sha256 is None:
            with self.source() as handle:
                self._sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        return self._sha256

    @property
    def spooled(self) -> Path | None:
        """The file holding the bytes, when they were decoded straight to disk."""
        return self._path if self._data is None and self.b64 is None else None

    def moved_to(self, path: Path) -> None:
        """The file holding the bytes was renamed to `path` (it is stored in the history)."""
        self._path = self.file = path

    def source(self):
        """A binary file object of the bytes: the file itself when there is one (nothing read into memory)."""
        spooled = self.spooled
        return open(spooled, "rb") if spooled is not None else io.BytesIO(self.data)

    def check(self):
        """Refuse an empty image, a non-image or a decompression bomb (ImageDataError); reads the header only."""
        if not self.nbytes:  # raises ImageDataError for invalid base64
            raise ImageDataError(f"image {self.index + 1}: the data is empty")
        if self.format == "svg":
            self.image  # noqa: B018 - parsing the document is the check
            return
        with self.source() as handle:
            open_image(handle, label=f"image {self.index + 1}").close()

    def _head(self):
        if self._head_bytes is not None and self._data is None:
            return self._head_bytes
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
        return self.b64 if self.b64 is not None else base64.b64encode(self.data).decode("ascii")

    @property
    def image(self):
        """What the result lists for this image: a PIL image, or an SVGDocument for an SVG."""
        return SVGDocument(self.data, label=f"image {self.index + 1}") if self.format == "svg" else self.pil

    @property
    def pil(self):
        """A PIL image opened lazily from the original bytes (pixels decode on first use); an image in a file
        is read from it block by block as PIL decodes, never held whole, and no file stays open."""
        if self._pil is None and self.format == "svg":
            raise ImageDataError(f"image {self.index + 1}: an SVG has no pixels for PIL; its document is in .data")
        if self._pil is None:
            source = io.BufferedReader(_FileOf(self), 65536) if self.spooled is not None else self.data
            self._pil = open_image(source, label=f"image {self.index + 1}")
            self._pil.info["imagemagic"] = self
        return self._pil


class _FileOf(io.RawIOBase):
    """The bytes of a GeneratedImage's file, opened for each read only (so none stays open), wherever the
    history store has moved the file meanwhile. It refers to the image weakly: the image holds its PIL
    image, which holds this, and a cycle would keep decoded pixels alive until the next collection."""

    def __init__(self, img: GeneratedImage):
        super().__init__()
        self._img, self._path, self.pos = weakref.ref(img), img._path, 0

    @property
    def path(self) -> Path:
        img = self._img()
        if img is not None and img._path is not None:
            self._path = img._path
        assert self._path is not None
        return self._path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with open(self.path, "rb") as handle:
            handle.seek(self.pos)
            count = handle.readinto(buffer)
        self.pos += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self.pos = self.path.stat().st_size + offset
        else:
            self.pos = (self.pos if whence == io.SEEK_CUR else 0) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos


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
    """Open bytes (or a binary file object) as a PIL image without decoding pixels; refuse non-images and
    decompression bombs."""
    from PIL import Image, UnidentifiedImageError

    bomb = f"{label}: refused as a possible decompression bomb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(data if hasattr(data, "read") else io.BytesIO(data))
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
