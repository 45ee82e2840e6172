"""One rate limit for a whole run: a 429 or an exhausted request quota pauses every request of it.

The client retries a 429 itself; a `RateGate` shared by the run's requests makes the others wait
too. Before sending, each request awaits `wait()`; after each answer, the client calls
`observe(status, headers)`: a 429 closes the gate for its Retry-After (`retry-after-ms`,
`Retry-After`, else the SDK's first backoff), and `x-ratelimit-remaining-requests: 0` closes it
until `x-ratelimit-reset-requests` (e.g. `1s`, `6m0s`, `250ms`).
"""

from __future__ import annotations

import asyncio
import re
import time
from types import SimpleNamespace

from .retry import retry_delay

MAX_PAUSE = 120.0  # seconds, as the client caps Retry-After
_RESET = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def reset_seconds(value: str | None) -> float | None:
    """Seconds in an `x-ratelimit-reset-requests` value such as '1s', '6m0s' or '250ms'; None if unreadable."""
    parts = _RESET.findall(value or "")
    if not value or not parts or _RESET.sub("", value.strip()):
        return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


class RateGate:
    """Shared by the requests of one run: closed until `until` (on `clock`), after a 429 or an empty quota."""

    def __init__(self, *, sleep=asyncio.sleep, clock=time.monotonic):
        self.sleep = sleep
        self.clock = clock
        self.until = 0.0
        self.pauses = 0  # how many answers closed the gate

    def __repr__(self):
        return f"<RateGate closed for {max(0.0, self.until - self.clock()):.1f} s, {self.pauses} pauses>"

    async def wait(self) -> None:
        """Return when the gate is open (at once when it is)."""
        delay = self.until - self.clock()
        if delay > 0:
            await self.sleep(delay)

    def observe(self, status: int, headers) -> None:
        """Read an answer's status and headers; close the gate as long as they ask."""
        pause = retry_delay(SimpleNamespace(headers=headers), 0) if status == 429 else 0.0
        if headers.get("x-ratelimit-remaining-requests") == "0":
            pause = max(pause, reset_seconds(headers.get("x-ratelimit-reset-requests")) or 0.0)
        if pause > 0:
            self.pauses += 1
            self.until = max(self.until, self.clock() + min(pause, MAX_PAUSE))
