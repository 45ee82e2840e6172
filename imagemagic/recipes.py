"""The recipe of any image we made: `recipe(x)` gives back the request the history recorded for it, and
`.cell()` the `%%imagegen` cell that makes it again.

`x` is a path (a history file, or any copy of one: found by its bytes' sha256 in the history index), a
PIL image or GeneratedImage we returned, a history entry, or raw bytes. An original is never rewritten:
OpenAI's images carry signed provenance (C2PA content credentials, in PNG a `caBX` chunk) that any change
would break, so the recipe lives in the `.json` beside the file and in the index. `.embed(folder)` writes a
copy with the recipe in PNG text chunks, and only of a PNG without such a chunk (it says why otherwise).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ValidationError
from .flags import SETTING_FLAGS
from .params import BY_NAME
from .request import Problem
from .result import GeneratedImage, save_images
from .store import HistoryEntry, HistoryStore


@dataclass(frozen=True)
class Recipe:
    """How one stored image was made: `prompt`, `model`, `parameters` (as sent, prompt aside), `operation`
    (generate or edit), `inputs` and `mask` of an edit (each {"sha256", "file"}), `chain` (the refinements it
    came from, oldest first, as the history records them; empty for a first generation), `file` (the image in
    the history), `sha256` of its bytes and `meta`, the whole record."""

    prompt: str
    model: str
    parameters: dict
    operation: str
    file: Path
    sha256: str
    inputs: tuple[dict, ...] = ()
    mask: dict | None = None
    chain: tuple[dict, ...] = ()
    meta: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, entry: HistoryEntry) -> Recipe:
        """The recipe a history entry records."""
        meta = entry.meta
        inputs = tuple(meta.get("inputs") or ())
        return cls(
            prompt=meta["prompt"],
            model=meta.get("model") or meta.get("parameters", {}).get("model", ""),
            parameters=dict(meta.get("parameters") or {}),
            operation="edit" if inputs else "generate",
            file=entry.path,
            sha256=meta.get("sha256", ""),
            inputs=inputs,
            mask=meta.get("mask"),
            chain=tuple(meta.get("chain") or ()),
            meta=meta,
        )

    def cell(self) -> str:
        """The `%%imagegen` cell that sends this request again: every parameter as a flag (those this release
        does not know as --extra; a Responses image's API as --api and --responses-model), an edit's inputs as
        --image/--mask files, the prompt as the body; written so nothing in it is expanded (--no-expand for the
        body, `$`, `{` and `}` doubled in the line)."""
        flags = ["%%imagegen"]
        for name, value in self.parameters.items():
            if name in ("images", "mask"):
                continue
            param = BY_NAME.get(name)
            if name in SETTING_FLAGS:  # the API it used, and a Responses call's mainline model
                flags += [f"--{name.replace('_', '-')}", _word(name, str(value))]
            elif param is None or not param.wire:
                flags += ["--extra", _word(name, f"{name}={json.dumps(value, separators=(',', ':'))}")]
            elif param.type is bool:
                flags.append(param.flag if value else f"--no-{param.flag[2:]}")
            else:
                flags += [param.flag, _word(name, str(value))]
        for number, item in enumerate(self.inputs, 1):
            flags += ["--image", _word("image", _located(item, f"input {number}"))]
        if self.mask:
            flags += ["--mask", _word("mask", _located(self.mask, "the mask"))]
        flags.append("--no-expand")
        line = " ".join(flags).replace("$", "$$").replace("{", "{{").replace("}", "}}")
        return f"{line}\n{self.prompt}"

    def __str__(self):
        return self.cell()

    def embed(self, folder: str | Path) -> Path:
        """Write a copy of the image into `folder` (never overwriting) with this recipe in PNG text chunks (iTXt
        `parameters`: the cell; `imagemagic`: the recipe as JSON), every other byte as received; return its path.
        The original is never touched. Refused, saying why, for an image with C2PA content credentials (a `caBX`
        chunk, whose signature a changed file breaks) and for formats other than PNG."""
        data = self.file.read_bytes()
        if not data.startswith(PNG_SIGNATURE):
            raise ValidationError([Problem("image", f"{self.file.name}: only PNG copies carry a recipe; it stays "
                                           "in the history (.json beside the image)")])  # fmt: skip
        if "caBX" in png_chunks(data):
            raise ValidationError([Problem("image", f"{self.file.name} carries C2PA content credentials (a caBX "
                                           "chunk) that a changed copy would break: kept as received; its recipe "
                                           "stays in the history (.json beside the image)")])  # fmt: skip
        text = {"parameters": self.cell(), "imagemagic": json.dumps(self.meta, ensure_ascii=False)}
        chunks = b"".join(_itxt(key, value) for key, value in text.items())
        end = data.rindex(b"IEND") - 4  # before the IEND chunk's length field
        copy = GeneratedImage.from_bytes(data[:end] + chunks + data[end:])
        return save_images([(f"{self.file.stem}-recipe", copy)], folder)[0]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[str]:
    """The chunk types of a PNG, in order."""
    types, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        types.append(data[at + 4 : at + 8].decode("latin-1"))
        at += 12 + length
    return types


def _itxt(key: str, text: str) -> bytes:
    body = key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")  # uncompressed, no language or translation
    return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))


def _word(name: str, text: str) -> str:
    """`text` as one word of the magic's line, which IPython splits at whitespace and keeps quotes in."""
    if text != shlex.quote(text) and any(c.isspace() or c in "'\"" for c in text):
        raise ValidationError(
            [Problem(name, f"{name}={text!r} cannot be written as a %%imagegen flag (spaces or quotes): "
                     "use imagemagic.generate(recipe.prompt, **recipe.parameters)")]
        )  # fmt: skip
    return text


def _located(item: dict, what: str) -> str:
    """The file of an edit's input: the one recorded if it still holds those bytes, else a history file that does."""
    recorded = item.get("file")
    if recorded and Path(recorded).is_file() and _sha256(Path(recorded).read_bytes()) == item.get("sha256"):
        return str(recorded)
    entry = find(item.get("sha256", ""))
    if entry is None:
        digest = str(item.get("sha256", ""))[:12]
        raise ValidationError(
            [Problem("image", f"{what} (sha256 {digest}…) is in no file we know: the cell cannot name it")]
        )
    return str(entry.path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find(sha256: str, store: HistoryStore | None = None) -> HistoryEntry | None:
    """The newest history entry whose image has these bytes (by sha256), or None."""
    store = store or HistoryStore()
    if not sha256 or not (store.home / "images").is_dir():
        return None
    query = "SELECT file, meta FROM entries WHERE json_extract(meta, '$.sha256') = ? ORDER BY saved DESC LIMIT 1"
    rows = store.index.run(lambda db: db.execute(query, (sha256,)).fetchall(), in_memory=True)
    return HistoryEntry(store.home / rows[0][0], json.loads(rows[0][1])) if rows else None


def _entry(x: Any, store: HistoryStore) -> HistoryEntry | None:
    if isinstance(x, HistoryEntry):
        return x
    generated = getattr(x, "info", {}).get("imagemagic") if hasattr(x, "info") else None
    x = generated or x
    if hasattr(x, "file") and hasattr(x, "data"):  # a GeneratedImage: its history file, else its bytes
        if x.file and Path(x.file).with_suffix(".json").is_file():
            return HistoryEntry(Path(x.file))
        return find(_sha256(x.data), store)
    if isinstance(x, (bytes, bytearray)):
        return find(_sha256(bytes(x)), store)
    if isinstance(x, (str, Path)):
        path = Path(x).expanduser()
        if not path.is_file():
            path = _in_history(path.name, store) or path
        if not path.is_file():
            raise ValidationError([Problem("image", f"{x}: no such file, and no history image of that name")])
        data = path.read_bytes()
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            entry = HistoryEntry(path)
            if entry.meta.get("sha256") == _sha256(data):
                return entry
        return find(_sha256(data), store)
    raise ValidationError(
        [
            Problem(
                "image",
                f"a value of type {type(x).__name__} has no recipe: give a path, a PIL image or image we returned, "
                "a history entry, or the image's bytes",
            )
        ]
    )


def _in_history(name: str, store: HistoryStore) -> Path | None:
    """A history image named `name` (e.g. 142501-a1b2c3-1.png), the newest if several days hold one."""
    folder = store.home / "images"
    found = sorted(folder.glob(f"*/{name}")) if name and folder.is_dir() else []
    return found[-1] if found else None


def recipe(x: Any, *, store: HistoryStore | None = None) -> Recipe:
    """The recipe of an image we made: its request (parameters, prompt, inputs by hash and file, the chain of
    refinements) and `.cell()`, the `%%imagegen` cell that makes it again.

    `x`: a path (a history file or any copy of one, found by its bytes), a PIL image or GeneratedImage we
    returned (an element of an ImageResult), a history entry, or the image's bytes. Raises ValidationError
    when the history holds no such image."""
    store = store or HistoryStore()
    entry = _entry(x, store)
    if entry is None:
        raise ValidationError(
            [Problem("image", "no recipe: the history holds no image with these bytes (made elsewhere, or pruned)")]
        )
    return Recipe.of(entry)
