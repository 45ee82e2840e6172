"""The Files and Batch APIs of the local server, as OpenAI serves them for image batches.

POST/GET /v1/files, GET/DELETE /v1/files/{file_id}, GET /v1/files/{file_id}/content;
POST/GET /v1/batches, GET /v1/batches/{batch_id}, POST /v1/batches/{batch_id}/cancel.
Files and batches live in `folder` (the history folder's `server/` for the kernel's own server, so
the next kernel's server finishes a job this one started; a temporary folder otherwise): uploads up
to 200 MiB each, arriving at MIN_UPLOAD_RATE on average after the read timeout, and MAX_STORED bytes
in all. A batch checks its input file as the API does (status `failed` with `errors` when a line is
wrong), then answers its lines one at a time in the background, through the same judgement and
preview engine as /v1/images/generations, paced at `batch_delay` seconds per request, in a seeded
shuffled order (clients match lines by custom_id). Each answer goes straight to the output or error
file on disk, and the batch's state is written after each one: a server started on the same folder
resumes it where it stopped (a lock keeps two live servers from running one batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import random
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..catalog import DEFAULT_MODEL
from ..edits import FormError, read_json
from .app import complete, judge
from .shared import MAX_BODY, MULTIPART, error, limited_body, takes

DELAY_ENV = "IMAGEMAGIC_BATCH_DELAY"
MAX_UPLOAD = 200 * 1024 * 1024  # bytes in one uploaded file
MAX_STORED = 2 * 1024 * 1024 * 1024  # bytes of all files kept at once
MIN_UPLOAD_RATE = 256 * 1024  # bytes per second an upload must average once the read timeout has passed
MAX_LINES = 50_000  # requests in one batch
MAX_ERRORS = 100  # validation errors reported for one input file
COMPLETION_WINDOW = 24 * 3600  # seconds: "24h", the only window the API offers
SHUFFLE_SEED = 20240415  # output order is shuffled, the same way every run
_MULTIPART_SLACK = 64 * 1024  # bytes of form framing allowed beyond MAX_UPLOAD


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")  # an id that may name a file in the folder


def _new_id(prefix):
    return f"{prefix}{secrets.token_hex(12)}"


class Batches:
    """The server's files and batch jobs, kept in `folder` (None: a temporary one), run as asyncio tasks."""

    def __init__(self, delay: float | None = None, folder: Path | None = None, max_stored: int | None = None):
        self.delay = float(os.environ.get(DELAY_ENV, "0") or 0) if delay is None else delay
        self.window = COMPLETION_WINDOW
        self.max_stored = MAX_STORED if max_stored is None else max_stored
        self._temporary = tempfile.TemporaryDirectory(prefix="imagemagic-files-") if folder is None else None
        self.folder = Path(self._temporary.name) if self._temporary else Path(folder or ".")
        (self.folder / "batches").mkdir(parents=True, exist_ok=True)
        (self.folder / "files").mkdir(exist_ok=True)
        self.files = _load(self.folder / "files")  # file id -> OpenAIFile object, oldest first
        self.jobs = _load(self.folder / "batches")  # batch id -> Batch object, oldest first
        self.inflight = 0  # bytes of uploads still arriving
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, Any] = {}  # batch id -> the open lock file of a batch this server runs

    def path(self, file_id: str) -> Path:
        """Where the bytes of a file live."""
        return self.folder / "files" / file_id

    def room(self) -> int:
        """Bytes that may still be stored."""
        return self.max_stored - self.inflight - sum(f["bytes"] for f in self.files.values())

    def add_file(self, file_id: str, filename: str, purpose: str) -> dict:
        """Register a file already written at `path(file_id)`; return its OpenAIFile object."""
        info = {
            "id": file_id,
            "object": "file",
            "bytes": self.path(file_id).stat().st_size,
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.files[file_id] = info
        _keep(self.folder / "files" / f"{file_id}.json", info)
        return info

    def forget_file(self, file_id: str) -> None:
        """Remove a file and its record."""
        del self.files[file_id]
        self.path(file_id).unlink(missing_ok=True)
        (self.folder / "files" / f"{file_id}.json").unlink(missing_ok=True)

    def save(self, batch: dict) -> None:
        """Write a batch's state (after each change: a server started later reads it)."""
        self.jobs[batch["id"]] = batch
        _keep(self.folder / "batches" / f"{batch['id']}.json", batch)

    def current(self, batch_id: str) -> dict | None:
        """A batch as it stands: from memory when this server runs it, else as last written by its runner
        (another server on the same folder may have created it)."""
        if batch_id not in self._running and _SAFE_ID.fullmatch(batch_id):
            with contextlib.suppress(OSError, ValueError):
                self.jobs[batch_id] = json.loads((self.folder / "batches" / f"{batch_id}.json").read_bytes())
        return self.jobs.get(batch_id)

    def file(self, file_id: str) -> dict | None:
        """A file's OpenAIFile object (another server on the same folder may have written it)."""
        if file_id not in self.files and _SAFE_ID.fullmatch(file_id):
            with contextlib.suppress(OSError, ValueError):
                self.files[file_id] = json.loads((self.folder / "files" / f"{file_id}.json").read_bytes())
        return self.files.get(file_id)

    def resume(self, request: Request) -> None:
        """Carry on every unfinished batch of the folder that no live server runs (its runner may have died)."""
        for batch_id in [b for b in self.jobs if b not in self._running]:
            batch = self.current(batch_id)
            if batch is not None and batch["status"] not in ("completed", "failed", "expired", "cancelled"):
                self.start(batch, request)

    def start(self, batch: dict, request: Request) -> None:
        """Run a batch in the background on the server's loop (unless a live server already runs it)."""
        lock = open(self.folder / "batches" / f"{batch['id']}.lock", "a")  # noqa: SIM115 - held while it runs
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return
        self._running[batch["id"]] = lock
        self.save(batch)
        task = asyncio.get_running_loop().create_task(self._run(batch, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch, request):
        try:
            await self._process(batch, request)
        except Exception as exc:  # a background task has nobody to raise to: the batch says what happened
            message = f"The batch stopped on a server error ({type(exc).__name__})."
            batch.update(
                status="failed", failed_at=int(time.time()), errors=_errors([_problem("server_error", message)])
            )
        finally:
            self.save(batch)
            self._running.pop(batch["id"]).close()

    async def _process(self, batch, request):
        source = self.path(batch["input_file_id"])
        offsets, model, problems = await run_in_threadpool(read_input, source, batch["endpoint"])
        if problems:
            batch.update(status="failed", failed_at=int(time.time()), errors=_errors(problems))
            return
        if model is not None:
            batch["model"] = model
        counts = batch["request_counts"] = {"total": len(offsets), "completed": 0, "failed": 0}
        if batch["status"] == "validating":
            batch.update(status="in_progress", in_progress_at=int(time.time()))
        random.Random(SHUFFLE_SEED).shuffle(offsets)
        names = {"output": f"file-out-{batch['id']}", "error": f"file-err-{batch['id']}"}
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        answered = _answered([self.path(names[kind]) for kind in ("output", "error")], counts, usage)
        with (
            open(source, "rb") as lines,
            open(self.path(names["output"]), "ab") as out,
            open(self.path(names["error"]), "ab") as err,
        ):
            for offset in offsets:
                if batch["status"] == "cancelling":
                    break
                lines.seek(offset)
                line = json.loads(lines.readline())
                if line["custom_id"] in answered:
                    continue  # answered before this server (re)started
                record = await self._answer_line(batch, line, request)
                ok = record["response"] is not None and record["response"]["status_code"] == 200
                (out if ok else err).write(_jsonl(record))
                (out if ok else err).flush()
                counts["completed" if ok else "failed"] += 1
                for key in usage if ok else ():
                    usage[key] += record["response"]["body"].get("usage", {}).get(key, 0)
                self.save(batch)
        self._finish(batch, names, counts, usage)

    async def _answer_line(self, batch, line, request):
        """The output record of one input line; past the batch's expiry, a `batch_expired` error."""
        record = {"id": _new_id("batch_req_"), "custom_id": line["custom_id"], "response": None, "error": None}
        if time.time() >= batch["expires_at"]:
            batch["status"] = "expired"
            record["error"] = {"code": "batch_expired", "message": _EXPIRED}
            return record
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body = await answer(batch["endpoint"], line["body"], request)
        record["response"] = {"status_code": status, "request_id": _new_id("req_"), "body": body}
        return record

    def _finish(self, batch, names, counts, usage):
        now = int(time.time())
        ending = {"cancelling": "cancelled", "expired": "expired"}.get(batch["status"], "completed")
        if ending == "completed":
            batch.update(status="finalizing", finalizing_at=now)
        for kind, kept in (("output", counts["completed"]), ("error", counts["failed"])):
            if kept:
                self.add_file(names[kind], f"{batch['id']}_{kind}.jsonl", "batch_output")
                batch[f"{kind}_file_id"] = names[kind]
            else:
                self.path(names[kind]).unlink()
        batch["usage"] = {
            **usage,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        batch.update({"status": ending, f"{ending}_at": int(time.time())})


_EXPIRED = "This request could not be executed before the completion window expired."


def _jsonl(record):
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _keep(path: Path, data: dict) -> None:
    """Write JSON `data` to `path` atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(json.dumps(data, separators=(",", ":")).encode())
    os.replace(tmp, path)


def _load(folder: Path) -> dict:
    """id -> object of every `<id>.json` kept in `folder`, oldest first (an unreadable one is skipped)."""
    found = []
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_bytes()))
    return {item["id"]: item for item in sorted(found, key=lambda item: item.get("created_at", 0))}


def _answered(paths, counts, usage) -> set:
    """custom_ids already answered in these output/error files (a resumed batch), counted into `counts`/`usage`."""
    done = set()
    for path in paths:
        if not path.exists():
            continue
        with open(path, "r+b") as lines:
            for raw in iter(lines.readline, b""):
                if not raw.endswith(b"\n"):  # cut short by a kill: dropped, and answered again
                    lines.truncate(lines.tell() - len(raw))
                    break
                record = json.loads(raw)
                done.add(record["custom_id"])
                ok = (record.get("response") or {}).get("status_code") == 200
                counts["completed" if ok else "failed"] += 1
                for key in usage if ok else ():
                    usage[key] += record["response"]["body"].get("usage", {}).get(key, 0)
    return done


def _problem(code, message, line=None, param=None):
    return {"code": code, "message": message, "param": param, "line": line}


def _errors(problems):
    return {"object": "list", "data": problems}


def read_input(path: Path, endpoint: str) -> tuple[list[int], str | None, list[dict]]:
    """Check a batch input file as the API does: (byte offset of each request line, the model, problems)."""
    offsets: list[int] = []
    seen: set[str] = set()
    model, problems = None, []
    with open(path, "rb") as lines:
        offset = 0
        for number, raw in enumerate(lines, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            problem = _line_problem(line, endpoint, seen)
            if problem is None:
                line_model = line["body"].get("model", DEFAULT_MODEL)
                model = line_model if model is None else model
                if line_model != model:
                    problem = ("model_mismatch", _MODEL_MISMATCH, "body.model")
            if problem is not None:
                problems.append(_problem(problem[0], problem[1], number, problem[2]))
                if len(problems) >= MAX_ERRORS:
                    break
                continue
            seen.add(line["custom_id"])
            offsets.append(start)
            if len(offsets) > MAX_LINES:
                return [], None, [_problem("too_many_tasks", f"The input file has more than {MAX_LINES} requests.")]
    if not offsets and not problems:
        problems.append(_problem("empty_file", "The input file has no requests."))
    return offsets, model if isinstance(model, str) else None, problems


_MODEL_MISMATCH = "This line's model differs from the first line's: a batch takes one model."


def _line_problem(line, endpoint, seen):
    """(code, message, param) of what is wrong with one parsed input line, or None."""
    if not isinstance(line, dict):
        return ("invalid_json_line", "This line is not parseable as a JSON object.", None)
    for name, kind in (("custom_id", str), ("method", str), ("url", str), ("body", dict)):
        if name not in line:
            return ("missing_required_parameter", f"Missing required parameter: '{name}'.", name)
        if not isinstance(line[name], kind):
            return ("invalid_value", f"'{name}' must be a {'JSON object' if kind is dict else 'string'}.", name)
    if line["method"] != "POST":
        return ("invalid_value", "'method' must be 'POST'.", "method")
    if line["url"] != endpoint:
        return ("url_mismatch", f"The line's url '{line['url']}' differs from the batch endpoint '{endpoint}'.", "url")
    if line["custom_id"] in seen:
        return ("duplicate_custom_id", f"The custom_id '{line['custom_id']}' is used by an earlier line.", "custom_id")
    return None


async def _generation(body, request, inputs=None):
    req = judge(request.app.state.service, body, inputs)
    if isinstance(req, Response):
        return req
    if req.stream:
        return error("stream is not supported in batch requests.", param="stream", code="invalid_value")
    return await complete(request.app.state.service, req, request, watch=False)


async def _edit(body, request):
    try:
        fields, images, mask = read_json(body)
    except FormError as exc:
        return error(str(exc), param=exc.param, code="invalid_value")
    return await _generation(fields, request, (images, mask))


HANDLERS: dict[str, Callable[[dict, Request], Awaitable[dict | Response]]] = {
    "/v1/images/generations": _generation,
    "/v1/images/edits": _edit,
}


async def answer(endpoint: str, body: dict, request: Request) -> tuple[int, dict]:
    """(status code, JSON body) that `endpoint` gives this request body; `request` builds URLs."""
    try:
        result = await HANDLERS[endpoint](body, request)
    except Exception as exc:  # one bad line must not stop the batch
        result = error(f"The server failed on this request ({type(exc).__name__}).", status=500, code="server_error")
    if isinstance(result, Response):
        return result.status_code, json.loads(bytes(result.body))
    return 200, result


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Bounded:
    """An ASGI receive that raises _TooLarge once more than `limit` body bytes (or more than the storage's
    room) have arrived, and _TooSlow once the body falls behind MIN_UPLOAD_RATE after `grace` seconds.
    `seen` bytes count against the storage's room while the upload lasts."""

    def __init__(self, receive, limit: int, batches: Batches, grace: float):
        self.receive, self.limit, self.batches = receive, limit, batches
        self.deadline = time.monotonic() + grace
        self.seen = 0

    async def __call__(self):
        left = self.deadline + self.seen / MIN_UPLOAD_RATE - time.monotonic()
        try:
            async with asyncio.timeout(max(left, 0.001)):
                message = await self.receive()
        except TimeoutError as exc:
            raise _TooSlow from exc
        size = len(message.get("body", b""))
        if self.seen + size > self.limit or size > self.batches.room():
            raise _TooLarge
        self.seen += size
        self.batches.inflight += size
        return message

    def release(self) -> None:
        """The upload is over: its bytes no longer count as arriving."""
        self.batches.inflight -= self.seen
        self.seen = 0


def _too_large(batches):
    if batches.room() < MAX_UPLOAD:
        message = (
            f"File storage is full: {max(batches.room(), 0)} of {batches.max_stored} bytes left; "
            "delete files (DELETE /v1/files/{file_id}) first."
        )
        return error(message, status=413, param="file", code="storage_full")
    return error(f"File too large: the limit is {MAX_UPLOAD} bytes.", status=413, param="file", code="file_too_large")


def _save(upload, target):
    with open(target, "wb") as out:
        shutil.copyfileobj(upload, out, 1024 * 1024)
    return target.stat().st_size


@takes(MULTIPART)
async def upload_file(request, batches):
    """POST /v1/files: keep an uploaded batch input file (multipart `file`, `purpose` "batch")."""
    try:
        declared = int(request.headers.get("content-length", 0))
    except ValueError:
        declared = 0
    limit = MAX_UPLOAD + _MULTIPART_SLACK
    if declared > limit or declared > batches.room() + _MULTIPART_SLACK:
        return _too_large(batches)
    receive = _Bounded(request.receive, limit, batches, request.app.state.read_timeout)
    bounded = Request(request.scope, receive)
    try:
        async with bounded.form(max_files=1, max_fields=8) as form:
            purpose, upload = form.get("purpose"), form.get("file")
            if not isinstance(upload, UploadFile):
                return error("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
            if purpose != "batch":
                return error(
                    "Invalid value for 'purpose': this server keeps files for the Batch API only ('batch').",
                    param="purpose",
                    code="invalid_value",
                )
            file_id = _new_id("file-")
            size = await run_in_threadpool(_save, upload.file, batches.path(file_id))
    except _TooLarge:
        receive.release()
        return _too_large(batches)
    except _TooSlow:
        message = (
            f"The upload fell behind {MIN_UPLOAD_RATE} bytes per second after the first "
            f"{request.app.state.read_timeout:g} seconds."
        )
        return error(message, status=408, code="timeout", headers={"Connection": "close"})
    except HTTPException as exc:
        return error(f"Could not read the multipart form: {exc.detail}", code="invalid_multipart")
    finally:
        receive.release()
    if size > MAX_UPLOAD:
        batches.path(file_id).unlink()
        return _too_large(batches)
    return JSONResponse(batches.add_file(file_id, upload.filename or "upload.jsonl", purpose))


def _page(items, query, *, default, most):
    """One page of `items` (newest first) after the id `?after=`, at most `?limit=`, as the API lists."""
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        return error(f"Invalid 'limit': an integer from 1 to {most}.", param="limit", code="invalid_value")
    ids = [item["id"] for item in items]
    after = query.get("after")
    if after is not None and after not in ids:
        return error(f"Invalid 'after': no object with id '{after}'.", param="after", code="invalid_value")
    start = 0 if after is None else ids.index(after) + 1
    data = items[start : start + limit]
    page = {"object": "list", "data": data, "has_more": start + limit < len(items)}
    if data:
        page.update(first_id=data[0]["id"], last_id=data[-1]["id"])
    return JSONResponse(page)


async def list_files(request, batches):
    """GET /v1/files: the files, newest first (`order=asc` for oldest), filtered by `purpose`."""
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        return error("Invalid 'order': 'asc' or 'desc'.", param="order", code="invalid_value")
    purpose = request.query_params.get("purpose")
    items = [f for f in batches.files.values() if purpose in (None, f["purpose"])]
    return _page(items if order == "asc" else items[::-1], request.query_params, default=10000, most=10000)


def _file_or_404(request, batches):
    file_id = request.path_params["file_id"]
    info = batches.file(file_id)
    return info or error(f"No such File object: {file_id}", status=404, param="id", code="not_found")


async def retrieve_file(request, batches):
    """GET /v1/files/{file_id}: the file's OpenAIFile object."""
    found = _file_or_404(request, batches)
    return found if isinstance(found, Response) else JSONResponse(found)


async def file_content(request, batches):
    """GET /v1/files/{file_id}/content: the file's bytes, streamed from disk."""
    found = _file_or_404(request, batches)
    if isinstance(found, Response):
        return found
    return FileResponse(batches.path(found["id"]), media_type="application/octet-stream")


async def delete_file(request, batches):
    """DELETE /v1/files/{file_id}: forget the file and remove its bytes."""
    found = _file_or_404(request, batches)
    if isinstance(found, Response):
        return found
    batches.forget_file(found["id"])
    return JSONResponse({"id": found["id"], "object": "file", "deleted": True})


def _metadata_ok(metadata):
    return metadata is None or (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in metadata.items())
    )


async def create_batch(request, batches):
    """POST /v1/batches: start a batch over an uploaded input file; it runs in the background."""
    try:
        raw = await limited_body(request, request.app.state.read_timeout)
    except (TimeoutError, ClientDisconnect):
        raw = b""
    if raw is None:
        return error(f"Request body too large: the limit is {MAX_BODY} bytes.", status=413, code="request_too_large")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return error("The request body must be a JSON object.", code="invalid_json")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if name not in body:
            return error(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    if body["endpoint"] not in HANDLERS:
        allowed = " or ".join(HANDLERS)
        return error(
            f"Invalid 'endpoint': this server runs batches of {allowed}.", param="endpoint", code="invalid_value"
        )
    if body["completion_window"] != "24h":
        return error(
            "Invalid 'completion_window': only '24h' is supported.", param="completion_window", code="invalid_value"
        )
    if not _metadata_ok(body.get("metadata")):
        message = "Invalid 'metadata': at most 16 keys of up to 64 characters, with string values of up to 512."
        return error(message, param="metadata", code="invalid_value")
    source = batches.files.get(body["input_file_id"])
    if source is None:
        return error(
            f"No such File object: {body['input_file_id']}", status=404, param="input_file_id", code="not_found"
        )
    if source["purpose"] != "batch":
        message = f"Invalid 'input_file_id': {source['id']} has purpose '{source['purpose']}', not 'batch'."
        return error(message, param="input_file_id", code="invalid_value")
    now = int(time.time())
    batch = {
        "id": _new_id("batch_"),
        "object": "batch",
        "endpoint": body["endpoint"],
        "input_file_id": source["id"],
        "completion_window": "24h",
        "status": "validating",
        "created_at": now,
        "expires_at": now + batches.window,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }
    batches.start(batch, request)
    return JSONResponse(batch)


def _batch_or_404(request, batches):
    batch_id = request.path_params["batch_id"]
    batch = batches.current(batch_id)
    return batch or error(f"No batch found with id '{batch_id}'.", status=404, param="batch_id", code="not_found")


async def retrieve_batch(request, batches):
    """GET /v1/batches/{batch_id}: the batch as it stands."""
    found = _batch_or_404(request, batches)
    return found if isinstance(found, Response) else JSONResponse(found)


async def list_batches(request, batches):
    """GET /v1/batches: the batches, newest first, paged by `limit` (1-100, default 20) and `after`."""
    return _page(list(batches.jobs.values())[::-1], request.query_params, default=20, most=100)


async def cancel_batch(request, batches):
    """POST /v1/batches/{batch_id}/cancel: stop a running batch (cancelling, then cancelled)."""
    found = _batch_or_404(request, batches)
    if isinstance(found, Response):
        return found
    if found["status"] in ("validating", "in_progress"):
        found.update(status="cancelling", cancelling_at=int(time.time()))
        batches.save(found)
    elif found["status"] not in ("cancelling", "cancelled"):
        return error(f"Cannot cancel a batch with status '{found['status']}'.", code="invalid_state")
    return JSONResponse(found)


def _with_batches(handler):
    """The route handler, given the app's Batches (the key is checked for every route by asgi.KeyMiddleware)."""

    @functools.wraps(handler)
    async def route(request: Request):
        batches = request.app.state.batches
        batches.resume(request)
        return await handler(request, batches)

    return route


ROUTES = [
    Route("/v1/files", _with_batches(upload_file), methods=["POST"]),
    Route("/v1/files", _with_batches(list_files), methods=["GET"]),
    Route("/v1/files/{file_id}", _with_batches(retrieve_file), methods=["GET"]),
    Route("/v1/files/{file_id}", _with_batches(delete_file), methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", _with_batches(file_content), methods=["GET"]),
    Route("/v1/batches", _with_batches(create_batch), methods=["POST"]),
    Route("/v1/batches", _with_batches(list_batches), methods=["GET"]),
    Route("/v1/batches/{batch_id}", _with_batches(retrieve_batch), methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", _with_batches(cancel_batch), methods=["POST"]),
]
