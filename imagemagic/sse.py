"""Event-stream decoder (WHATWG `text/event-stream` rules): pure, incremental, no I/O.

Feed it chunks of any size; it returns the events completed so far. Lines end in CR, LF or
CRLF; several `data:` lines join with a newline; comments are skipped; `close()` delivers a
final event that lacks its trailing blank line. Linear in the stream's size: a line is kept as
the list of chunks it arrived in and joined once, so a 25 MB image event is copied once.
`max_event_bytes` bounds what one event (or one line, comments included) may hold: past it,
`feed` raises EventTooLarge instead of buffering without end.
"""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


class EventTooLarge(ValueError):
    """An event or line grew past the decoder's `max_event_bytes`."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (default "message"), its data as bytes, its id."""

    event: str
    data: bytes
    id: str | None = None


class SSEDecoder:
    """Incremental decoder: `feed(chunk)` and finally `close()`, each returning completed events."""

    def __init__(self, max_event_bytes=None):
        self.max_event_bytes = max_event_bytes
        self._held = 0  # bytes of the current line and event's data held
        self._parts = []  # chunks of the line not yet ended
        self._after_cr = False  # the last chunk ended in CR: a leading LF of the next one belongs to it
        self._head = b""  # the stream's first bytes while they may still be a BOM
        self._event = ""
        self._data = []
        self._id = None

    def feed(self, chunk):
        """Decode one chunk of bytes; return the events it completed."""
        events = []
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
            self._hold(chunk[pos:end])
            self._line(events)
            pos = end + 1
            if end == cr:
                if pos == size:
                    self._after_cr = True
                elif chunk[pos] == 10:
                    pos += 1
        if pos < size:
            self._hold(chunk[pos:] if pos else chunk)
        return events

    def _hold(self, part):
        self._parts.append(part)
        self._held += len(part)
        if self.max_event_bytes is not None and self._held > self.max_event_bytes:
            raise EventTooLarge(f"an event-stream event is larger than {self.max_event_bytes:,} bytes")

    def _skip_bom(self, chunk):
        head = self._head + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def close(self):
        """End of stream: deliver a last event even without its blank line."""
        held, self._head = self._head, None
        events = self.feed(held) if held else []
        if self._parts:
            self._line(events)
        self._dispatch(events)
        return events

    def _line(self, events):
        parts, self._parts = self._parts, []
        self._held -= sum(len(p) for p in parts)
        first = parts[0]
        colon = first.find(b":")
        if len(parts) > 1 and colon in (-1, len(first) - 1):  # a chunk ended in the name or at the colon: rare
            first, parts = b"".join(parts), [b""]
            colon = first.find(b":")
        if not first and len(parts) == 1:
            self._dispatch(events)
            return
        if colon == 0:
            return  # comment
        if colon == -1:
            name, value = first, b""
        else:
            name = first[:colon]
            start = colon + 2 if first[colon + 1 : colon + 2] == b" " else colon + 1
            head = first[start:]
            value = head if len(parts) == 1 else b"".join([head, *parts[1:]])
        if name == b"data":
            self._data.append(value)
            self._held += len(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")

    def _dispatch(self, events):
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            events.append(Event(self._event or "message", data, self._id))
        self._data = []
        self._held = 0
        self._event = ""
