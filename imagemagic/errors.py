"""Every exception and warning imagemagic raises, in one tree, and the mapping of error answers onto it.

    ImageMagicError
    ├── ValidationError             the request breaks a rule; nothing was sent
    │   ├── CredentialError             a key or header value that cannot be sent as it is
    │   └── BudgetError                 the run would pass a budget in dollars
    ├── APIError                    the server answered with an error (HTTP status or mid-stream)
    │   ├── BadRequestError             400
    │   │   └── ContentPolicyViolationError the provider's moderation refused it; never retried, not billed
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409
    │   ├── UnprocessableEntityError    422
    │   ├── RateLimitError              429
    │   └── InternalServerError         500 and above
    ├── TransportError              no usable answer: truncated or malformed stream, odd content
    │   └── APIConnectionError      the connection failed or broke off
    │       └── APITimeoutError     the server did not answer in time
    └── ImageDataError              the bytes that arrived are not an acceptable image

    ImageMagicWarning               advice that did not stop the request

A ValidationError lists `Problem`s: each names the parameter at fault and says what to change.
The class names are those users of the official `openai` SDK already catch. Errors raised after
images started to arrive carry them in `.partial` (an `ImageResult`), so nothing paid for is lost.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer read for its message
_ERROR_FIELD = rb'"(message|type|param|code)"\s*:\s*("(?:[^"\\]|\\.)*"|null)'  # in a cut body (compiled on first use)


@dataclass(frozen=True)
class Problem:
    """One broken rule: the parameter at fault and a sentence saying what to change."""

    param: str
    message: str


class ImageMagicError(Exception):
    """Base class of every imagemagic error."""

    # What arrived before the failure, if anything did: an ImageResult. Typed Any because result.py sits
    # above this module (it raises these errors), and even a type-only import would point back up.
    partial: Any = None

    def with_partial(self, result: Any) -> Self:
        """Attach what arrived before the failure and return the error."""
        self.partial = result if result else None
        return self


class ValidationError(ImageMagicError, ValueError):
    """The request breaks one or more rules; `.problems` lists them all."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class CredentialError(ValidationError):
    """A key (or organisation/project id) holds whitespace or control characters; the message names
    where it came from, never the value."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem("api_key", message)])


class BudgetError(ValidationError):
    """The run's expected cost would pass what is left of `budget` or `daily_budget`; nothing was sent."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__([Problem(name, message)])


class APIError(ImageMagicError):
    """The server answered with an error: status_code, type, param, code, message, request_id."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.type = type
        self.param = param
        self.code = code
        self.request_id = request_id
        super().__init__(self._line())

    def _line(self) -> str:
        head = f"HTTP {self.status_code}" if self.status_code else "error in stream"
        fields = (("type", self.type), ("param", self.param), ("code", self.code))
        kind = ", ".join(f"{k}={v}" for k, v in fields if v)
        line = f"{head} ({kind}): {self.message}" if kind else f"{head}: {self.message}"
        return f"{line} [request id {self.request_id}]" if self.request_id else line


class BadRequestError(APIError):
    """400: the server refused the request as invalid."""


class ContentPolicyViolationError(BadRequestError):
    """The provider's moderation refused the request: code `moderation_blocked` (or `content_policy_violation`),
    a `safety_violations` field, or an answer of 200 with no images. Never retried (it would be refused again),
    not billed, recorded in the history as a refusal. `safety_violations`: the categories named, if any."""

    safety_violations: tuple[str, ...] = ()


REFUSAL_CODES = ("moderation_blocked", "content_policy_violation")


def is_refusal(err: Mapping[str, Any]) -> bool:
    """Whether an error object is a moderation refusal (its code or type, or a safety_violations field)."""
    return bool({err.get("code"), err.get("type")} & set(REFUSAL_CODES)) or "safety_violations" in err


class AuthenticationError(APIError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(APIError):
    """404: no such model, deployment or path."""


class ConflictError(APIError):
    """409: the request conflicts with the server's state."""


class UnprocessableEntityError(APIError):
    """422: the request was understood but cannot be processed."""


class RateLimitError(APIError):
    """429: too many requests or tokens; retried before it is raised."""


class InternalServerError(APIError):
    """500 and above: the server failed; retried before it is raised."""


_BY_STATUS: dict[int | None, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def api_error_class(status_code: int | None) -> type[APIError]:
    """The APIError subclass for an HTTP status (APIError itself for a status without its own class)."""
    if status_code is not None and status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIError)


class TransportError(ImageMagicError):
    """No usable answer came back: the stream broke off or was malformed, or the answer was not an API answer."""


class APIConnectionError(TransportError):
    """The connection could not be made, or broke off."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class ImageDataError(ImageMagicError):
    """The bytes received are not an image we accept (corrupt, unknown format, or too many pixels)."""


class ImageMagicWarning(UserWarning):
    """Advice that did not stop the request (an experimental size, a shut-down model)."""


def error_from_response(
    status_code: int, headers: Mapping[str, str], content: bytes, reason: str | None, api_key: str | None = None
) -> APIError:
    """The APIError for an error response: from its JSON error object, else one plain line (never raw JSON).

    The key is masked out of whatever the server said, should it echo it back.
    """
    request_id = masked(headers.get("x-request-id"), api_key)
    try:
        payload = masked(json.loads(content), api_key)
    except ValueError:
        payload = _cut_error(content) if len(content) > ERROR_BODY_LIMIT else None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return error_from_body(payload, status_code, request_id, api_key)
    if len(content) > ERROR_BODY_LIMIT:
        start = one_line(masked(content.decode("utf-8", "replace"), api_key))[:200]
        summary = f"{start} (the start of an answer of over {ERROR_BODY_LIMIT // 1024} KiB)"
        return api_error_class(status_code)(one_line(summary, api_key), status_code=status_code, request_id=request_id)
    summary = _summary(headers, content, reason, payload)
    return api_error_class(status_code)(one_line(summary, api_key), status_code=status_code, request_id=request_id)


async def read_error(response: Any, api_key: str | None = None) -> APIError:
    """The APIError of an httpx error answer being streamed, read from at most ERROR_BODY_LIMIT bytes of its body
    (and one more, which tells a longer body: its start is what speaks)."""
    head = bytearray()
    async for chunk in response.aiter_bytes():
        head += chunk[: ERROR_BODY_LIMIT + 1 - len(head)]
        if len(head) > ERROR_BODY_LIMIT:
            break
    return error_from_response(response.status_code, response.headers, bytes(head), response.reason_phrase, api_key)


def _cut_error(content: bytes) -> dict | None:
    """The error object's plain fields from the first bytes of an OpenAI-shaped error body cut short, or None
    without a message among them."""
    found: dict[str, Any] = {}
    for name, value in re.findall(_ERROR_FIELD, content):
        with contextlib.suppress(ValueError):
            found.setdefault(name.decode(), json.loads(value))
    return {"error": found} if isinstance(found.get("message"), str) else None


def error_from_body(
    payload: dict[str, Any], status_code: int | None, request_id: str | None, api_key: str | None = None
) -> APIError:
    """The APIError for an OpenAI-shaped `{"error": {...}}` body (an answer or a stream event)."""
    err = masked(payload["error"], api_key)
    cls = ContentPolicyViolationError if is_refusal(err) else api_error_class(status_code)
    error = cls(
        one_line(err.get("message") or "no message", api_key),
        status_code=status_code,
        type=_field(err.get("type")),
        param=_field(err.get("param")),
        code=_field(err.get("code")),
        request_id=masked(request_id, api_key),
    )
    violations = err.get("safety_violations")
    if isinstance(error, ContentPolicyViolationError) and isinstance(violations, list):
        error.safety_violations = tuple(one_line(v) for v in violations[:16] if isinstance(v, str))
    return error


def _field(value: Any) -> Any:
    """An error field as the server sent it, or one short line when it is not a plain value."""
    return value if value is None or isinstance(value, (str, int, float)) else one_line(json.dumps(value))


def _summary(headers: Mapping[str, str], content: bytes, reason: str | None, payload: Any) -> str:
    """A message from a body that is not OpenAI-shaped: a message field, short plain text, or the reason."""
    if isinstance(payload, dict):
        found = next((payload[k] for k in ("message", "detail", "error") if isinstance(payload.get(k), str)), None)
        if found and found.strip():
            return found
    if payload is None and headers.get("content-type", "").startswith("text/plain"):
        text = content[:200].decode("utf-8", "replace")
        if text.strip():
            return text
    return reason or "no message"


QUOTED_CHARS = 60  # at most this much of a value a message quotes


def quoted(value: object, limit: int = QUOTED_CHARS) -> str:
    """`value` as a message quotes it: its repr, at most `limit` characters (cut in the middle), and a whole
    number too long to write (repr refuses 4,300 digits) by its length."""
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"<a whole number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits>"
    shorter = reprlib.Repr()
    shorter.maxstring = shorter.maxother = shorter.maxlong = limit
    text = shorter.repr(value)
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[1 - limit // 2 :]}"


def shown(value: object) -> str:
    """`value` as a message shows it: text as written when it is plain and short, else quoted (and cut)."""
    if isinstance(value, str) and value.isprintable() and " " not in value and len(value) <= QUOTED_CHARS:
        return value
    return quoted(value)


def choice_line(name: str, value: object, choices: tuple[str, ...], noun: str) -> str:
    """The line refusing `value` for `name`, which takes one of `choices` (`noun` says what they are)."""
    listed = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
    return f"{name}={quoted(value)} is not {noun}: use {listed}"


def printable(text: str) -> str:
    """`text` with every control or other unprintable character escaped (\\x1b …): a server's words
    never drive the terminal they are printed on."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def one_line(text: object, api_key: str | None = None) -> str:
    """Whitespace folded to single spaces, control characters escaped, at most 300 characters, with the key
    masked."""
    line = masked(printable(" ".join(str(text).split())), api_key)
    return line if len(line) <= 300 else line[:299] + "…"


def masked(value: Any, api_key: str | None) -> Any:
    """`value` (a string, or JSON data: lists and dicts of them) with every occurrence of the key as `***`.

    Applied to every string a server sends where it enters the client, so nothing downstream
    (errors, captions, history, the panel) can echo a key back.
    """
    if not api_key or value is None:
        return value
    if isinstance(value, str):
        return value.replace(api_key, "***") if api_key in value else value
    if isinstance(value, dict):
        return {masked(k, api_key): masked(v, api_key) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, api_key) for v in value]
    return value
