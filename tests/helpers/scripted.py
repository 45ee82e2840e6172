"""A raw HTTP/1.1 server on 127.0.0.1 whose answer to each request is scripted, for fault tests.

Each step is a coroutine function `step(writer)` that writes (or withholds) the answer; the n-th
request gets the n-th step. Every connection is closed after its answer (`Connection: close`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading

import pytest
from PIL import Image


def png_b64(size=(8, 8), colour=(200, 40, 40)):
    """A small valid PNG as base64 text."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def _head(status, headers):
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def reply(status=200, body=None, headers=None, raw=None, length=True):
    """A complete answer: `body` as JSON (or `raw` bytes), with Content-Length (or, `length=False`,
    without: the answer ends when the connection closes)."""
    data = raw if raw is not None else json.dumps(body if body is not None else ok_body()).encode()
    heads = {"Content-Type": "application/json", "x-request-id": "req_test", **(headers or {})}
    if length:
        heads["Content-Length"] = str(len(data))

    async def step(writer):
        writer.write(_head(status, heads) + data)

    return step


def ok_body(b64=None, **extra):
    """A JSON images answer with one image."""
    return {
        "created": 1,
        "data": [{"b64_json": b64 or png_b64(), **extra}],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }


def event(kind, **payload):
    """One event-stream event of the Images API as bytes."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


def partial_event(b64=None):
    """A valid partial-image event."""
    return event(
        "image_generation.partial_image",
        b64_json=b64 or png_b64(colour=(90, 90, 90)),
        partial_image_index=0,
        size="8x8",
    )


def completed_event(b64=None):
    """A valid completed event."""
    return event(
        "image_generation.completed",
        b64_json=b64 or png_b64(),
        size="8x8",
        usage={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    )


def stream(*chunks, hang=None, headers=None):
    """An event stream answer sending `chunks` (bytes); then it ends, or stays open until `hang` is set."""
    heads = {"Content-Type": "text/event-stream", "x-request-id": "req_test", **(headers or {})}

    async def step(writer):
        writer.write(_head(200, heads))
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        if hang is not None:
            await asyncio.get_running_loop().run_in_executor(None, hang.wait)

    return step


def keep_alive(every=0.1, head=b""):
    """An event stream that sends `head`, then a keep-alive comment every `every` seconds, forever."""

    async def step(writer):
        writer.write(_head(200, {"Content-Type": "text/event-stream", "x-request-id": "req_test"}) + head)
        while True:
            writer.write(b": keep-alive\n\n")
            await writer.drain()
            await asyncio.sleep(every)

    return step


def trickle(data, every=0.1, content_type="image/png"):
    """An answer declaring all of `data` but sending it one byte every `every` seconds."""

    async def step(writer):
        writer.write(_head(200, {"Content-Type": content_type, "Content-Length": str(len(data))}))
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(every)

    return step


def redirect(location, status=302):
    """A redirect to `location`."""
    return reply(status, raw=b"", headers={"Location": location, "Content-Type": "text/html"})


def drop():
    """Read the request, then close the connection without answering."""

    async def step(writer):
        return None

    return step


def stall(seconds):
    """Answer nothing for `seconds`, then close."""

    async def step(writer):
        await asyncio.sleep(seconds)

    return step


class ScriptedServer:
    """Serves `steps` in order (then `default`, a plain success), recording each request's head and body."""

    def __init__(self, *steps, default=None):
        self.steps = list(steps)
        self.default = default or reply()
        self.requests = []
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(5)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _run(self, ready):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            body = await reader.readexactly(length)
            self.requests.append((head.decode("latin-1"), body))
            step = self.steps.pop(0) if self.steps else self.default
            await step(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # close() ends an answer that never finishes (keep_alive, stall)
            pass
        finally:
            writer.close()

    def close(self):
        """Stop serving, end unfinished answers and the thread."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self):
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def refused_url():
    """A loopback base URL where nothing listens (the connection is refused before any request)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def scripted():
    """Start ScriptedServers (`scripted(*steps)`); all are closed after the test."""
    servers = []

    def start(*steps, **options):
        server = ScriptedServer(*steps, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
