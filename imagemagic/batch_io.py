"""Batch API files and objects as data: the JSONL input lines and their limits (batch_record writes the
files, one model each), a streaming parser of output and error files, and the check every Batch object
passes before it is kept. Pure: no I/O.

An output line carries its images inline as base64 (a 1 MB image is a 1.4 MB line), and a file
holds hundreds of them, so `OutputParser` is fed the download chunk by chunk and answers each line
as soon as it is complete, decoding the base64 straight out of its buffer: at any moment it holds
about one line plus one decoded image, never the file.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass, field

from .errors import one_line

MAX_LINES = 50_000  # requests in one input file
MAX_BYTES = 200 * 1024 * 1024  # bytes in one input file
GENERATIONS = "/v1/images/generations"
DONE = ("completed", "failed", "expired", "cancelled")
STAGES = ("validating", "in_progress", "finalizing", "cancelling", *DONE)  # a job is at its least advanced part's
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")  # what a server's batch or file id may look like

_B64_KEY = re.compile(rb'"b64_json"\s*:\s*"')


def request_line(custom_id: str, body: dict, url: str = GENERATIONS) -> bytes:
    """One input line: `{custom_id, method: POST, url, body}` and its newline."""
    line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def safe_id(text: object) -> bool:
    """Whether `text` is an id as servers and this package make them (letters, digits, `_ . : -`)."""
    return isinstance(text, str) and _ID.fullmatch(text) is not None


class BadAnswer(ValueError):
    """A server's answer that is not what the API defines; the message says what, in one line."""


def checked_batch(answer, batch_id: str | None = None) -> dict:
    """`answer` if it is a Batch object (of batch `batch_id`, when given) whose fields are what the API
    defines; else BadAnswer saying in one line what is wrong. Every Batch object is checked before it is kept."""
    what = f"batch {batch_id}" if batch_id else "a new batch"
    if not isinstance(answer, dict):
        raise BadAnswer(f"the server answered {what} with a JSON {type(answer).__name__}, not a Batch object")
    found = answer.get("id")
    if not isinstance(found, str) or not _ID.fullmatch(found):
        raise BadAnswer(f"the server's Batch object for {what} has no usable id")
    if batch_id is not None and found != batch_id:
        raise BadAnswer(f"the server answered {what} with another batch's object ({found[:60]})")
    if answer.get("status") not in STAGES:
        status = str(answer.get("status"))[:40]
        raise BadAnswer(f"the server's Batch object {found} has status {status!r}: not one of {', '.join(STAGES)}")
    for name in ("output_file_id", "error_file_id", "input_file_id"):
        value = answer.get(name)
        if value is not None and not (isinstance(value, str) and _ID.fullmatch(value)):
            raise BadAnswer(f"the server's Batch object {found} has an unusable {name}")
    for name in ("request_counts", "usage", "metadata", "errors"):
        if answer.get(name) is not None and not isinstance(answer[name], dict):
            raise BadAnswer(f"the server's Batch object {found} has a {name} that is not a JSON object")
    for name, described in _COUNTED.items():
        if isinstance(answer.get(name), dict):
            counted = _counted(answer[name], described, f"the server's Batch object {found}", name)
            answer = dict(answer, **{name: counted})
    counts = answer.get("request_counts") or {}
    if any(
        not isinstance(counts.get(k, 0), int) or isinstance(counts.get(k), bool)
        for k in ("total", "completed", "failed")
    ):
        raise BadAnswer(f"the server's Batch object {found} has request_counts that are not whole numbers")
    for name in ("created_at", "expires_at"):
        if answer.get(name) is not None and not isinstance(answer[name], (int, float)):
            raise BadAnswer(f"the server's Batch object {found} has a {name} that is not a time")
    return answer


# The numbers a Batch object reports, as the official schema types them (a nested dict: an object of them).
_TOKEN_DETAILS = {"cached_tokens": int, "text_tokens": int, "image_tokens": int, "reasoning_tokens": int}
_USAGE = {"input_tokens": int, "output_tokens": int, "total_tokens": int}
_COUNTED: dict[str, dict] = {
    "request_counts": {"total": int, "completed": int, "failed": int},
    "usage": dict(_USAGE, input_tokens_details=_TOKEN_DETAILS, output_tokens_details=_TOKEN_DETAILS),
}


def _counted(value: dict, described: dict, what: str, name: str) -> dict:
    """`value`'s numbers and objects of numbers: a null is "not reported" and left out, as is whatever the API
    does not describe and is not a number (the schema allows anything there); a described field of another
    type is BadAnswer."""
    kept: dict = {}
    for key, item in value.items():
        kind = described.get(key)
        if isinstance(item, dict):
            if kind is int:
                raise BadAnswer(f"{what} has a {name}.{key} that is not a number")
            kept[key] = _counted(item, kind or {}, what, f"{name}.{key}")
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and not isinstance(kind, dict):
            kept[key] = item
        elif item is not None and kind is not None:
            raise BadAnswer(f"{what} has a {name}.{key} that is not {'a number' if kind is int else 'a JSON object'}")
    return kept


def checked_file(answer) -> dict:
    """`answer` if it is a File object with a usable id; else BadAnswer in one line."""
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or not _ID.fullmatch(answer["id"]):
        raise BadAnswer("the server's answer to the upload is not a File object with a usable id")
    return answer


@dataclass
class OutputLine:
    """One line of an output or error file: its request's custom_id, the answer, and the decoded images.

    `body` is the answer's JSON with each `b64_json` emptied; `images` holds the decoded bytes in order.
    """

    custom_id: str
    status_code: int | None
    request_id: str | None
    body: dict | None
    error: dict | None
    images: list[bytes] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        """None for a successful answer, else the one line saying what went wrong."""
        if self.status_code == 200 and self.error is None:
            return None
        found = self.error or (self.body or {}).get("error") or {}
        if not isinstance(found, dict):
            found = {"message": found}
        head = f"HTTP {self.status_code}" if self.status_code else found.get("code") or "error"
        return one_line(f"{head}: {found.get('message') or 'no message'}")


_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9_.:-]{0,199})"')


class OutputParser:
    """Incremental parser of a Batch API output or error file: `feed(chunk)` hands each line it completes
    to `on_line(OutputLine)` and keeps no reference to it. A line that is no output record raises BadAnswer
    naming the line. A line longer than `max_line` bytes is skipped as it streams by (never held): its
    custom_id, when its head names one, goes to `oversized` (None when it does not).

    The buffer is allocated once at the longest line's size (plus a quarter) and reused: lines are
    never copied out of it, and it is never reallocated line after line.
    """

    def __init__(self, on_line, max_line: int | None = None):
        self.on_line = on_line
        self.max_line = max_line
        self.oversized: list[str | None] = []
        self._skipping = False  # inside a line longer than max_line: drop bytes up to its newline
        self._buffer = bytearray()
        self._end = 0  # bytes of the buffer in use
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self.number = 0  # lines parsed so far

    def feed(self, chunk: bytes) -> None:
        """Add bytes; parse every line they complete."""
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return
            self._skipping, chunk = False, chunk[newline + 1 :]
        if self.max_line and self._end + len(chunk) > self.max_line + 1 and b"\n" not in chunk:
            return self._skip(chunk)
        buffer, end = self._buffer, self._end
        if end + len(chunk) > len(buffer):
            buffer += bytes(max(end + len(chunk) - len(buffer), len(buffer) // 4))
        buffer[end : end + len(chunk)] = chunk
        end += len(chunk)
        start = 0
        while (newline := buffer.find(b"\n", max(start, self._scanned), end)) >= 0:
            if self.max_line and newline - start > self.max_line:
                self.number += 1
                found = _CUSTOM_ID.search(buffer, start, min(newline, start + 4096))
                self.oversized.append(found.group(1).decode() if found else None)
            elif newline > start:
                self.on_line(self._line(buffer, start, newline))
            start = newline + 1
        if start:
            buffer[: end - start] = buffer[start:end]  # the same length: moved in place, never reallocated
            end -= start
        self._end = self._scanned = end
        if self.max_line and end > self.max_line:
            self._skip(b"")

    def _skip(self, chunk):
        """Give up the line in the buffer (longer than max_line): note its custom_id, drop it to its newline."""
        self.number += 1
        head = bytes(self._buffer[: min(self._end, 4096)]) + chunk[:4096]
        found = _CUSTOM_ID.search(head)
        self.oversized.append(found.group(1).decode() if found else None)
        self._end = self._scanned = 0
        self._skipping = True
        if b"\n" in chunk:
            self._skipping = False
            self.feed(chunk[chunk.find(b"\n") + 1 :])

    def close(self) -> None:
        """Parse the last line, if the file did not end with a newline."""
        if self._buffer[: self._end].strip():
            self.on_line(self._line(self._buffer, 0, self._end))
        self._buffer, self._end, self._scanned = bytearray(), 0, 0

    def _line(self, buffer, start, end):
        self.number += 1
        images, skeleton, pos = [], [], start
        with memoryview(buffer) as view:
            while (found := _B64_KEY.search(buffer, pos, end)) is not None:
                close = buffer.find(b'"', found.end(), end)
                if close < 0:
                    break
                try:
                    images.append(binascii.a2b_base64(view[found.end() : close], strict_mode=True))
                except binascii.Error:
                    break  # escaped or odd text: let the JSON parser read this line whole
                skeleton.append(bytes(view[pos : found.end()]))
                pos = close
            else:
                skeleton.append(bytes(view[pos:end]))
                return self._record(b"".join(skeleton), images)
            return self._record(bytes(view[start:end]), None)

    def _record(self, text, images):
        try:
            line = json.loads(text)
            response = line.get("response") or {}
            body = response.get("body")
            record = OutputLine(
                line["custom_id"], response.get("status_code"), response.get("request_id"), body, line.get("error")
            )
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise BadAnswer(f"line {self.number} of the batch file is not a batch output record") from exc
        if not isinstance(record.custom_id, str) or not _ID.fullmatch(record.custom_id):
            raise BadAnswer(f"line {self.number} of the batch file has no usable custom_id")
        odd = next(
            (
                name
                for name, value, kind in (
                    ("response", response, dict),
                    ("body", body, dict),
                    ("error", record.error, dict),
                    ("status_code", record.status_code, int),
                    ("request_id", record.request_id, str),
                )
                if value is not None and not isinstance(value, kind)
            ),
            None,
        )
        if odd is not None or not isinstance((body or {}).get("data", []), (list, type(None))):
            record.body, record.images, record.request_id = None, [], None
            record.status_code, record.error = (
                None,
                {"code": "invalid_answer", "message": f"its {odd or 'data'} is not what the API answers"},
            )
            return record
        items = [item for item in (body or {}).get("data") or () if isinstance(item, dict) and "b64_json" in item]
        try:
            if images is None:  # the slow path: the JSON parser decoded the strings
                images = [binascii.a2b_base64(item["b64_json"], strict_mode=True) for item in items]
        except (binascii.Error, TypeError, ValueError):
            record.error, images = {"code": "invalid_image", "message": "the image is not valid base64"}, []
        if len(images) != len(items) and record.error is None:
            raise BadAnswer(f"line {self.number} of the batch file has images outside its answer's data")
        for item in items:
            item["b64_json"] = ""
        record.images = images
        return record
