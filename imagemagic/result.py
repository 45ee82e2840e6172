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
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

from . import live
from .errors import ImageDataError, ImageMagicError
from .imaging import open_image, sniff_format, thumbnail_strip

if TYPE_CHECKING:
    from PIL.Image import Image

    from .request import ImageRequest

REFINERS: dict[str, Callable[..., Any]] = {}  # refine/arefine, registered by refinement.py (a layer above)


def _refiner(name: str) -> Callable[..., Any]:
    """The registered refinement function `name`; refinement.py registers itself when a front end loads it."""
    if name not in REFINERS:
        raise ImageMagicError("refining needs imagemagic.refinement: import imagemagic (or imagemagic.refinement)")
    return REFINERS[name]


_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "svg": "image/svg+xml"}


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
    usage: dict[str, Any] | None = None  # usage of the request this image came from
    file: Path | None = None  # its path in the history once stored (an edit's input records it)
    response_id: str | None = None  # the Responses API call that made it (a refinement continues it)
    image_call_id: str | None = None  # its image_generation_call item in that response
    _data: bytes | bytearray | None = field(default=None, repr=False)
    _pil: Image | None = field(default=None, repr=False)
    _document: SVGDocument | None = field(default=None, repr=False)
    _path: Path | None = field(default=None, repr=False)  # the file holding the bytes (read when asked)
    _size: int | None = field(default=None, repr=False)
    _sha256: str | None = field(default=None, repr=False)
    _head_bytes: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        kind = "partial" if self.partial else "final"
        size = f" {self.nbytes:,} bytes" if self._data is not None or self._path is not None else ""
        return f"<GeneratedImage {self.index + 1} ({kind}){size} request {self.request_id or '-'}>"

    @classmethod
    def from_bytes(cls, data: bytes, **meta: Any) -> Self:
        """Wrap bytes that did not come as base64 (a downloaded URL, a file from history)."""
        return cls(_data=bytes(data), **meta)

    @property
    def data(self) -> bytes:
        """The image file's bytes: read from its file each time (never held), or decoded from base64 once."""
        if self._data is None and self.b64 is None and self._path is not None:
            return self._path.read_bytes()
        if self._data is None:
            try:
                if self.b64 is None:
                    raise TypeError("there is none")
                self._data = base64.b64decode(self.b64, validate=True)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise ImageDataError(f"image {self.index + 1}: the base64 data is invalid ({exc})") from exc
        return cast(bytes, self._data)  # a memory spool's bytearray reads as bytes, without a copy

    @property
    def format(self) -> str:
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

    def source(self) -> io.BufferedReader | io.BytesIO:
        """A binary file object of the bytes: the file itself when there is one (nothing read into memory)."""
        spooled = self.spooled
        return open(spooled, "rb") if spooled is not None else io.BytesIO(self.data)

    def check(self) -> None:
        """Refuse an empty image, a non-image or a decompression bomb (ImageDataError); reads the header only."""
        if not self.nbytes:  # raises ImageDataError for invalid base64
            raise ImageDataError(f"image {self.index + 1}: the data is empty")
        if self.format == "svg":
            self.image  # noqa: B018 - parsing the document is the check
            return
        with self.source() as handle:
            open_image(handle, label=f"image {self.index + 1}").close()

    def _head(self) -> bytes:
        if self._head_bytes is not None and self._data is None:
            return self._head_bytes
        if self._data is None and self.b64 is not None:
            try:
                return base64.b64decode(self.b64[:24])
            except (binascii.Error, ValueError):
                return b""
        return self.data[:16]

    @property
    def mime(self) -> str:
        """The MIME type of the bytes, e.g. image/png."""
        return _MIME[self.format]

    @property
    def wire_b64(self) -> str:
        """The base64 text to hand a front end: the wire's own text when there was one."""
        return self.b64 if self.b64 is not None else base64.b64encode(self.data).decode("ascii")

    @property
    def image(self) -> Image | SVGDocument:
        """What the result lists for this image: a PIL image, or an SVGDocument for an SVG."""
        if self.format != "svg":
            return self.pil
        if self._document is None:
            self._document = SVGDocument(self.data, label=f"image {self.index + 1}")
            self._document.info["imagemagic"] = self
        return self._document

    @property
    def pil(self) -> Image:
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

    def readinto(self, buffer: Any) -> int:
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
    """An SVG answer (PIL has no pixels for it): `data` (the document's bytes), `text` (decoded by its own
    encoding declaration), `width`, `height`, `size`, and as on a PIL image `info["imagemagic"]`, the
    GeneratedImage it came from; shown as the drawing in a notebook.

    The check that it is an SVG streams through the XML (no tree is built) and refuses entity
    declarations: an SVG answer never needs them, and they can expand a document many times over."""

    format = "SVG"

    def __init__(self, data: bytes, label: str = "image") -> None:
        import xml.parsers.expat as expat

        found: dict = {}
        parser = expat.ParserCreate()
        parser.XmlDeclHandler = lambda version, encoding, standalone: found.setdefault("encoding", encoding)

        def root(tag, attrs):
            found["root"] = (tag, attrs)
            parser.StartElementHandler = None  # only the root is needed: the rest is only checked

        parser.StartElementHandler = root
        parser.EntityDeclHandler = _no_entities
        try:
            parser.Parse(bytes(data), True)
        except expat.ExpatError as exc:
            raise ImageDataError(f"{label}: the SVG document is not well-formed XML ({exc})") from exc
        except _EntityDeclared as exc:
            raise ImageDataError(
                f"{label}: the SVG document declares XML entities (<!ENTITY>): refused, an SVG answer never needs them"
            ) from exc
        tag, attrs = found["root"]
        if not tag.rsplit(":", 1)[-1].endswith("svg"):
            raise ImageDataError(f"{label}: the XML document is not an SVG (its root is {tag!r})")
        self.data = bytes(data)
        self.info: dict = {}
        self.encoding = found.get("encoding") or ("utf-16" if self.data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8")
        self.width, self.height = (_length(attrs.get(side)) for side in ("width", "height"))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as the document states them (0 where it does not)."""
        return self.width, self.height

    @property
    def text(self) -> str:
        """The document as text, decoded by the encoding it declares (UTF-8 when it declares none)."""
        try:
            return self.data.decode(self.encoding)
        except (LookupError, UnicodeDecodeError):
            return self.data.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<SVGDocument {self.width}x{self.height}, {len(self.data):,} bytes>"

    def _repr_svg_(self) -> str:
        return self.text


class _EntityDeclared(Exception):
    pass


def _no_entities(*_):
    raise _EntityDeclared


def _length(text):
    digits = "".join(ch for ch in (text or "").split(".")[0] if ch.isdigit())
    return int(digits) if digits else 0


class ImageResult(list[Any]):
    """The PIL images of one call, in order, with what the call returned besides.

    Attributes: `images` (GeneratedImage records with the original bytes), `usage` (token
    counts summed over requests), `request_ids`, `created`, `elapsed` (seconds), `partial`
    (True when some images are partials because the call was interrupted or failed), `request`,
    `cached` (True when the images came from the history instead of a new generation), `files`
    (their paths in the history), `unsaved` (None, or the line saying which images the history could
    not store), `cost` (estimated USD: 0.0 offline or cached, None when the price is unknown) and
    `cost_source` (provider: the provider's usage.cost; tokens: usage at the price table; estimate);
    the last four are set when the call went through `Call`/the magic.
    """

    cached: bool = False
    cost: float | None = None
    cost_source: str | None = None  # where `cost` came from: provider (usage.cost), tokens, or estimate
    unsaved: str | None = None  # one line when some images could not be written to the history

    def __init__(
        self,
        images: Iterable[GeneratedImage] = (),
        *,
        usage: dict[str, Any] | None = None,
        request_ids: Iterable[str] = (),
        created: int | None = None,
        elapsed: float | None = None,
        request: ImageRequest | None = None,
    ) -> None:
        self.images = list(images)
        super().__init__(img.image for img in self.images)
        self.usage = usage or {}
        self.request_ids = list(request_ids)
        self.created = created
        self.elapsed = elapsed
        self.request = request

    @property
    def files(self) -> list[Path]:
        """The images' paths in the history; held (see live.py) while this result lives, so pruning spares them."""
        return getattr(self, "_files", [])

    @files.setter
    def files(self, paths: Iterable[Path]) -> None:
        self._files = list(paths)
        live.hold(self, self._files)

    @property
    def partial(self) -> bool:
        """True when any image is a partial (the call did not complete)."""
        return any(img.partial for img in self.images)

    def __repr__(self) -> str:
        sizes = sorted({f"{shown.width}x{shown.height} {img.format}" for img, shown in zip(self.images, self)})
        model = f", {self.request.model}" if self.request is not None else ""
        state = ", partial" if self.partial else ", cached" if self.cached else ""
        plural = "s" if len(self) != 1 else ""
        return f"<ImageResult: {len(self)} image{plural}{': ' if sizes else ''}{', '.join(sizes)}{model}{state}>"

    def refine(self, prompt: str, **params: Any) -> ImageResult:
        """Refine image 0 as `prompt` says (`api=`, `index=` and the request's parameters by name); return the
        new step of the chain as an ImageResult. See imagemagic.refine."""
        return _refiner("refine")(self, prompt, **params)

    async def arefine(self, prompt: str, **params: Any) -> ImageResult:
        """The async twin of `refine`."""
        return await _refiner("arefine")(self, prompt, **params)

    def save(self, folder: str | PathLike[str], stem: str = "image") -> list[Path]:
        """Write each image's original bytes into `folder` as `<stem>-<n>.<format>`, never overwriting;
        return the paths."""
        return save_images([(f"{stem}-{img.index + 1}", img) for img in self.images], folder)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """In a notebook: a compact strip of thumbnails (one small PNG) and the one-line text form."""
        bundle = {"text/plain": repr(self)}
        if any(hasattr(shown, "thumbnail") for shown in self):  # PIL images (an SVG has no pixels to shrink)
            bundle["image/png"] = base64.b64encode(thumbnail_strip(self)).decode("ascii")
        return bundle


def save_images(named: Iterable[tuple[str, GeneratedImage]], folder: str | PathLike[str]) -> list[Path]:
    """Write each (stem, GeneratedImage) as its original bytes into `folder`, never overwriting; return the paths.

    A folder that cannot take them raises OSError with one line naming it and the reason."""
    folder = Path(folder).expanduser()
    paths = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
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
    except OSError as exc:
        done = f" ({len(paths)} written before)" if paths else ""
        raise OSError(f"could not save into {folder}: {exc.strerror or exc}{done}") from exc
    return paths


def add_usage(total: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    """Add one response's usage into a running total (nested token details included); a value that is no number
    is kept as it came, for usage.usage_problem to see."""
    for key, value in (usage or {}).items():
        if isinstance(value, dict):
            add_usage(total.setdefault(key, {}), value)
        elif not _number(total.get(key, 0)) or value is None:
            continue  # the first value that is no number stays
        elif _number(value):
            total[key] = total.get(key, 0) + value
        else:
            total[key] = value
    return total


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
