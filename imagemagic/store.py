"""History on disk: every final image is written, with its metadata, before it is shown.

Layout: `<home>/images/<YYYY-MM-DD>/<HHMMSS>-<call>-<n>.<ext>` plus a `.json` beside it holding
the prompt, every parameter, model, endpoint host, created, request id, usage and revised
prompt. Writes are atomic (temporary file, then rename). `<home>` is $IMAGEMAGIC_HOME or the
user data directory from platformdirs. No key is ever written: requests carry none.

The metadata also keeps each image's size and sha256, so a damaged file is never served, and
`<home>/index.sqlite3` indexes it all for history queries and pruning (see history_index).

The cache: `<home>/cache/<key>.json` lists the files of the last complete call for each request
key — a hash of the JSON body (prompt, model, every parameter), the endpoint (every offline preview
server counts as one, "offline": its port changes per process) and the account (a salted one-way
hash of key, organization and project: another account's images are not ours to show). The
history is kept under a size cap by deleting the oldest images first, never those of the current
call, never those a live result or sweep run of this process holds (live.py), never those of a
batch job not yet exported (`protected_runs`), and never any younger than a grace period (another
kernel may have just returned them). A result whose file is gone anyway says so in one line.
A history that cannot be written never costs the caller an image: the saver says so in one line.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import history_index, live, spool
from .errors import ImageDataError, ImageMagicError, Problem, ValidationError, quoted
from .history_index import HistoryIndex
from .imaging import thumbnail_strip
from .result import GeneratedImage, ImageResult, add_usage, open_image
from .spool import FileSpool, MemorySpool

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .request import ImageRequest
    from .responses_request import ResponsesRequest

HOME_ENV = "IMAGEMAGIC_HOME"
DEFAULT_LIMIT_MB = 1024.0
GRACE_S = 60.0  # prune never deletes an image younger than this: another process may have just returned it
ACCOUNT_SALT = b"imagemagic cache account v1\0"


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


def _fsync(path):
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def account_hash(endpoint) -> str:
    """A salted one-way hash of the endpoint's key, organization and project: who is asking, never the key."""
    who = json.dumps([endpoint.api_key, endpoint.organization, endpoint.project]).encode()
    return hashlib.sha256(ACCOUNT_SALT + who).hexdigest()


def cache_key(request, endpoint) -> str:
    """The hash naming an identical request: body, endpoint ("offline" for any preview server) and account."""
    where = "offline" if endpoint.offline else [endpoint.base_url, endpoint.azure_api_version]
    text = json.dumps(
        {"body": request.body(), "endpoint": where, "account": account_hash(endpoint)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


_SWEPT: set[Path] = set()  # the history folders whose stale spools this process swept


class HistoryStore:
    """The history folder. `saver(request, endpoint)` gives the callback that stores one call's images.

    `limit_mb` caps the images' total size (incoming spools counted): `prune()` deletes the oldest first,
    sparing images younger than `grace_s` seconds.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        limit_mb: float = DEFAULT_LIMIT_MB,
        grace_s: float | None = None,
    ) -> None:
        self.home = Path(home) if home else default_home()
        self.limit_mb = limit_mb
        self.grace_s = GRACE_S if grace_s is None else grace_s
        self.index = HistoryIndex(self.home)

    def __repr__(self):
        return f"<HistoryStore {self.home}>"

    def saver(
        self, request: ImageRequest | ResponsesRequest, endpoint: Endpoint, meta: Mapping[str, Any] | None = None
    ) -> _CallSaver:
        """A callable storing each final image of one call; its `.paths` lists the files in slot order and
        `.failure` the one line saying which could not be stored. `meta` adds keys to every image's
        metadata, e.g. {"run": <sweep or batch id>} for history(run=...). The first in a process sweeps away
        the spools a killed process left (spool.sweep)."""
        if self.home not in _SWEPT:
            _SWEPT.add(self.home)
            spool.sweep(self.home / "images")
        return _CallSaver(self, request, endpoint, meta)

    def save(self, img: GeneratedImage, meta: Mapping[str, Any], stem: str) -> Path:
        """Write one image and its metadata, and index it; return the image's path. Raises OSError."""
        path = self.folder() / f"{stem}-{img.index + 1}.{img.format}"
        spooled = img.spooled
        if spooled is not None:  # decoded straight into a file here: made durable and renamed, never copied
            _fsync(spooled)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(spooled, path)
            img.moved_to(path)
        else:
            atomic_write(path, img.data)
        record = {
            **meta,
            "file": path.name,
            "index": img.index,
            "format": img.format,
            "request_id": img.request_id,
            "usage": img.usage,
            "revised_prompt": img.revised_prompt,
            "response_id": img.response_id,
            "image_call_id": img.image_call_id,
            "bytes": img.nbytes,
            "sha256": img.sha256,
            "saved": time.time(),
        }
        text = json.dumps(record, indent=1, ensure_ascii=False).encode()
        try:
            atomic_write(path.with_suffix(".json"), text)
        except BaseException:
            if spooled is not None:  # no image without its metadata: the bytes go back where the image reads them
                os.replace(path, spooled)
                img.moved_to(spooled)
                img.file = None
            else:
                path.unlink(missing_ok=True)
            raise
        self.index.add(str(path.relative_to(self.home)), record, img.nbytes + len(text))
        return path

    def refusal(self, saver: _CallSaver, error: Exception) -> Path | None:
        """Record a call the provider's moderation refused: the call's metadata and the refusal's line, no image
        (`{stem}-refused.json` beside the images). Returns its path, or None when the folder cannot be written."""
        path = self.folder() / f"{saver.stem}-refused.json"
        record = {**saver.meta, "refused": str(error), "billed": False, "saved": time.time()}
        try:
            atomic_write(path, json.dumps(record, indent=1, ensure_ascii=False).encode())
        except OSError:
            return None
        return path

    def folder(self) -> Path:
        """Today's folder of images (incoming images are decoded in spool.incoming beside it, then renamed here)."""
        return self.home / "images" / time.strftime("%Y-%m-%d")

    def reference(self, path: str | os.PathLike[str] | None) -> str | None:
        """How the history's metadata names the image at `path`: relative to the history folder when inside it."""
        if path is None:
            return None
        path = Path(path)
        try:
            return str(path.relative_to(self.home))
        except ValueError:
            return str(path)

    def _cache_file(self, key):
        return self.home / "cache" / f"{key}.json"

    def remember(self, key: str, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Record `paths` (a complete call's images, in order) as the answer to request `key`; a folder
        that cannot be written only means no cache."""
        names = [str(Path(p).relative_to(self.home)) for p in paths]
        try:
            atomic_write(self._cache_file(key), json.dumps({"files": names}).encode())
        except OSError:
            pass

    def cached(self, key: str) -> ImageResult | None:
        """The stored ImageResult for request `key` (marked `.cached`, with `.files` and the usage it
        was made with, which is not counted again), or None when any image is missing or damaged."""
        try:
            names = json.loads(self._cache_file(key).read_bytes())["files"]
            entries = [HistoryEntry(self.home / name) for name in names]
            if [e.meta["index"] for e in entries] != list(range(entries[0].meta["count"])):
                return None  # not every image of that call was stored
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

    def entries(
        self,
        limit: int | None = None,
        *,
        prompt: str | None = None,
        model: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        run: str | None = None,
        chain: Any = None,
    ) -> list[HistoryEntry]:
        """The `limit` most recent stored images (all when None) that match, as HistoryEntry objects,
        newest first. See `history` for the filters; `chain` gives that image's chain instead."""
        if chain is not None:
            return self.entry(chain).chain()
        filters = _filters(limit, prompt, model, since, until, run)
        if not (self.home / "images").is_dir():
            return []
        rows = self.index.run(lambda db: history_index.select(db, **filters), in_memory=True)
        return [HistoryEntry(self.home / file, json.loads(meta)) for file, meta in rows]

    def entry(self, source: Any) -> HistoryEntry:
        """The HistoryEntry of `source`: an entry, an ImageResult or image from the history (its first stored
        file), or a path (absolute, or as the metadata names it). ValidationError when it is none of these."""
        if isinstance(source, HistoryEntry):
            return source
        files = getattr(source, "files", None) or ([source.file] if getattr(source, "file", None) else [])
        path = files[0] if files else source if isinstance(source, (str, Path)) else None
        if path is not None:
            path = Path(path) if Path(path).is_absolute() else self.home / path
            if path.with_suffix(".json").is_file():
                return HistoryEntry(path)
        raise ValidationError(
            [Problem("chain", f"{_short(source)} is not an image in the history: give a history entry or a result")]
        )

    def prune(self, keep: Iterable[str | os.PathLike[str]] = ()) -> None:
        """Delete the oldest images (and their metadata) until the history fits `limit_mb`; never those in
        `keep` or held by a live result (live.py), nor those of a batch job not yet exported
        (`protected_runs`), nor any younger than `grace_s`. Never raises: what cannot be deleted now is
        left for later."""
        keep = live.held() | {live.path_key(p) for p in keep}
        try:
            gone = self.index.run(lambda db: self._prune(db, keep))
        except (sqlite3.Error, OSError):
            return
        for folder in {(self.home / file).parent for file in gone}:
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty, or already gone

    def _prune(self, db, keep):
        excess = history_index.total(db) + spool.spooled_bytes(self.home / "images") - self.limit_mb * 1024 * 1024
        gone = []
        young = time.time() - self.grace_s
        protected = protected_runs(self.home) if excess > 0 else set()
        candidates = history_index.oldest(db) if excess > 0 else ()
        for file, footprint, run in candidates:
            if excess <= 0:
                break
            path = self.home / file
            try:
                if run in protected or live.path_key(path) in keep or path.stat().st_mtime > young:
                    continue
                path.unlink()
            except FileNotFoundError:
                pass  # another process deleted it: only its row is left to drop
            except OSError:
                continue
            path.with_suffix(".json").unlink(missing_ok=True)
            excess -= footprint
            gone.append(file)
        if gone:
            candidates.close()
            history_index.remove(db, gone)
        return gone


def protected_runs(home) -> set[str]:
    """The ids of the batch jobs whose images pruning must spare: every job recorded under
    `<home>/batches/<id>/job.json` until its record says `"exported": true` (a record that cannot be read
    protects its job too). Deleting a job's folder releases its images."""
    found = set()
    for record in Path(home, "batches").glob("*/job.json"):
        try:
            if json.loads(record.read_bytes()).get("exported") is True:
                continue
        except (OSError, ValueError, AttributeError):
            pass
        found.add(record.parent.name)
    return found


def gone_line(path) -> str:
    """The one line for a history file that is no longer there."""
    return (
        f"{Path(path).name} is no longer in the history (deleted by the history size cap or by hand); "
        "raise history_limit_mb to keep more, and generate it again"
    )


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
            self._meta = json.loads(self._read(self.path.with_suffix(".json")))
        return self._meta

    def _read(self, path):
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise ImageDataError(gone_line(self.path)) from exc

    @property
    def prompt(self):
        """The prompt that made the image."""
        return self.meta["prompt"]

    @property
    def image(self):
        """The image as a lazily opened PIL image (pixels decode on first use)."""
        if self._image is None:
            self._image = open_image(self._read(self.path), label=self.path.name)
        return self._image

    def generated(self):
        """The image as a GeneratedImage with its request's metadata, read from disk; ImageDataError when
        the file's size or sha256 is not the one recorded (truncated or damaged)."""
        meta = self.meta
        data = self._read(self.path)
        if len(data) != meta.get("bytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise ImageDataError(f"{self.path.name} is not the image that was stored (damaged or truncated)")
        return GeneratedImage.from_bytes(
            data,
            index=meta["index"],
            request_id=meta.get("request_id"),
            usage=meta.get("usage"),
            revised_prompt=meta.get("revised_prompt"),
            file=self.path,
            response_id=meta.get("response_id"),
            image_call_id=meta.get("image_call_id"),
        )

    @property
    def parent(self):
        """The entry this image refined (a chain's earlier step), or None for a first image or a pruned parent."""
        ref = self.meta.get("parent")
        if not ref:
            return None
        path = Path(ref) if Path(ref).is_absolute() else self.path.parents[2] / ref  # <home>/images/<day>/<file>
        return HistoryEntry(path) if path.with_suffix(".json").is_file() else None

    def chain(self):
        """The steps from the first image to this one, as a Chain (shown as a strip of its steps)."""
        steps, seen, entry = [], set(), self
        while entry is not None and entry.path not in seen:
            seen.add(entry.path)
            steps.append(entry)
            entry = entry.parent
        return Chain(reversed(steps))

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


Moment = datetime | date | str | float  # a point in time as history filters take it


class Chain(list):
    """The steps of a chain of refinements, first image first: HistoryEntry objects, each with its parent,
    response id and image-call id in `.meta`. In a notebook: a strip of the steps' thumbnails."""

    def __repr__(self):
        return f"<Chain of {len(self)} step{'s' if len(self) != 1 else ''}>"

    def lines(self):
        """One line per step: its number, API, response id and prompt."""
        return [
            f"{n}. {e.meta.get('parameters', {}).get('api', 'images')}  {e.meta.get('response_id') or '-'}  "
            f"{' '.join(e.prompt.split())[:60]!r}"
            for n, e in enumerate(self, 1)
        ]

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = "\n".join([repr(self), *self.lines()])
        return {"text/plain": text, "image/png": base64.b64encode(thumbnail_strip([e.image for e in self])).decode()}


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _moment(name, value, end_of_day=False):
    """A Unix time from a datetime, a date (its start, or with `end_of_day` its end), ISO text or a number."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=end_of_day), datetime.min.time()).timestamp()
    allowed = "a datetime, a date, ISO text such as '2026-11-05' or '2026-11-05T14:30', or a Unix time"
    raise ValidationError([Problem(name, f"{name}={quoted(value)} is not a moment: use {allowed}")])


def _filters(limit, prompt, model, since, until, run):
    for name, value in (("prompt", prompt), ("model", model), ("run", run)):
        if value is not None and not isinstance(value, str):
            raise ValidationError([Problem(name, f"{name}={quoted(value)} is not text: give a string")])
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError(
            [Problem("limit", f"limit={quoted(limit)} is not a count: give a whole number >= 0 or None")]
        )
    since, until = _moment("since", since), _moment("until", until, end_of_day=True)
    return {"limit": limit, "prompt": prompt, "model": model, "since": since, "until": until, "run": run}


def history(
    limit: int | None = 20,
    home: str | os.PathLike[str] | None = None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    run: str | None = None,
    chain: Any = None,
) -> list[HistoryEntry]:
    """The `limit` most recent stored images (all when None), newest first, as HistoryEntry objects (lazy
    PIL `.image`). Filters: `prompt` text it contains (any case), `model`, `since`/`until` when it was
    saved (datetime, date, ISO text or Unix time; a date `until` includes that day), `run` the sweep or
    batch id it was stored with. `chain=` an entry or a result: its chain of refinements instead, first
    image first (a Chain)."""
    store = HistoryStore(home)
    return store.entries(limit, prompt=prompt, model=model, since=since, until=until, run=run, chain=chain)


class _CallSaver:
    """Stores each final image of one call. A failed write does not raise: the image stays in the
    result, and `failure` says in one line how many could not be stored and why."""

    def __init__(self, store, request, endpoint, meta=None):
        self.store = store
        self.stem = f"{time.strftime('%H%M%S')}-{secrets.token_hex(3)}"
        body = request.body()
        self.meta = {
            **(meta or {}),
            "prompt": request.prompt,
            "model": request.model,
            "parameters": {k: v for k, v in body.items() if k != "prompt"},
            "endpoint": endpoint.host,
            "created": int(time.time()),
            "count": request.count,
        }
        self.by_slot = {}
        self.failed = 0
        self.reason = None

    def __call__(self, img):
        try:
            self.by_slot[img.index] = self.store.save(img, self.meta, self.stem)
            live.hold(self, self.by_slot.values())  # spared while the call is still running
        except OSError as exc:
            self.failed += 1
            self.reason = exc.strerror or str(exc)

    def spool(self) -> FileSpool | MemorySpool:
        """Where the client decodes an incoming image: a file in the history folder (stored by renaming it),
        or memory when the folder cannot be written (the image is then kept in the result, and the failure
        line says it could not be stored)."""
        if self.reason is None:
            try:
                return FileSpool(spool.incoming(self.store.home / "images"))
            except OSError as exc:
                self.reason = exc.strerror or str(exc)
        return MemorySpool()

    @property
    def paths(self):
        return [self.by_slot[k] for k in sorted(self.by_slot)]

    @property
    def failure(self):
        """None, or one line: how many images could not be stored in the history, and why."""
        if not self.failed:
            return None
        many = self.failed != 1
        what = f"{self.failed} image{'s' if many else ''}"
        keep = f"{'they are' if many else 'it is'} in the result only: keep {'them' if many else 'it'} with .save(path)"
        return f"could not save {what} to the history ({self.store.home}): {self.reason}; {keep}"
