"""Event-stream decoder (WHATWG `text/event-stream` rules): pure, incremental, no I/O.

`SSEStream` is the streaming core: feed it chunks of any size and it returns what they completed as
small pieces, an event's data included, so a 25 MB image event can be decoded as it arrives and never
held: ("event", name), ("id", id), ("line", b"") when a `data:` line starts, ("data", bytes) for the
value of that line as it arrives, ("dispatch", b"") at an event's blank line (and at `close()`).

Lines end in CR, LF or CRLF; several `data:` lines join with a newline; comments are skipped;
`close()` dispatches a final event that lacks its trailing blank line. `max_event_bytes` bounds what
one event's data (with the line being read, comments included) may hold: past it, `feed` raises
EventTooLarge instead of reading without end.
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"
_NAME, _SPACE, _DATA, _VALUE, _COMMENT = range(5)  # where in a line the stream is

Piece = tuple[str, object]


class EventTooLarge(ValueError):
    """An event or line grew past the decoder's `max_event_bytes`."""


class SSEStream:
    """Incremental decoder yielding pieces: `feed(chunk)` and finally `close()` (see the module's help)."""

    def __init__(self, max_event_bytes: int | None = None):
        self.max_event_bytes = max_event_bytes
        self._event_bytes = 0  # data bytes of the current event
        self._line_bytes = 0  # bytes of the current line that is not data
        self._mode = _NAME
        self._name = bytearray()  # the field name read so far (or the whole line while it has no colon)
        self._field = b""
        self._value = bytearray()  # the value of a field other than data
        self._after_cr = False  # the last chunk ended in CR: a leading LF of the next one belongs to it
        self._head: bytes | None = b""  # the stream's first bytes while they may still be a BOM

    def feed(self, chunk: bytes) -> list[Piece]:
        """Decode one chunk of bytes; return the pieces it completed."""
        out: list[Piece] = []
        if self._head is not None:
            chunk = self._skip_bom(chunk)
        pos, size = 0, len(chunk)
        if self._after_cr and size:
            self._after_cr = False
            pos = 1 if chunk[0] == 10 else 0
        nl = cr = -2  # next LF / CR at or after pos; -1 once none is left in this chunk
        while pos < size:
            if -1 != nl < pos:
                nl = chunk.find(b"\n", pos)
            if -1 != cr < pos:
                cr = chunk.find(b"\r", pos)
            if nl == -1 and cr == -1:
                break
            end = nl if cr == -1 or (nl != -1 and nl < cr) else cr
            self._take(chunk, pos, end, out)
            self._end_line(out)
            pos = end + 1
            if end == cr:
                if pos == size:
                    self._after_cr = True
                elif chunk[pos] == 10:
                    pos += 1
        if pos < size:
            self._take(chunk, pos, size, out)
        return out

    def close(self) -> list[Piece]:
        """End of stream: end the last line and dispatch the last event even without its blank line."""
        held, self._head = self._head, None
        out = self.feed(held) if held else []
        if self._mode != _NAME or self._name:
            self._end_line(out)
        out.append(("dispatch", b""))
        return out

    def _skip_bom(self, chunk: bytes) -> bytes:
        head = (self._head or b"") + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _count(self, size: int, data: bool) -> None:
        if data:
            self._event_bytes += size
        else:
            self._line_bytes += size
        if self.max_event_bytes is not None and self._event_bytes + self._line_bytes > self.max_event_bytes:
            raise EventTooLarge(f"an event-stream event is larger than {self.max_event_bytes:,} bytes")

    def _take(self, chunk: bytes, start: int, stop: int, out: list[Piece]) -> None:
        """The bytes chunk[start:stop] of the current line (no line ending among them)."""
        if start == stop:
            return
        if self._mode == _COMMENT:
            self._count(stop - start, data=False)
            return
        if self._mode == _NAME:
            colon = chunk.find(b":", start, stop)
            self._count((stop if colon < 0 else colon) - start, data=False)
            self._name += chunk[start : stop if colon < 0 else colon]
            if colon < 0:
                return
            if not self._name:
                self._mode = _COMMENT
                return
            self._field, self._mode, start = bytes(self._name), _SPACE, colon + 1
            if start == stop:
                return
        if self._mode == _SPACE:
            start += chunk[start] == 32
            self._begin_value(out)
        if start == stop:
            return
        if self._mode == _DATA:
            self._count(stop - start, data=True)
            out.append(("data", chunk if start == 0 and stop == len(chunk) else chunk[start:stop]))
        elif self._mode == _VALUE:
            self._count(stop - start, data=False)
            self._value += chunk[start:stop]

    def _begin_value(self, out: list[Piece]) -> None:
        if self._field == b"data":
            self._mode = _DATA
            out.append(("line", b""))
            self._event_bytes += 1  # the newline joining it to the previous data line
        else:
            self._mode = _VALUE

    def _end_line(self, out: list[Piece]) -> None:
        mode = self._mode
        if mode == _NAME:
            if not self._name:
                out.append(("dispatch", b""))
                self._event_bytes = 0
            else:
                self._field = bytes(self._name)
                self._begin_value(out)
                mode = self._mode
        elif mode == _SPACE:
            self._begin_value(out)
            mode = self._mode
        if mode == _VALUE:
            value = bytes(self._value)
            if self._field == b"event":
                out.append(("event", value.decode("utf-8", "replace")))
            elif self._field == b"id" and b"\0" not in value:
                out.append(("id", value.decode("utf-8", "replace")))
        self._mode, self._line_bytes = _NAME, 0
        self._name.clear()
        self._value.clear()
