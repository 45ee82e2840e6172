"""The process's state, made explicit: one Session holds what outlives a call.

That is the usage ledger, the shared clients (one connection pool per endpoint and options), the
local preview server once started (and the key it takes, this session's secret), each thread's
private event loop, and the sleep and clock the clients wait and time with. Every front end uses
`default()`; tests create a fresh `Session(...)` (with a recording `sleep`, say) and pass it where a
call is made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .loop import run_sync
from .store import default_home
from .usage import Ledger

if TYPE_CHECKING:
    import httpx

    from .client import AsyncImagesClient
    from .endpoint import Endpoint
    from .result import ImageResult

T = TypeVar("T")


class Session:
    """Shared state of one process (or one test). `sleep` and `clock` are injected like a transport."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.ledger = Ledger()
        self.sleep = sleep
        self.clock = clock
        self.transport = transport
        self._clients: dict[tuple[Endpoint, str, tuple[tuple[str, Any], ...]], AsyncImagesClient] = {}
        # (base_url, uvicorn.Server, thread) of the local preview server
        self._server: tuple[str, Any, threading.Thread] | None = None
        self._server_key = ""  # the key the local server takes (a new secret each time it starts)
        self._lock = threading.Lock()
        self._local = threading.local()
        # the last complete ImageResult of this process: what a bare --continue refines
        self.last_result: ImageResult | None = None

    def __repr__(self):
        server = f" local server {self._server[0]}" if self._server else ""
        return f"<imagemagic Session: {len(self._clients)} clients{server}>"

    def client(self, endpoint: Endpoint, *, api: str = "images", **options: Any) -> AsyncImagesClient:
        """The client of `api` (images: AsyncImagesClient, responses: AsyncResponsesClient, chat: AsyncChatClient)
        for an endpoint and options, shared so connections are reused."""
        key = (endpoint, api, tuple(sorted(options.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.new_client(endpoint, api=api, **options)
            return self._clients[key]

    def new_client(self, endpoint: Endpoint, *, api: str = "images", **options: Any) -> AsyncImagesClient:
        """A new client of `api` (images: AsyncImagesClient, responses: AsyncResponsesClient) with this
        session's sleep, clock and transport (not shared: the caller closes it; a run's clients with their
        rate gate are made so)."""
        from .chat_client import AsyncChatClient
        from .client import AsyncImagesClient
        from .responses_client import AsyncResponsesClient

        kind = {"responses": AsyncResponsesClient, "chat": AsyncChatClient}.get(api, AsyncImagesClient)
        return kind(
            endpoint, sleep=self.sleep, clock=self.clock, transport=self.transport, connect=self.connect, **options
        )

    def local_server_url(self) -> tuple[str, bool]:
        """(base_url, started_now) of the local preview server, started on first use. Blocks while it starts."""
        url, _, started = self._local_server()
        return url, started

    def local_endpoint(self, endpoint: Endpoint) -> tuple[Endpoint, bool]:
        """(`endpoint` at the local preview server, with its key; started_now). The server takes no other key:
        a random secret made when it starts, held by this session's clients only (never shown)."""
        url, key, started = self._local_server()
        return dataclasses.replace(endpoint, base_url=url, api_key=key), started

    def _local_server(self) -> tuple[str, str, bool]:
        with self._lock:
            if self._server is not None and self._server[2].is_alive():
                return self._server[0], self._server_key, False
            from .server.embedded import start

            self._server_key = secrets.token_urlsafe(32)
            self._server = start(batch_folder=self.server_folder(), api_key=self._server_key)
            return self._server[0], self._server_key, True

    def server_folder(self) -> Path | None:
        """Where the local server keeps its Files and Batches (the history folder's `server/`): a job it runs
        outlives the kernel, and the next kernel's server finishes it. None (a temporary folder) when the
        history folder cannot take it: the run path has said so already, and images still come."""
        folder = default_home() / "server"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return folder

    async def connect(self, endpoint: Endpoint, notify: Callable[[str], None] | None = None) -> Endpoint:
        """The endpoint with an address: the local server is started off the event loop when it is the answer.

        `notify(line)` hears the one line saying the local server was started.
        """
        if endpoint.base_url is not None:
            return endpoint
        found, started = await asyncio.to_thread(self.local_endpoint, endpoint)
        if started and notify:
            notify(f"{endpoint.reason}: using the offline preview server at {found.base_url}")
        return found

    def run_sync(self, coro: Coroutine[Any, Any, T], on_interrupt: Callable[[], object] | None = None) -> T:
        """Run a coroutine from synchronous code (see loop.run_sync), on this thread's private loop if none runs."""
        return run_sync(coro, on_interrupt=on_interrupt, private_loop=self._private_loop)

    def _private_loop(self):
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
        return loop

    def close(self) -> None:
        """Stop the local server, if this session started one."""
        with self._lock:
            if self._server is not None:
                self._server[1].should_exit = True
                self._server[2].join(5)
                self._server = None


_default = Session()


def default() -> Session:
    """The session every front end uses unless given another."""
    return _default
