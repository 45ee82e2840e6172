"""Every exception imagemagic raises, in one tree under `ImageMagicError`.

    ImageMagicError
    ├── ValidationError        the request breaks a rule; nothing was sent
    ├── APIError               the server answered with an error (HTTP status or mid-stream)
    ├── TransportError         no usable answer: connection, timeout, truncated or malformed stream
    │   └── APITimeoutError
    └── ImageDataError         the bytes that arrived are not an acceptable image

Errors raised after images started to arrive carry them in `.partial` (an `ImageResult`),
so nothing that was paid for is lost.
"""

from __future__ import annotations


class ImageMagicError(Exception):
    """Base class of every imagemagic error."""

    partial = None  # ImageResult of what arrived before the failure, if anything did

    def with_partial(self, result):
        """Attach what arrived before the failure and return the error."""
        self.partial = result if result else None
        return self


class ValidationError(ImageMagicError, ValueError):
    """The request breaks one or more rules; `.problems` lists them all."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class APIError(ImageMagicError):
    """The server answered with an error: status, type, param, code, message, request id."""

    def __init__(self, message, *, status=None, type=None, param=None, code=None, request_id=None):
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.request_id = request_id
        super().__init__(self._line())

    def _line(self):
        head = f"HTTP {self.status}" if self.status else "error in stream"
        kind = ", ".join(f"{k}={v}" for k, v in (("type", self.type), ("param", self.param), ("code", self.code)) if v)
        line = f"{head} ({kind}): {self.message}" if kind else f"{head}: {self.message}"
        return f"{line} [request id {self.request_id}]" if self.request_id else line


class TransportError(ImageMagicError):
    """No usable answer came back: the connection failed, or the stream broke off or was malformed."""


class APITimeoutError(TransportError):
    """The server did not answer in time."""


class ImageDataError(ImageMagicError):
    """The bytes received are not an image we accept (corrupt, unknown format, or too many pixels)."""
