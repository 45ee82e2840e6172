"""InputImage, one input image of an edit (its bytes, name and origin), and the rules the API sets on the
input images and the mask. Pure data: turning what a user hands over into InputImages is inputs.py's job."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ImageDataError, Problem
from .imaging import open_image, sniff_format

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_IMAGES = 16
MAX_BYTES = 50 * 1024 * 1024
FORMATS = ("png", "webp", "jpeg")
MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg", "gif": "image/gif"}


@dataclass(frozen=True, eq=False)
class InputImage:
    """One input image: its bytes, a file name, and where it came from (`file`: a path or history file)."""

    data: bytes = field(repr=False)
    name: str = "image"
    file: str | None = None

    @cached_property
    def format(self) -> str | None:
        """png, jpeg, webp or gif from the bytes themselves; None when they are none of these."""
        return sniff_format(self.data[:16])

    @property
    def mime(self) -> str:
        """The MIME type the file part carries."""
        return MIME.get(self.format or "", "application/octet-stream")

    @property
    def filename(self) -> str:
        """The file name sent with it, with the extension of its real format."""
        return f"{Path(self.name).stem or 'image'}.{'jpg' if self.format == 'jpeg' else self.format or 'bin'}"

    @cached_property
    def sha256(self) -> str:
        """The hash identifying these bytes (cache key, history)."""
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def pil(self) -> Image | None:
        """The image opened lazily (None when PIL cannot read it)."""
        try:
            return open_image(self.data, label=self.name)
        except ImageDataError:
            return None

    def identity(self) -> dict:
        """What the history records of this input: its hash and, when known, its file."""
        return {"sha256": self.sha256, "file": self.file}

    def __repr__(self):
        return f"<InputImage {self.filename} {len(self.data):,} bytes>"


def input_problems(images: Sequence[InputImage], mask: InputImage | None) -> list[Problem]:
    """Every rule the inputs break: count, format, size of each image; the mask's format, alpha and size."""
    found: list[Problem] = []
    if not images:
        found.append(Problem("image", "an edit needs at least one input image: give image= (or --image NAME)"))
    if len(images) > MAX_IMAGES:
        found.append(Problem("image", f"{len(images)} input images; an edit takes at most {MAX_IMAGES}"))
    for number, img in enumerate(images, 1):
        label = f"image {number} ({img.filename})"
        if img.format not in FORMATS:
            kind = img.format or "not an image"
            found.append(Problem("image", f"{label} is {kind}: each input image must be png, webp or jpeg"))
        elif img.pil is None:
            found.append(Problem("image", f"{label} could not be read as an image (damaged, or too many pixels)"))
        if len(img.data) >= MAX_BYTES:
            found.append(Problem("image", f"{label} is {len(img.data) / 2**20:.1f} MB: each must be under 50 MB"))
    if mask is not None:
        found += _mask_problems(mask, images[0] if images else None)
    return found


def _mask_problems(mask: InputImage, first: InputImage | None) -> list[Problem]:
    hint = "(imagemagic.mask_from makes one)"
    if mask.format != "png" or mask.pil is None:
        return [Problem("mask", f"the mask is {mask.format or 'not an image'}: it must be a PNG with alpha {hint}")]
    if "A" not in mask.pil.getbands() and "transparency" not in mask.pil.info:
        return [Problem("mask", f"the mask has no alpha channel: transparent pixels mark what to edit {hint}")]
    if first is not None and first.pil is not None and mask.pil.size != first.pil.size:
        (w, h), (fw, fh) = mask.pil.size, first.pil.size
        return [Problem("mask", f"the mask is {w}x{h} but the first image is {fw}x{fh}: they must be the same size")]
    return []
