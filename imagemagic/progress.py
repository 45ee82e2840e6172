"""What a call has received so far, and the events its front end hears: images and status lines.

`Progress` keeps one slot per requested image (the latest partial, then the final image), so a
failure or an interrupt still returns everything that arrived. An image the server sent beyond what
was asked (`n`) is ignored: it gets no slot and is never spooled to disk, and `lines()` says how many were
(and how many of `n` arrived, when fewer did), once the whole plan is in. `Status` is a line for the status
display (a retry, a wait). `spool()` says where an incoming image's bytes are decoded to (memory unless
the caller gives the history store's spool).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .result import ImageResult
from .spool import MemorySpool, Spool


@dataclass(frozen=True)
class Status:
    """A progress message for the status line (a retry, a wait)."""

    message: str


class Progress:
    """What has arrived so far, slot by slot: the latest partial or the final image of each."""

    def __init__(self, count, on_event=None, on_final=None, spool: Callable[[], Spool] = MemorySpool):
        self.slots = [None] * count
        self.requested = count
        self._ignored: set[tuple[int, int]] = set()  # (first slot, offset) of each image beyond its request's count
        self.usage: dict = {}
        self.request_ids: list[str] = []
        self.created = None
        self._on_event = on_event
        self._on_final = on_final
        self.spool = spool  # gives each incoming image a spool to be decoded into (store: the history folder)

    def slot(self, first: int, offset: int, count: int) -> int | None:
        """The slot of the `offset`-th image of a request whose `count` images start at slot `first`, or None
        for an image beyond `count`: it is ignored (counted once, however often it is asked for)."""
        if offset < count:
            while len(self.slots) <= first + offset:  # a dialect keeping more than n (Responses' tool calls)
                self.slots.append(None)
            return first + offset
        self._ignored.add((first, offset))
        return None

    def lines(self) -> list[str]:
        """What the run path says of the whole plan's images: those ignored beyond `n`, or fewer than `n`."""
        kept = sum(1 for img in self.slots if img is not None and not img.partial)
        n = self.requested
        if self._ignored:
            sent = kept + len(self._ignored)
            return [f"the server sent {sent} images for n={n}: kept {kept}, ignored {len(self._ignored)}"]
        if kept > n:
            return [f"the model made {kept} images for n={n}: all are kept (each image call is billed)"]
        return [f"{kept} of {n} images arrived (n={n})"] if kept < n else []

    def image(self, img):
        """Record an image (a partial never replaces a final) and pass it on."""
        current = self.slots[img.index]
        if current is not None and not current.partial:
            return
        if not img.partial and self._on_final:
            self._on_final(img)
        self.slots[img.index] = img
        if self._on_event:
            self._on_event(img)

    def status(self, message):
        """Pass a status line on."""
        if self._on_event:
            self._on_event(Status(message))

    def result(self, request=None, elapsed=None):
        """An ImageResult of every slot that has an image, in order."""
        return ImageResult(
            [img for img in self.slots if img is not None],
            usage=self.usage,
            request_ids=self.request_ids,
            created=self.created,
            elapsed=elapsed,
            request=request,
        )
