"""The retry policy the official SDK uses, shared by every client of the API (images, files, batches).

Which answers are retried (408, 409, 429, 5xx, or what `x-should-retry` says; never an exhausted
quota, whose 429 no wait gets past, nor a moderation refusal), how long to wait
(`retry-after-ms` or `Retry-After`, seconds or a date, up to 120 s; else 0.5 s doubling to 8 s with
jitter), and the words for a status line.
"""

from __future__ import annotations

import email.utils
import random
import time

from .errors import APIError, ContentPolicyViolationError

CONNECT_TIMEOUT = 10.0  # seconds to connect, whatever the call's timeout
MAX_RETRY_AFTER = 120.0
_RETRY_STATUS = {408, 409, 429}
NEVER_RETRIED = {"insufficient_quota"}  # an error code or type that no later attempt can get past


def should_retry(resp, error: APIError | None = None) -> bool:
    """True when an error answer (`error`: what it says) may be sent again."""
    if isinstance(error, ContentPolicyViolationError):  # a moderation refusal would be refused again
        return False
    if error is not None and NEVER_RETRIED & {error.code, error.type}:
        return False
    flag = resp.headers.get("x-should-retry")
    if flag in ("true", "false"):
        return flag == "true"
    return resp.status_code in _RETRY_STATUS or resp.status_code >= 500


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 0.5 s doubling to 8 s, less up to a quarter of jitter."""
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


def retry_delay(resp, attempt: int) -> float:
    """Seconds to wait: retry-after-ms or Retry-After (seconds or a date) up to 120 s, else backoff."""
    wait = None
    try:
        if "retry-after-ms" in resp.headers:
            wait = float(resp.headers["retry-after-ms"]) / 1000
        elif "retry-after" in resp.headers:
            value = resp.headers["retry-after"]
            try:
                wait = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                wait = when.timestamp() - time.time()
    except (TypeError, ValueError):
        wait = None
    return wait if wait is not None and 0 <= wait <= MAX_RETRY_AFTER else backoff(attempt)


def reason(status: int) -> str:
    """The status line's words for a retried status."""
    return {429: "rate limited", 408: "request timed out", 409: "conflict"}.get(status, f"server error {status}")


def plain(exc: BaseException) -> str:
    """An exception's message, or its type's name when it has none."""
    return str(exc) or type(exc).__name__
