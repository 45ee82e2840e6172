"""Client of POST {base_url}/images/generations over httpx: async core, sync facade.

Sends validated requests, fans out what the API serves one image at a time (streams, dall-e-3),
retries as the official SDK does (2 retries, 0.5 s doubling to 8 s with jitter, honouring
retry-after) but never after a read timeout or a dropped connection unless asked (the provider
may have billed the first attempt), parses JSON and event-stream answers alike, and keeps
every image that arrived in `Progress` so a failure or an interrupt loses nothing.

Hostile servers: each attempt's whole answer must arrive within `timeout` seconds of sending (a
stream of keep-alive comments does not keep a call waiting), an answer or stream event larger than
`max_answer_bytes` is refused, every string a server sends is masked for the key where it enters
(errors.masked), more images than requested are all kept, and `response_format=url` downloads
(bounded in size and time, redirects followed here, at most 5) never go to link-local or cloud
metadata addresses or to schemes other than http(s). Loopback stays allowed.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import random
import time
import weakref
from urllib.parse import urljoin, urlsplit

import httpx

from . import __version__
from .endpoint import resolve
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ImageDataError,
    ImageMagicError,
    TransportError,
    error_from_body,
    error_from_response,
    masked,
)
from .progress import Progress, Status
from .result import GeneratedImage, add_usage
from .sse import EventTooLarge, SSEDecoder

__all__ = ["AsyncImagesClient", "ImagesClient", "Progress", "Status"]

DEFAULT_TIMEOUT = 600.0  # seconds: high-quality generations can take minutes
CONNECT_TIMEOUT = 10.0
MAX_RETRY_AFTER = 120.0
URL_DOWNLOAD_LIMIT = 64 * 1024 * 1024  # bytes
URL_DOWNLOAD_TIMEOUT = 60.0  # seconds for a whole response_format=url download (at most the call's timeout)
MAX_REDIRECTS = 5  # for a download; a POST is never redirected (the key would go along)
MAX_ANSWER_BYTES = 256 * 1024 * 1024  # an answer or one stream event; a 4K PNG is 20-30 MB of base64
ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer read for its message
METADATA_HOSTS = {"metadata", "metadata.google.internal"}
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_RETRY_STATUS = {408, 409, 429}


class AsyncImagesClient:
    """The async client. `endpoint` defaults to what the environment says (see endpoint.resolve).

    `timeout` is seconds for each attempt's whole answer to arrive, counted from sending (a
    download gets the same, at most 60 s); connecting waits at most 10 s. `max_answer_bytes` caps
    an answer and each stream event. `transport` (an httpx transport), `sleep` (the retry wait)
    and `clock` (for elapsed times) are injectable.
    """

    def __init__(
        self,
        endpoint=None,
        *,
        timeout=DEFAULT_TIMEOUT,
        max_retries=2,
        retry_after_send=False,
        max_concurrency=4,
        max_answer_bytes=MAX_ANSWER_BYTES,
        gate=None,
        transport=None,
        notify=None,
        sleep=asyncio.sleep,
        clock=time.monotonic,
    ):
        self.endpoint = endpoint or resolve()
        self.notify = notify
        self.sleep = sleep
        self.clock = clock
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_after_send = retry_after_send
        self.max_concurrency = max_concurrency
        self.max_answer_bytes = max_answer_bytes
        self.gate = gate  # a ratelimit.RateGate every request of one run consults (a 429 slows them all)
        self._transport = transport
        self._http = weakref.WeakKeyDictionary()  # event loop -> httpx.AsyncClient: a pool is bound to its loop

    def __repr__(self):
        return f"<AsyncImagesClient {self.endpoint!r}>"

    def _client(self):
        loop = asyncio.get_running_loop()
        if loop not in self._http:
            timeout = httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
            self._http[loop] = httpx.AsyncClient(timeout=timeout, transport=self._transport, follow_redirects=False)
        return self._http[loop]

    async def aclose(self):
        """Close the connection pool of the running event loop."""
        http = self._http.pop(asyncio.get_running_loop(), None)
        if http is not None:
            await http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def generate(self, request, *, on_event=None, progress=None):
        """Send `request` (validated first) and return an ImageResult.

        `on_event` is called with each GeneratedImage (partials, then finals) and Status line.
        Pass your own `progress` to keep what arrived if you cancel the call.
        """
        request.validated()
        if self.endpoint.base_url is None:  # the local preview server: start it (off the loop) on first use
            from .session import default

            self.endpoint = await default().connect(self.endpoint, self.notify)
        progress = progress or Progress(request.count, on_event)
        started = self.clock()
        semaphore = asyncio.Semaphore(max(1, self.max_concurrency))
        subs, first = request.split(), 0
        jobs = []
        for sub in subs:
            jobs.append(self._guarded(semaphore, sub, first, progress))
            first += sub.count
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        result = progress.result(request, self.clock() - started)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                if isinstance(outcome, ImageMagicError):
                    raise outcome.with_partial(result)
                raise outcome
        return result

    async def _guarded(self, semaphore, sub, first_slot, progress):
        async with semaphore:
            await self._send(sub, first_slot, progress)

    def _wire(self, request):
        """(url, body, content type) of `request`: JSON for a generation, an edit in its wire form (edits.py)."""
        if getattr(request, "operation", "generate") == "edit":
            from .edits import encode

            return (self.endpoint.url(request.model, "edit"), *encode(request))
        body = json.dumps(request.body(), ensure_ascii=False, separators=(",", ":")).encode()
        return self.endpoint.url(request.model), body, "application/json"

    async def _send(self, request, first_slot, progress):
        url, body, content_type = self._wire(request)
        headers = {
            **self.endpoint.headers(),
            "Content-Type": content_type,
            "Accept": "text/event-stream" if request.stream else "application/json",
            "User-Agent": f"jupyter-imagemagic/{__version__}",
        }
        params = self.endpoint.params()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            answered = []  # holds True once the answer's head arrived
            try:
                if self.gate:
                    await self.gate.wait()
                async with (
                    asyncio.timeout(self.timeout) as deadline,
                    self._client().stream("POST", url, content=body, headers=headers, params=params) as resp,
                ):
                    answered.append(True)
                    if self.gate:
                        self.gate.observe(resp.status_code, resp.headers)
                    request_id = self._masked(resp.headers.get("x-request-id"))
                    if resp.status_code >= 400:
                        content = await _read_capped(resp, ERROR_BODY_LIMIT) or b""
                        error = error_from_response(
                            resp.status_code, resp.headers, content, resp.reason_phrase, self.endpoint.api_key
                        )
                        if last or not _should_retry(resp):
                            raise error
                    else:
                        if request_id:
                            progress.request_ids.append(request_id)
                        await self._read(resp, request.count, first_slot, progress, request_id, deadline)
                        return
                await self._pause(progress, _reason(resp.status_code), _retry_delay(resp, attempt))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:
                    raise APIConnectionError(f"could not connect to {self.endpoint.host}: {_plain(exc)}") from exc
                await self._pause(progress, "connection failed", _backoff(attempt))
            except (httpx.TimeoutException, TimeoutError) as exc:
                if last or not self.retry_after_send:
                    raise APITimeoutError(self._timeout_line(answered)) from exc
                await self._pause(progress, "read timeout", _backoff(attempt))
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if last or not self.retry_after_send:
                    raise APIConnectionError(
                        f"the connection to {self.endpoint.host} broke off after the request was sent ({_plain(exc)}); "
                        "it may have been billed, so it was not retried"
                    ) from exc
                await self._pause(progress, "connection dropped", _backoff(attempt))

    def _timeout_line(self, answered):
        within = f"from {self.endpoint.host} within {self.timeout:g} s (the timeout)"
        what = (
            f"no complete answer {within}: the server kept the connection open without finishing"
            if answered
            else f"no answer {within}"
        )
        return f"{what}; the request was sent and may have been billed, so it was not retried"

    def _masked(self, value):
        """A server's string (or JSON data) with the key masked: applied to everything a server sends."""
        return masked(value, self.endpoint.api_key)

    async def _pause(self, progress, reason, delay):
        """Say why and how long in the status line, then wait before the next attempt."""
        progress.status(f"{reason}, retrying in {delay:.1f} s")
        await self.sleep(delay)

    async def _read(self, resp, count, first_slot, progress, request_id, deadline):
        """Read a successful answer of `count` images; `deadline` is lifted once the answer is in (a download
        has its own)."""
        if 300 <= resp.status_code < 400:
            where = self._masked(resp.headers.get("location")) or "nowhere"
            raise TransportError(
                f"HTTP {resp.status_code} from {self.endpoint.host}: the server redirects to {where}; requests are not "
                "followed elsewhere (the key would go along): set the base URL to the new address if you trust it"
            )
        content_type = self._masked(resp.headers.get("content-type", ""))
        if content_type.startswith("text/event-stream"):
            await self._read_stream(resp, count, first_slot, progress, request_id)
            return
        raw = await _read_capped(resp, self.max_answer_bytes)
        if raw is None:
            raise TransportError(self._too_large("the answer"))
        deadline.reschedule(None)
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise TransportError(
                f"the server answered {content_type or 'without a content type'}, not JSON or an event stream"
            ) from exc
        del raw  # from here only the parsed answer is needed: the bytes go while its images are handled
        await self._answer(self._masked(payload), count, first_slot, progress, request_id)

    async def _answer(self, payload, count, first_slot, progress, request_id):
        """Record the images and usage of a parsed (and masked) JSON answer of `count` images."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise TransportError("the server's JSON answer has no data list of images")
        if not payload["data"]:
            raise TransportError("the server's JSON answer holds no images (an empty data list)")
        progress.created = payload.get("created", progress.created)
        usage = _usage(payload)
        add_usage(progress.usage, usage)
        for offset, item in enumerate(payload["data"]):
            slot = progress.slot(first_slot, offset, count)
            progress.image(await self._image_from_item(item, slot, request_id, usage))

    def _too_large(self, what):
        limit = f"{self.max_answer_bytes / 2**20:g} MiB"
        return f"{what} from {self.endpoint.host} is larger than {limit} (max_answer_mb); it was not read further"

    async def _image_from_item(self, item, slot, request_id, usage):
        meta = {
            "index": slot,
            "request_id": request_id,
            "usage": usage,
            "revised_prompt": _text(item.get("revised_prompt")) if isinstance(item, dict) else None,
        }
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            return _checked(GeneratedImage(b64=item["b64_json"], **meta))
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            return _checked(GeneratedImage.from_bytes(await self._download(item["url"], slot), url=item["url"], **meta))
        raise TransportError(f"image {slot + 1} in the answer has neither b64_json nor url")

    async def _download(self, url, slot):
        """The bytes at `url`, which must arrive whole within the download timeout."""
        limit = min(URL_DOWNLOAD_TIMEOUT, self.timeout)
        try:
            async with asyncio.timeout(limit):
                return await self._fetch(url, slot, httpx.Timeout(limit, connect=min(CONNECT_TIMEOUT, limit)))
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise APITimeoutError(f"image {slot + 1}: download failed (not complete within {limit:g} s)") from exc
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"image {slot + 1}: download failed ({_plain(exc)})") from exc

    async def _fetch(self, url, slot, timeout):
        """GET `url`, following redirects here so that every address on the way is checked."""
        for _ in range(MAX_REDIRECTS + 1):
            await _check_download(url, slot)
            async with self._client().stream("GET", url, timeout=timeout) as resp:
                if resp.is_redirect:
                    url = urljoin(url, self._masked(resp.headers["location"]))
                    continue
                if resp.status_code >= 300:
                    raise TransportError(f"image {slot + 1}: download failed with HTTP {resp.status_code}")
                data = await _read_capped(resp, URL_DOWNLOAD_LIMIT)
                if data is None:
                    raise ImageDataError(
                        f"image {slot + 1}: download refused, larger than {URL_DOWNLOAD_LIMIT:,} bytes"
                    )
                return data
        raise TransportError(f"image {slot + 1}: download refused after {MAX_REDIRECTS} redirects")

    async def _read_stream(self, resp, count, first_slot, progress, request_id):
        decoder, done = SSEDecoder(max_event_bytes=self.max_answer_bytes), 0

        def slot():
            return progress.slot(first_slot, done, count)

        try:
            async for chunk in resp.aiter_bytes():
                for event in decoder.feed(chunk):
                    done += self._stream_event(event, slot, progress, request_id)
            for event in decoder.close():
                done += self._stream_event(event, slot, progress, request_id, at_end=True)
        except EventTooLarge:
            raise TransportError(self._too_large("a stream event")) from None
        if not done:
            raise TransportError("the stream ended without a completed image")

    def _stream_event(self, event, slot, progress, request_id, at_end=False):
        """Handle one event (`at_end`: delivered by the stream's end, not a blank line); `slot()` is
        where its image goes. A partial that is not an acceptable image is skipped with a status line.

        Returns 1 when it completed an image, else 0."""
        parsed = self._event_payload(event, request_id, at_end)
        if parsed is None:
            return 0
        kind, payload = parsed
        if not kind.endswith(("partial_image", "completed")):
            return 0
        b64 = payload.get("b64_json")
        if not isinstance(b64, str):
            raise TransportError(f"a {kind!r} event carries no b64_json image")
        partial = kind.endswith("partial_image")
        index = payload.get("partial_image_index")
        img = GeneratedImage(
            b64=b64,
            index=slot(),
            partial=partial,
            partial_index=index if partial and isinstance(index, int) else None,
            revised_prompt=_text(payload.get("revised_prompt")),
            request_id=request_id,
            usage=_usage(payload),
        )
        if partial:
            try:
                _checked(img)
            except ImageDataError as exc:
                progress.status(f"partial skipped: {exc}")
                return 0
        else:
            _checked(img)
            add_usage(progress.usage, img.usage)
            progress.created = payload.get("created_at", progress.created)
        progress.image(img)
        return 0 if partial else 1

    def _event_payload(self, event, request_id, at_end=False):
        """(type, masked JSON payload) of a stream event, None for `[DONE]`; an error event raises its APIError."""
        if event.data.strip() == b"[DONE]":
            return None
        name = self._masked(event.event)
        try:
            payload = self._masked(json.loads(event.data))
        except ValueError as exc:
            if at_end:
                raise TransportError(f"the stream ended inside a {name!r} event (truncated JSON)") from exc
            raise TransportError(f"malformed JSON in a {name!r} event of the stream") from exc
        if not isinstance(payload, dict):
            raise TransportError(f"unexpected data in a {name!r} event of the stream")
        if isinstance(payload.get("error"), dict):
            raise error_from_body(payload, None, request_id, self.endpoint.api_key)
        kind = payload.get("type") or name
        if not isinstance(kind, str):
            raise TransportError(f"a {name!r} event of the stream has a type that is not a string")
        return kind, payload


class ImagesClient:
    """The sync facade of AsyncImagesClient (inside Jupyter's running loop it nests via nest-asyncio2)."""

    def __init__(self, endpoint=None, **options):
        self._async = AsyncImagesClient(endpoint, **options)

    def __repr__(self):
        return f"<ImagesClient {self.endpoint!r}>"

    @property
    def endpoint(self):
        """The resolved Endpoint."""
        return self._async.endpoint

    def generate(self, request, *, on_event=None, progress=None):
        """Send `request` and return an ImageResult (see AsyncImagesClient.generate).

        On Ctrl-C the connection is closed and the KeyboardInterrupt carries `.partial`.
        """
        from .session import default

        progress = progress or Progress(request.count, on_event)
        coro = self._async.generate(request, progress=progress)
        return default().run_sync(coro, on_interrupt=lambda: progress.result(request))

    def close(self):
        """Close the connection pool."""
        from .session import default

        default().run_sync(self._async.aclose())


async def _read_capped(resp, limit):
    """The body of `resp`, or None once it is larger than `limit` bytes (declared or counted)."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in resp.aiter_bytes():
        if len(body) + len(chunk) > limit:
            return None
        body += chunk  # grown in place: never the chunks and their join alive at once
    return body


async def _check_download(url, slot):
    """Refuse a download URL that is not http(s) or whose host is (or resolves to) a link-local or
    cloud metadata address; the resolution is only checked, not pinned."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ImageDataError(
            f"image {slot + 1}: refused to download {parts.scheme or 'a relative'}: URL (only http and https)"
        )
    host = (parts.hostname or "").rstrip(".").lower()
    refused = ImageDataError(
        f"image {slot + 1}: refused to download from {host}: a link-local or cloud metadata address"
    )
    if host in METADATA_HOSTS:
        raise refused
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            raise APIConnectionError(
                f"image {slot + 1}: download failed (cannot resolve {host}: {_plain(exc)})"
            ) from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        address = getattr(address, "ipv4_mapped", None) or address
        if address.is_link_local or address in METADATA_ADDRESSES:
            raise refused


def _text(value):
    """A string field of an answer, or None when the server sent something else."""
    return value if isinstance(value, str) else None


def _usage(payload):
    """The payload's usage object, or None when it is missing or not an object."""
    usage = payload.get("usage")
    return usage if isinstance(usage, dict) else None


def _checked(img):
    """Refuse an image that is empty, not an image, or a decompression bomb, before anything shows or stores it."""
    if not img.data:  # raises ImageDataError for invalid base64
        raise ImageDataError(f"image {img.index + 1}: the data is empty")
    if img.format and img.image:  # each raises ImageDataError; opening reads the header, not the pixels
        return img


def _should_retry(resp):
    flag = resp.headers.get("x-should-retry")
    if flag in ("true", "false"):
        return flag == "true"
    return resp.status_code in _RETRY_STATUS or resp.status_code >= 500


def _backoff(attempt):
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


def _retry_delay(resp, attempt):
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
    return wait if wait is not None and 0 <= wait <= MAX_RETRY_AFTER else _backoff(attempt)


def _reason(status):
    return {429: "rate limited", 408: "request timed out", 409: "conflict"}.get(status, f"server error {status}")


def _plain(exc):
    return str(exc) or type(exc).__name__
