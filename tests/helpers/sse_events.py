"""Whole events from the product's event-stream decoder (imagemagic.sse.SSEStream), for tests that read a
stream as a client sees it: its pieces collected into `Event`s (data joined once: linear in the stream's size)."""

from __future__ import annotations

from dataclasses import dataclass

from imagemagic.sse import Piece, SSEStream


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (default "message"), its data as bytes, its id."""

    event: str
    data: bytes
    id: str | None = None


class SSEDecoder:
    """Incremental decoder of whole events: `feed(chunk)` and finally `close()`, each returning the
    events completed."""

    def __init__(self, max_event_bytes: int | None = None):
        self._stream = SSEStream(max_event_bytes)
        self._event = ""
        self._data: list[bytes] = []
        self._lines = 0  # data lines of the current event
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode one chunk of bytes; return the events it completed."""
        return self._collect(self._stream.feed(chunk))

    def close(self) -> list[Event]:
        """End of stream: deliver a last event even without its blank line."""
        return self._collect(self._stream.close())

    def _collect(self, pieces: list[Piece]) -> list[Event]:
        events = []
        for kind, value in pieces:
            if kind == "data":
                self._data.append(value)  # type: ignore[arg-type]
            elif kind == "line":
                if self._lines:
                    self._data.append(b"\n")
                self._lines += 1
            elif kind == "event":
                self._event = value  # type: ignore[assignment]
            elif kind == "id":
                self._id = value  # type: ignore[assignment]
            else:
                if self._lines:
                    data = self._data[0] if len(self._data) == 1 else b"".join(self._data)
                    events.append(Event(self._event or "message", data, self._id))
                self._data, self._lines, self._event = [], 0, ""
        return events
