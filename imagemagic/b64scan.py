"""Incremental scanner of one JSON document that decodes its images as they arrive: pure, no I/O.

Feed it the document's bytes in chunks of any size. The string value of every image key (`keys`: by
default the Images API's `"b64_json"`; a dialect names its own, e.g. the Responses API's `RESPONSES_KEYS`) is
base64-decoded piece by piece into a sink from `open_sink()` (anything with `write(bytes)`) and never
kept; in the text kept for `json.loads` (`close()` returns it) that value is replaced by a marker,
`"#b64:<k>"` (k counts values from 0; `#` is not base64, so no real value looks like one). The value of a
URL key (`url_keys`, e.g. `URL_KEYS`: an answer's `"url"`) is streamed the same way when it is a
`data:…;base64,` URL, its head (up to the comma) kept in `heads[k]`; any other URL is kept as text. Everything
else (ids, usage, revised prompt, created) is kept as it came, to be parsed and checked by the caller.

Strings are skipped whole, escapes included, so a `"b64_json"` inside another string is never taken
for a key. Inside a value, `\\/` stands for `/`; any other escape, or text that is not strict base64,
makes that value invalid: decoding stops, `errors[k]` says why, and the caller refuses the image.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

IMAGES_KEYS = (b"b64_json",)  # the Images API: data[].b64_json, and its stream events' b64_json
RESPONSES_KEYS = (b"result", b"partial_image_b64")  # an image_generation_call item's result; a partial's image
URL_KEYS = (b"url",)  # an Images answer's or a chat completion's image URL: streamed when it is a data URL
CHAT_KEYS = (b"data",)  # a Gemini-style inline part's base64
MARKER = "#b64:"
HEAD_LIMIT = 256  # bytes of a data URL's head ("data:image/png;base64"): a longer one is kept as text
_OUT, _STRING, _ESCAPE, _AFTER_KEY, _VALUE, _VALUE_ESCAPE, _HEAD = range(7)
_SPACE = b" \t\r\n"


class Sink(Protocol):
    """Where one value's decoded bytes go."""

    def write(self, data: bytes, /) -> object: ...


S = TypeVar("S", bound=Sink)


class B64Scanner(Generic[S]):
    """`feed(chunk)` as the document arrives, then `close()` for the text to parse. `sinks[k]` is the sink
    of the k-th value (opened when the value starts), `errors[k]` its decoding error, if any, `heads[k]` the
    head of a data URL's value."""

    def __init__(
        self, open_sink: Callable[[], S], keys: tuple[bytes, ...] = IMAGES_KEYS, url_keys: tuple[bytes, ...] = ()
    ):
        self.open_sink = open_sink
        self.keys = frozenset(keys) | frozenset(url_keys)
        self.url_keys = frozenset(url_keys)
        self._lengths = frozenset(map(len, self.keys))  # only a string of one of these lengths is copied to compare
        self._key = 0  # the length of the key whose value comes next
        self._url = False  # whether that key is a URL key
        self.sinks: list[S] = []
        self.errors: dict[int, str] = {}
        self.heads: dict[int, str] = {}
        self._head = bytearray()  # a URL value's text so far, unescaped, while it may be a data URL's head
        self._head_escape = False
        self._kept = bytearray()  # the document without its base64 values
        self._state = _OUT
        self._string_start = 0  # where the current string's text starts in _kept
        self._carry = b""  # base64 characters not yet a whole group of 4
        self._padded = False  # the value's text so far ended in padding: nothing may follow

    def feed(self, chunk: bytes) -> None:
        """Scan the next bytes of the document."""
        pos, size = 0, len(chunk)
        while pos < size:
            state = self._state
            if state == _VALUE:
                pos = self._value(chunk, pos)
            elif state == _HEAD:
                pos = self._head_byte(chunk[pos], pos)
            elif state == _VALUE_ESCAPE:
                self._state = _VALUE
                if chunk[pos] == 0x2F:  # "\/" is "/"
                    self._decode(b"/")
                else:
                    self._fail(f"the JSON string has an escape (\\{chr(chunk[pos])}) that is not base64")
                pos += 1
            elif state == _OUT:
                quote = chunk.find(b'"', pos)
                end = size if quote < 0 else quote + 1
                self._kept += chunk[pos:end]
                if quote >= 0:
                    self._state, self._string_start = _STRING, len(self._kept)
                pos = end
            elif state == _ESCAPE:
                self._kept.append(chunk[pos])
                self._state = _STRING
                pos += 1
            elif state == _STRING:
                pos = self._string(chunk, pos, size)
            else:  # _AFTER_KEY: spaces, a colon, spaces, then a string value is streamed
                byte = chunk[pos]
                if byte in _SPACE or (byte == 0x3A and self._colon_pending()):
                    self._kept.append(byte)
                    pos += 1
                elif byte == 0x22 and not self._colon_pending():
                    self._kept += b'"'
                    if self._url:  # a data URL's head comes first, or it is a URL kept as text
                        self._state, self._string_start, self._head_escape = _HEAD, len(self._kept), False
                        self._head.clear()
                    else:
                        self._open_value()
                    pos += 1
                else:
                    self._state = _OUT  # not a key with a string value: read on as plain JSON

    def _open_value(self) -> None:
        self._kept += f"{MARKER}{len(self.sinks)}".encode()
        self.sinks.append(self.open_sink())
        self._state, self._carry, self._padded = _VALUE, b"", False

    def _head_byte(self, byte: int, pos: int) -> int:
        """Read one byte of a URL value that may yet be a data URL: at its comma, a `data:…;base64` head opens
        a streamed value; anything else makes it a plain string, read on as one (unconsumed bytes: `pos`)."""
        if self._head_escape:  # "\/" is "/" (as PHP writes it); any other escape is not in a data URL's head
            self._kept.append(byte)
            self._head_escape = False
            if byte != 0x2F:
                self._state = _STRING
                return pos + 1
            return self._grown(byte, pos)
        if byte == 0x2C:  # the comma
            head = bytes(self._head).lower()
            if head.startswith(b"data:") and head.endswith(b";base64"):
                del self._kept[self._string_start :]
                self.heads[len(self.sinks)] = self._head.decode("ascii", "replace")
                self._open_value()
                return pos + 1
            self._state = _STRING
            return pos
        if byte == 0x22:  # the value ended: a plain string
            self._state = _STRING
            return pos
        self._kept.append(byte)
        if byte == 0x5C:
            self._head_escape = True
            return pos + 1
        return self._grown(byte, pos)

    def _grown(self, byte: int, pos: int) -> int:
        """Add `byte` to the head; past HEAD_LIMIT, or not starting `data:`, the value is a plain string."""
        self._head.append(byte)
        if len(self._head) > HEAD_LIMIT or not (b"data:".startswith(self._head[:5].lower())):
            self._state = _STRING
        return pos + 1

    def close(self) -> bytes:
        """The document's text without its base64 values (a value still open is left unterminated)."""
        kept, self._kept = self._kept, bytearray()
        return bytes(kept)

    def _colon_pending(self) -> bool:
        return b":" not in self._kept[self._string_start + self._key + 1 :]

    def _string(self, chunk: bytes, pos: int, size: int) -> int:
        quote = chunk.find(b'"', pos)
        backslash = chunk.find(b"\\", pos, size if quote < 0 else quote)
        if backslash >= 0:
            self._kept += chunk[pos : backslash + 1]
            self._state = _ESCAPE
            return backslash + 1
        if quote < 0:
            self._kept += chunk[pos:]
            return size
        self._kept += chunk[pos : quote + 1]
        start = self._string_start
        self._key = len(self._kept) - 1 - start
        text = bytes(self._kept[start:-1]) if self._key in self._lengths else None
        self._url = text in self.url_keys
        self._state = _AFTER_KEY if text in self.keys else _OUT
        return quote + 1

    def _value(self, chunk: bytes, pos: int) -> int:
        quote = chunk.find(b'"', pos)
        backslash = chunk.find(b"\\", pos, len(chunk) if quote < 0 else quote)
        stop = backslash if backslash >= 0 else quote if quote >= 0 else len(chunk)
        if stop > pos:
            self._decode(chunk[pos:stop])
        if backslash >= 0:
            self._state = _VALUE_ESCAPE
            return backslash + 1
        if quote < 0:
            return stop
        k = len(self.sinks) - 1
        if self._carry and k not in self.errors:
            self._fail("Incorrect padding")
        self._kept += b'"'
        self._state = _OUT
        return quote + 1

    def _decode(self, text: bytes) -> None:
        k = len(self.sinks) - 1
        if k in self.errors:
            return
        if self._padded:
            self._fail("Excess data after padding")
            return
        if self._carry:
            text = self._carry + text
        whole = len(text) - len(text) % 4
        self._carry = text[whole:]
        if not whole:
            return
        try:
            data = binascii.a2b_base64(text[:whole] if whole < len(text) else text, strict_mode=True)
        except binascii.Error as exc:
            self._fail(str(exc))
            return
        self._padded = text[whole - 1] == 0x3D  # "="
        self.sinks[k].write(data)

    def _fail(self, reason: str) -> None:
        self.errors.setdefault(len(self.sinks) - 1, reason)


def marker_index(value: object) -> int | None:
    """k when `value` is the marker of the k-th streamed value, else None."""
    if isinstance(value, str) and value.startswith(MARKER) and value[len(MARKER) :].isdigit():
        return int(value[len(MARKER) :])
    return None
