"""Reading a successful answer, JSON or event stream, each image decoded as it arrives.

The body is never held: chunks go through the event-stream decoder (sse.SSEStream) and the JSON
scanner (b64scan), which decodes every `b64_json` value straight into a spool from
`progress.spool()` (a file in the history folder, or memory) and keeps only the small rest of the
answer for `json.loads`: ids, usage, revised prompt, created, the event's type, all parsed and checked
as before. An answer (or one stream event) larger than `max_answer_bytes` is refused, every string a
server sends is masked for the key (errors.masked), an image beyond what was requested is ignored (its
bytes go to a NullSpool, never to disk; Progress counts it and the run path says so), and an
image that is not one is refused before anything shows or stores it (a partial is skipped with a
status line). A spool no image took is deleted.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable

import httpx

from .b64scan import IMAGES_KEYS, URL_KEYS, B64Scanner, marker_index
from .downloads import check_data_url, data_url_bytes, data_url_invalid
from .errors import ContentPolicyViolationError, ImageDataError, TransportError, error_from_body, masked
from .progress import Progress
from .result import GeneratedImage, add_usage
from .spool import NullSpool, Spool, remove
from .sse import EventTooLarge, SSEStream


def _made(sink: Spool, slot: int, **meta) -> GeneratedImage:
    """The image whose bytes `sink` holds; its file (a partial's, or one never stored) goes when the image does."""
    img = GeneratedImage(index=slot, **meta, **sink.finish())
    if img.spooled is not None:
        weakref.finalize(img, remove, img.spooled)
    return img


class SpooledURL:
    """A data URL of an answer whose base64 was streamed into a spool: taken from its document as it is read,
    judged when its image is made (so a later refusal leaves earlier images and the usage as they came)."""

    def __init__(self, head: str, sink: Spool, error: str | None):
        self.head, self.sink, self.error = head, sink, error

    def image(self, slot: int, limit: int, **meta) -> GeneratedImage:
        """Image `slot`, checked as downloads.data_url_bytes checks a data URL given whole (the same lines, in the
        same order), in an answer capped at `limit` bytes."""
        try:
            check_data_url(self.head, self.sink.size, slot, limit)
            if self.error is not None:
                raise data_url_invalid(slot)
        except ImageDataError:
            self.sink.discard()
            raise
        return checked(_made(self.sink, slot, **meta))

    def discard(self) -> None:
        """Delete the spool: its image is not made."""
        self.sink.discard()


class _Images:
    """The images of one JSON document being scanned: the scanner, and which spools an image took."""

    def __init__(self, progress: Progress, reader: AnswerReader, wanted: Callable[[int], bool]):
        """`reader`: the dialect, whose image keys (`KEYS`, `URL_KEYS`) are spooled; `wanted(k)`: whether the
        k-th value is an image kept (else it goes to the dialect's `PAST_N` spool)."""
        self.scanner: B64Scanner[Spool] = B64Scanner(
            lambda: progress.spool() if wanted(len(self.scanner.sinks)) else reader.PAST_N(),
            reader.KEYS,
            reader.URL_KEYS,
        )
        self._masked = reader._masked
        self._taken: set[int] = set()

    def image(self, value: str, slot: int, **meta) -> GeneratedImage:
        """The image a `b64_json` value stands for: a spooled one (by its marker) or literal base64 text."""
        k = marker_index(value)
        scanner = self.scanner
        if k is None or k >= len(scanner.sinks) or k in self._taken:
            return GeneratedImage(b64=value, index=slot, **meta)
        self._taken.add(k)
        if k in scanner.errors:
            scanner.sinks[k].discard()
            raise ImageDataError(f"image {slot + 1}: the base64 data is invalid ({scanner.errors[k]})")
        return _made(scanner.sinks[k], slot, **meta)

    def take_url(self, url: str) -> SpooledURL | None:
        """The data URL `url`, taken, when its base64 was streamed into a spool: the marker of a URL key's value
        (its head kept by the scanner), or a `data:` head and the marker of a base64 value (an inline part)."""
        head, comma, rest = url.rpartition(",")
        k, scanner = marker_index(rest), self.scanner
        if k is None or k >= len(scanner.sinks) or k in self._taken:
            return None
        if not comma:
            head = scanner.heads.get(k, "")
        elif k in scanner.heads or head[:5].lower() != "data:":
            return None
        if not head:
            return None
        self._taken.add(k)
        return SpooledURL(self._masked(head), scanner.sinks[k], scanner.errors.get(k))

    def discard(self) -> None:
        """Delete every spool no image took."""
        for k, sink in enumerate(self.scanner.sinks):
            if k not in self._taken:
                sink.discard()
        self._taken.update(range(len(self.scanner.sinks)))


class AnswerReader:
    """Reads the answers of one endpoint (`host`, `api_key` for masking) into a Progress; `download(url,
    slot)` fetches a `response_format=url` image.

    The Images API's dialect; another (the Responses API's, responses_client) names its image keys in `KEYS`
    (what b64scan spools) and reads its parsed answers in `_answer` (a JSON answer) and `_event_of` (one
    stream event, its images taken with `images.image(value, slot, **meta)`), the reading itself shared."""

    KEYS: tuple[bytes, ...] = IMAGES_KEYS
    URL_KEYS: tuple[bytes, ...] = URL_KEYS  # keys whose value, when a data: URL, is spooled too (b64scan)
    PAST_N: Callable[[], Spool] = NullSpool  # where a value past n goes: its k-th value is its k-th image

    def __init__(
        self, host: str, api_key: str | None, max_answer_bytes: int, download: Callable[[str, int], Awaitable[bytes]]
    ):
        self.host = host
        self.api_key = api_key
        self.max_answer_bytes = max_answer_bytes
        self.download = download

    def _masked(self, value):
        return masked(value, self.api_key)

    def too_large(self, what: str) -> str:
        """The line refusing an answer or event past the cap."""
        limit = f"{self.max_answer_bytes / 2**20:g} MiB"
        return f"{what} from {self.host} is larger than {limit} (max_answer_mb); it was not read further"

    async def read(self, resp: httpx.Response, count: int, first_slot: int, progress: Progress, request_id, deadline):
        """Read a successful answer of `count` images into slots from `first_slot`; `deadline` is lifted once
        a JSON answer is in (a download has its own)."""
        content_type = self._masked(resp.headers.get("content-type", ""))
        if content_type.startswith("text/event-stream"):
            await self._stream(resp, count, first_slot, progress, request_id)
        else:
            await self._json(resp, content_type, count, first_slot, progress, request_id, deadline)

    async def _json(self, resp, content_type, count, first_slot, progress, request_id, deadline):
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_answer_bytes:
            raise TransportError(self.too_large("the answer"))
        images = _Images(progress, self, lambda k: k < count)  # as progress.slot decides, without counting
        received = 0
        try:
            async for chunk in resp.aiter_bytes():
                received += len(chunk)
                if received > self.max_answer_bytes:
                    raise TransportError(self.too_large("the answer"))
                images.scanner.feed(chunk)
            deadline.reschedule(None)
            try:
                payload = json.loads(images.scanner.close())
            except ValueError as exc:
                raise TransportError(
                    f"the server answered {content_type or 'without a content type'}, not JSON or an event stream"
                ) from exc
            await self._answer(images, self._masked(payload), count, first_slot, progress, request_id, resp)
        finally:
            images.discard()

    async def _answer(self, images, payload, count, first_slot, progress, request_id, resp):
        """Record the images and usage of a parsed JSON answer (its image values spooled in `images`)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise TransportError("the server's JSON answer has no data list of images")
        if not payload["data"]:  # a 200 with no images: what a provider's moderation answers (never retried)
            raise ContentPolicyViolationError(
                f"{self.host} answered with no images (an empty data list): its moderation refused the request",
                status_code=resp.status_code,
                request_id=request_id,
            )
        progress.created = payload.get("created", progress.created)
        usage = _usage(payload)
        add_usage(progress.usage, usage)
        for offset, item in enumerate(payload["data"]):
            slot = progress.slot(first_slot, offset, count)
            if slot is not None:  # else ignored: beyond what was asked
                progress.image(await self._item(images, item, slot, request_id, usage))

    async def _item(self, images, item, slot, request_id, usage):
        meta = {
            "request_id": request_id,
            "usage": usage,
            "revised_prompt": text_field(item.get("revised_prompt")) if isinstance(item, dict) else None,
        }
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            return checked(images.image(item["b64_json"], slot, **meta))
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            spooled = images.take_url(item["url"])
            if spooled is not None:
                return spooled.image(slot, self.max_answer_bytes, **meta)
            return await self.url_image(item["url"], slot, **meta)
        raise TransportError(f"image {slot + 1} in the answer has neither b64_json nor url")

    async def url_image(self, url: str, slot: int, **meta) -> GeneratedImage:
        """Image `slot` given as `url`, checked: a data: URL decoded here (downloads.data_url_bytes, bounded by
        max_answer_bytes and the download cap), any other downloaded (`download`)."""
        if url[:5].lower() == "data:":  # the scheme, in any case (RFC 2397)
            return checked(
                GeneratedImage.from_bytes(data_url_bytes(url, slot, self.max_answer_bytes), index=slot, **meta)
            )
        return checked(GeneratedImage.from_bytes(await self.download(url, slot), url=url, index=slot, **meta))

    async def _stream(self, resp, count, first_slot, progress, request_id):
        done = 0

        def slot():
            return progress.slot(first_slot, done, count)

        def keeps(name: str, k: int) -> bool:  # the k-th value of an event named `name`: as slot() will decide
            return self._keeps(name) and done + k < count

        sse, state = SSEStream(max_event_bytes=self.max_answer_bytes), _Event(progress, self, keeps)

        try:
            async for chunk in resp.aiter_bytes():
                for kind, value in sse.feed(chunk):
                    if state.take(kind, value):
                        done += self._event(state, slot, progress, request_id)
                        state = _Event(progress, self, keeps)
            for kind, value in sse.close():
                if state.take(kind, value):
                    done += self._event(state, slot, progress, request_id, at_end=True)
        except EventTooLarge as exc:
            raise TransportError(self.too_large("a stream event")) from exc
        finally:
            if state.images is not None:
                state.images.discard()
            self._ended(progress)
        await self._after_stream(done, count, first_slot, progress, request_id)

    async def _after_stream(self, done, count, first_slot, progress, request_id) -> None:
        """The stream ended in full, having completed `done` images: none is one line (a dialect that holds
        its images to the end hands them on here)."""
        if not done:
            raise TransportError("the stream ended without a completed image")

    def _event(self, state, slot, progress, request_id, at_end=False):
        """Handle one event (`at_end`: delivered by the stream's end, not a blank line); `slot()` is where its
        image goes. A partial that is not an acceptable image is skipped with a status line.

        Returns 1 when it completed an image, else 0."""
        images = state.images
        try:
            return self._event_of(images, state.name, slot, progress, request_id, at_end)
        finally:
            images.discard()

    def _keeps(self, name: str) -> bool:
        """Whether a stream event named `name` has images to keep (every one, in the Images API)."""
        return True

    def _ended(self, progress: Progress) -> None:
        """The stream ended (or broke off): pass on what a dialect held back (the Images API holds nothing)."""

    def _event_of(self, images, name, slot, progress, request_id, at_end):
        """Read one event: 1 when it completed an image, else 0."""
        parsed = event_payload(name, images.scanner.close(), request_id, self.api_key, at_end)
        if parsed is None:
            return 0
        kind, payload = parsed
        if not kind.endswith(("partial_image", "completed")):
            return 0
        b64 = payload.get("b64_json")
        if not isinstance(b64, str):
            raise TransportError(f"a {kind!r} event carries no b64_json image")
        partial = kind.endswith("partial_image")
        at = slot()
        if at is None:  # beyond what was asked: ignored, but what the server says it billed is counted
            if not partial:
                add_usage(progress.usage, _usage(payload))
            return 0 if partial else 1
        index = payload.get("partial_image_index")
        meta = {
            "partial": partial,
            "partial_index": index if partial and isinstance(index, int) else None,
            "revised_prompt": text_field(payload.get("revised_prompt")),
            "request_id": request_id,
            "usage": _usage(payload),
        }
        if partial:
            try:
                img = checked(images.image(b64, at, **meta))
            except ImageDataError as exc:
                progress.status(f"partial skipped: {exc}")
                return 0
        else:
            img = checked(images.image(b64, at, **meta))
            add_usage(progress.usage, img.usage)
            progress.created = payload.get("created_at", progress.created)
        progress.image(img)
        return 0 if partial else 1


class _Event:
    """The event being read: its name and, once its data starts, the scanner of that data."""

    def __init__(self, progress: Progress, reader: AnswerReader, keeps: Callable[[str, int], bool]):
        self.progress = progress
        self.reader = reader
        self.keeps = keeps  # whether the k-th value of an event of this name is kept (else not spooled)
        self.name = "message"
        self.images: _Images | None = None

    def take(self, kind: str, value) -> bool:
        """Take one piece of the stream; True when it dispatched an event that has data."""
        if kind == "data":
            self.images.scanner.feed(value)  # type: ignore[union-attr]
        elif kind == "line":
            if self.images is None:
                self.images = _Images(self.progress, self.reader, lambda k: self.keeps(self.name, k))
            else:
                self.images.scanner.feed(b"\n")
        elif kind == "event":
            self.name = value or "message"
        elif kind == "dispatch":
            if self.images is not None:
                return True
            self.name = "message"
        return False


def event_payload(name: str, data: bytes, request_id: str | None, api_key: str | None, at_end: bool = False):
    """(type, masked JSON payload) of a stream event named `name` with `data` (what the JSON scanner kept, or
    the whole data), None for `[DONE]`; an error event raises its APIError; odd data is one TransportError."""
    if data.strip() == b"[DONE]":
        return None
    name = masked(name, api_key)
    try:
        payload = masked(json.loads(data), api_key)
    except ValueError as exc:
        if at_end:
            raise TransportError(f"the stream ended inside a {name!r} event (truncated JSON)") from exc
        raise TransportError(f"malformed JSON in a {name!r} event of the stream") from exc
    if not isinstance(payload, dict):
        raise TransportError(f"unexpected data in a {name!r} event of the stream")
    if isinstance(payload.get("error"), dict):
        raise error_from_body(payload, None, request_id, api_key)
    kind = payload.get("type") or name
    if not isinstance(kind, str):
        raise TransportError(f"a {name!r} event of the stream has a type that is not a string")
    return kind, payload


def text_field(value: object) -> str | None:
    """A string field of an answer, or None when the server sent something else."""
    return value if isinstance(value, str) else None


def _usage(payload):
    """The payload's usage object, or None when it is missing or not an object."""
    usage = payload.get("usage")
    return usage if isinstance(usage, dict) else None


def checked(img: GeneratedImage) -> GeneratedImage:
    """Refuse an image that is empty, not an image, or a decompression bomb, before anything shows or stores it;
    a refused image's spool goes at once (the error, kept by a notebook as its last, would keep it alive)."""
    try:
        img.check()
    except ImageDataError:
        if img.spooled is not None:
            remove(img.spooled)
        raise
    return img
