"""Batch API files as bytes: the JSONL input lines (split where the API's limits require) and a
streaming parser of output and error files. Pure: no I/O.

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

MAX_LINES = 50_000  # requests in one input file
MAX_BYTES = 200 * 1024 * 1024  # bytes in one input file
GENERATIONS = "/v1/images/generations"

_B64_KEY = re.compile(rb'"b64_json"\s*:\s*"')


def request_line(custom_id: str, body: dict, url: str = GENERATIONS) -> bytes:
    """One input line: `{custom_id, method: POST, url, body}` and its newline."""
    line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def split_files(lines, max_lines: int | None = None, max_bytes: int | None = None) -> list[tuple[str, list[bytes]]]:
    """(model, lines) per input file: one model per file, at most `max_lines` lines and `max_bytes` bytes each.

    `lines` are (model, line bytes) pairs; models keep the order they first appear in. The limits default
    to the API's (MAX_LINES, MAX_BYTES).
    """
    max_lines, max_bytes = max_lines or MAX_LINES, max_bytes or MAX_BYTES
    by_model: dict[str, list[bytes]] = {}
    for model, line in lines:
        by_model.setdefault(model, []).append(line)
    files = []
    for model, group in by_model.items():
        current: list[bytes] = []
        size = 0
        for line in group:
            if current and (len(current) >= max_lines or size + len(line) > max_bytes):
                files.append((model, current))
                current, size = [], 0
            current.append(line)
            size += len(line)
        files.append((model, current))
    return files


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
        text = found.get("message") if isinstance(found, dict) else None
        head = f"HTTP {self.status_code}" if self.status_code else found.get("code") or "error"
        return f"{head}: {text or 'no message'}"


class OutputParser:
    """Incremental parser of a Batch API output or error file: `feed(chunk)` hands each line it completes
    to `on_line(OutputLine)` and keeps no reference to it. Malformed lines raise ValueError naming the line.

    The buffer is allocated once at the longest line's size (plus a quarter) and reused: lines are
    never copied out of it, and it is never reallocated line after line.
    """

    def __init__(self, on_line):
        self.on_line = on_line
        self._buffer = bytearray()
        self._end = 0  # bytes of the buffer in use
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self.number = 0  # lines parsed so far

    def feed(self, chunk: bytes) -> None:
        """Add bytes; parse every line they complete."""
        buffer, end = self._buffer, self._end
        if end + len(chunk) > len(buffer):
            buffer += bytes(max(end + len(chunk) - len(buffer), len(buffer) // 4))
        buffer[end : end + len(chunk)] = chunk
        end += len(chunk)
        start = 0
        while (newline := buffer.find(b"\n", max(start, self._scanned), end)) >= 0:
            if newline > start:
                self.on_line(self._line(buffer, start, newline))
            start = newline + 1
        if start:
            buffer[: end - start] = buffer[start:end]  # the same length: moved in place, never reallocated
            end -= start
        self._end = self._scanned = end

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
            raise ValueError(f"line {self.number} of the batch file is not a batch output record") from exc
        items = [item for item in (body or {}).get("data") or () if isinstance(item, dict) and "b64_json" in item]
        try:
            if images is None:  # the slow path: the JSON parser decoded the strings
                images = [binascii.a2b_base64(item["b64_json"], strict_mode=True) for item in items]
        except (binascii.Error, TypeError, ValueError):
            record.error, images = {"code": "invalid_image", "message": "the image is not valid base64"}, []
        if len(images) != len(items) and record.error is None:
            raise ValueError(f"line {self.number} of the batch file has images outside its answer's data")
        for item in items:
            item["b64_json"] = ""
        record.images = images
        return record
