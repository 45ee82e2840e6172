"""History on disk: every final image is written, with its metadata, before it is shown.

Layout: `<home>/images/<YYYY-MM-DD>/<HHMMSS>-<call>-<n>.<ext>` plus a `.json` beside it holding
the prompt, every parameter, model, endpoint host, created, request id, usage and revised
prompt. Writes are atomic (temporary file, then rename). `<home>` is $IMAGEMAGIC_HOME or the
user data directory from platformdirs. No key is ever written: requests carry none.

The cache: `<home>/cache/<key>.json` lists the files of the last complete call for each request
key — a hash of the JSON body (prompt, model, every parameter) and the endpoint, where every
offline preview server counts as one endpoint, "offline" (its port changes per process). The
history is kept under a size cap by deleting the oldest images first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from .errors import ImageMagicError
from .result import GeneratedImage, ImageResult, add_usage, open_image

HOME_ENV = "IMAGEMAGIC_HOME"
DEFAULT_LIMIT_MB = 1024.0


def default_home():
    """$IMAGEMAGIC_HOME, else the platform's user data directory for imagemagic."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("imagemagic", appauthor=False))


def atomic_write(path, data):
    """Write bytes to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_key(request, endpoint):
    """The hash naming an identical request: body and endpoint ("offline" for any preview server)."""
    where = "offline" if endpoint.offline else [endpoint.base_url, endpoint.azure_api_version]
    text = json.dumps({"body": request.body(), "endpoint": where}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class HistoryStore:
    """The history folder. `saver(request, endpoint)` gives the callback that stores one call's images.

    `limit_mb` caps the images' total size: `prune()` deletes the oldest first.
    """

    def __init__(self, home=None, limit_mb=DEFAULT_LIMIT_MB):
        self.home = Path(home) if home else default_home()
        self.limit_mb = limit_mb

    def __repr__(self):
        return f"<HistoryStore {self.home}>"

    def saver(self, request, endpoint):
        """A callable storing each final image of one call; its `.paths` lists the files in slot order."""
        return _CallSaver(self, request, endpoint)

    def save(self, img, meta, stem):
        """Write one image and its metadata; return the image's path."""
        folder = self.home / "images" / time.strftime("%Y-%m-%d")
        path = folder / f"{stem}-{img.index + 1}.{img.format}"
        atomic_write(path, img.data)
        record = {
            **meta,
            "file": path.name,
            "index": img.index,
            "format": img.format,
            "request_id": img.request_id,
            "usage": img.usage,
            "revised_prompt": img.revised_prompt,
            "saved": time.time(),
        }
        atomic_write(path.with_suffix(".json"), json.dumps(record, indent=1, ensure_ascii=False).encode())
        return path

    def _cache_file(self, key):
        return self.home / "cache" / f"{key}.json"

    def remember(self, key, paths):
        """Record `paths` (a complete call's images, in order) as the answer to request `key`."""
        names = [str(Path(p).relative_to(self.home)) for p in paths]
        atomic_write(self._cache_file(key), json.dumps({"files": names}).encode())

    def cached(self, key):
        """The stored ImageResult for request `key` (marked `.cached`, with `.files` and the usage it
        was made with, which is not counted again), or None."""
        try:
            names = json.loads(self._cache_file(key).read_bytes())["files"]
            entries = [HistoryEntry(self.home / name) for name in names]
            result = ImageResult([entry.generated() for entry in entries], created=entries[0].meta.get("created"))
        except (OSError, ValueError, KeyError, TypeError, IndexError, ImageMagicError):
            return None  # never stored, pruned, or damaged: generate anew
        seen = set()
        for entry in entries:
            request_id = entry.meta.get("request_id")
            if request_id is None or request_id not in seen:  # images of one request share its usage
                add_usage(result.usage, entry.meta.get("usage"))
                result.request_ids += [request_id] if request_id else []
            seen.add(request_id)
        result.cached, result.files, result.cost = True, [e.path for e in entries], 0.0
        return result

    def entries(self, limit=None):
        """The `limit` most recent stored images (all when None) as HistoryEntry objects, newest first."""
        found = sorted(((p.stat().st_mtime, p) for p in (self.home / "images").glob("*/*.json")), reverse=True)
        entries = []
        for _, meta_path in found:
            if limit is not None and len(entries) >= limit:
                break
            try:
                meta = json.loads(meta_path.read_bytes())
                entries.append(HistoryEntry(meta_path.parent / meta["file"], meta))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged or foreign file: not an entry
        return entries

    def prune(self, keep=()):
        """Delete the oldest images (and their metadata) until the history fits `limit_mb`; never those in `keep`."""
        keep = {Path(p) for p in keep}
        files = sorted(
            (s.st_mtime, s.st_size, p)
            for p in (self.home / "images").glob("*/*")
            if not p.name.startswith(".")
            for s in (p.stat(),)
        )
        total = sum(size for _, size, _ in files)
        limit = self.limit_mb * 1024 * 1024
        for _, _, path in files:
            if total <= limit:
                break
            if path.suffix == ".json" or path in keep:
                continue
            for victim in (path, path.with_suffix(".json")):
                if victim.exists():
                    total -= victim.stat().st_size
                    victim.unlink()
        for folder in (self.home / "images").glob("*/"):
            if not any(folder.iterdir()):
                folder.rmdir()


class HistoryEntry:
    """One stored image: `path`, its metadata `meta` (prompt, parameters, model, endpoint, created,
    request id, usage, revised prompt) and `image`, a PIL image opened on first use."""

    def __init__(self, path, meta=None):
        self.path = Path(path)
        self._meta = meta
        self._image = None

    @property
    def meta(self):
        """The metadata written beside the image."""
        if self._meta is None:
            self._meta = json.loads(self.path.with_suffix(".json").read_bytes())
        return self._meta

    @property
    def prompt(self):
        """The prompt that made the image."""
        return self.meta["prompt"]

    @property
    def image(self):
        """The image as a lazily opened PIL image (pixels decode on first use)."""
        if self._image is None:
            self._image = open_image(self.path.read_bytes(), label=self.path.name)
        return self._image

    def generated(self):
        """The image as a GeneratedImage with its request's metadata, read from disk."""
        meta = self.meta
        return GeneratedImage.from_bytes(
            self.path.read_bytes(),
            index=meta["index"],
            request_id=meta.get("request_id"),
            usage=meta.get("usage"),
            revised_prompt=meta.get("revised_prompt"),
        )

    def thumbnail_png(self, size=160):
        """A small PNG of the image (at most `size` pixels a side), as base64 text."""
        thumb = self.image.copy()
        thumb.thumbnail((size, size))
        out = io.BytesIO()
        thumb.save(out, "PNG")
        return base64.b64encode(out.getvalue()).decode("ascii")

    def line(self):
        """One line: when, model, size, prompt (shortened), file name."""
        meta = self.meta
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.get("created", 0)))
        prompt = " ".join(self.prompt.split())
        prompt = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        size = meta.get("parameters", {}).get("size", "auto")
        return f"{when}  {meta.get('model')}  {size}  {prompt!r}  {self.path.name}"

    def __repr__(self):
        return f"<HistoryEntry {self.path.name}: {self.line()}>"


def history(limit=20, home=None):
    """The `limit` most recent stored images, newest first, as HistoryEntry objects (lazy PIL `.image`)."""
    return HistoryStore(home).entries(limit)


class _CallSaver:
    def __init__(self, store, request, endpoint):
        self.store = store
        self.stem = f"{time.strftime('%H%M%S')}-{secrets.token_hex(3)}"
        body = request.body()
        self.meta = {
            "prompt": request.prompt,
            "model": request.model,
            "parameters": {k: v for k, v in body.items() if k != "prompt"},
            "endpoint": endpoint.host,
            "created": int(time.time()),
        }
        self.by_slot = {}

    def __call__(self, img):
        self.by_slot[img.index] = self.store.save(img, self.meta, self.stem)

    @property
    def paths(self):
        return [self.by_slot[k] for k in sorted(self.by_slot)]
