"""Client of POST {base_url}/images/generations over httpx: async core, sync facade.

Sends validated requests, fans out what the API serves one image at a time (streams, dall-e-3),
retries as the official SDK does (retry.py) but never after a read timeout or a dropped connection
unless asked (the provider may have billed the first attempt), and keeps every image that arrived in
`Progress` so a failure or an interrupt loses nothing. Reading an answer is answers.py's job (each
image decoded as it arrives, never the answer held); `response_format=url` downloads are downloads.py's.

Hostile servers: each attempt's whole answer must arrive within `timeout` seconds of sending (a
stream of keep-alive comments does not keep a call waiting), an answer or stream event larger than
`max_answer_bytes` is refused, every string a server sends is masked for the key where it enters
(errors.masked), and a POST is never redirected (the key would go along).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from ._version import __version__
from .answers import AnswerReader
from .downloads import download
from .endpoint import Endpoint, resolve
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ImageMagicError,
    TransportError,
    masked,
    read_error,
)
from .loop import run_sync
from .progress import Progress, Status
from .retry import CONNECT_TIMEOUT, backoff, plain, reason, retry_delay, should_retry

if TYPE_CHECKING:
    from .ratelimit import RateGate
    from .request import ImageRequest
    from .responses_request import ResponsesRequest
    from .result import GeneratedImage, ImageResult

__all__ = ["AsyncImagesClient", "ImagesClient", "Progress", "Status"]

DEFAULT_TIMEOUT = 600.0  # seconds: high-quality generations can take minutes
MAX_ANSWER_BYTES = 256 * 1024 * 1024  # an answer or one stream event; a 4K PNG is 20-30 MB of base64

Connect = Callable[[Endpoint, Callable[[str], None] | None], Awaitable[Endpoint]]
OnEvent = Callable[["GeneratedImage | Status"], object]  # hears each image (partials, then finals) and Status line


class AsyncImagesClient:
    """The async client. `endpoint` defaults to what the environment says (see endpoint.resolve).

    `timeout` is seconds for each attempt's whole answer to arrive, counted from sending (a
    download gets the same, at most 60 s); connecting waits at most 10 s. `max_answer_bytes` caps
    an answer and each stream event. `transport` (an httpx transport), `sleep` (the retry wait)
    and `clock` (for elapsed times) are injectable. `connect(endpoint, notify)` gives an endpoint
    without an address (the offline preview server) its address: Session.connect, which starts that
    server; without it such an endpoint is refused in one line.
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_after_send: bool = False,
        max_concurrency: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        gate: RateGate | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        notify: Callable[[str], None] | None = None,
        connect: Connect | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint or resolve()
        self.connect = connect
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
        self._http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )  # a connection pool is bound to its event loop

    ROUTE: str | None = None  # a dialect's path under the base URL, whose JSON body carries the image request
    READER: type[AnswerReader] = AnswerReader  # what reads its answers (a dialect's subclass)

    def __repr__(self):
        return f"<{type(self).__name__} {self.endpoint!r}>"

    def _client(self):
        loop = asyncio.get_running_loop()
        if loop not in self._http:
            timeout = httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
            self._http[loop] = httpx.AsyncClient(timeout=timeout, transport=self._transport, follow_redirects=False)
        return self._http[loop]

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop."""
        http = self._http.pop(asyncio.get_running_loop(), None)
        if http is not None:
            await http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def generate(
        self,
        request: ImageRequest | ResponsesRequest,
        *,
        on_event: OnEvent | None = None,
        progress: Progress | None = None,
    ) -> ImageResult:
        """Send `request` (validated first) and return an ImageResult.

        `on_event` is called with each GeneratedImage (partials, then finals) and Status line.
        Pass your own `progress` to keep what arrived if you cancel the call.
        """
        request.validated()
        if self.endpoint.base_url is None:  # the local preview server: started (off the loop) on first use
            if self.connect is None:
                raise TransportError(
                    f"the endpoint has no address ({self.endpoint.reason}: the offline preview server); "
                    "give the client connect=imagemagic.session.default().connect, or call imagemagic.generate"
                )
            self.endpoint = await self.connect(self.endpoint, self.notify)
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
        """(url, body, content type) of `request`: a dialect's JSON body at its ROUTE; else JSON for a generation,
        an edit in its wire form (edits.py)."""
        if self.ROUTE is not None:
            url, payload = f"{self.endpoint.base_url}/{self.ROUTE}", request.wire_body()
        elif getattr(request, "operation", "generate") == "edit":
            from .edits import encode

            return (self.endpoint.url(request.model, "edit"), *encode(request))
        else:
            url, payload = self.endpoint.url(request.model), request.body()
        return url, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), "application/json"

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
                        error = await read_error(resp, self.endpoint.api_key)
                        if last or not should_retry(resp, error):
                            raise error
                    else:
                        if request_id:
                            progress.request_ids.append(request_id)
                        if 300 <= resp.status_code < 400:
                            raise TransportError(self._redirect_line(resp))
                        await self._reader.read(resp, request.count, first_slot, progress, request_id, deadline)
                        return
                await self._pause(progress, reason(resp.status_code), retry_delay(resp, attempt))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:
                    raise APIConnectionError(f"could not connect to {self.endpoint.host}: {plain(exc)}") from exc
                await self._pause(progress, "connection failed", backoff(attempt))
            except (httpx.TimeoutException, TimeoutError) as exc:
                if last or not self.retry_after_send:
                    raise APITimeoutError(self._timeout_line(answered)) from exc
                await self._pause(progress, "read timeout", backoff(attempt))
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if last or not self.retry_after_send:
                    raise APIConnectionError(
                        f"the connection to {self.endpoint.host} broke off after the request was sent ({plain(exc)}); "
                        "it may have been billed, so it was not retried"
                    ) from exc
                await self._pause(progress, "connection dropped", backoff(attempt))

    def _timeout_line(self, answered):
        within = f"from {self.endpoint.host} within {self.timeout:g} s (the timeout)"
        what = (
            f"no complete answer {within}: the server kept the connection open without finishing"
            if answered
            else f"no answer {within}"
        )
        return f"{what}; the request was sent and may have been billed, so it was not retried"

    def _redirect_line(self, resp):
        where = self._masked(resp.headers.get("location")) or "nowhere"
        return (
            f"HTTP {resp.status_code} from {self.endpoint.host}: the server redirects to {where}; requests are not "
            "followed elsewhere (the key would go along): set the base URL to the new address if you trust it"
        )

    @property
    def _reader(self):
        return self.READER(self.endpoint.host, self.endpoint.api_key, self.max_answer_bytes, self._download)

    async def _download(self, url, slot):
        return await download(self._client(), url, slot, self.timeout, self._masked, self.endpoint)

    def _masked(self, value):
        """A server's string (or JSON data) with the key masked: applied to everything a server sends."""
        return masked(value, self.endpoint.api_key)

    async def _pause(self, progress, reason, delay):
        """Say why and how long in the status line, then wait before the next attempt."""
        progress.status(f"{reason}, retrying in {delay:.1f} s")
        await self.sleep(delay)


class ImagesClient:
    """The sync facade of AsyncImagesClient (inside Jupyter's running loop it nests via nest-asyncio2);
    outside one it runs on a private event loop per thread, so connections are reused between calls."""

    def __init__(self, endpoint: Endpoint | None = None, **options: Any) -> None:
        self._async = AsyncImagesClient(endpoint, **options)
        self._local = threading.local()  # each thread's private event loop

    def __repr__(self):
        return f"<ImagesClient {self.endpoint!r}>"

    @property
    def endpoint(self) -> Endpoint:
        """The resolved Endpoint."""
        return self._async.endpoint

    def _private_loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
        return loop

    def generate(
        self,
        request: ImageRequest | ResponsesRequest,
        *,
        on_event: OnEvent | None = None,
        progress: Progress | None = None,
    ) -> ImageResult:
        """Send `request` and return an ImageResult (see AsyncImagesClient.generate).

        On Ctrl-C the connection is closed and the KeyboardInterrupt carries `.partial`.
        """
        progress = progress or Progress(request.count, on_event)
        coro = self._async.generate(request, progress=progress)
        return run_sync(coro, on_interrupt=functools.partial(progress.result, request), private_loop=self._private_loop)

    def close(self) -> None:
        """Close the connection pool."""
        run_sync(self._async.aclose(), private_loop=self._private_loop)
