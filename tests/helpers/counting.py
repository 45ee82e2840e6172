"""The local server (with a per-image delay) on 127.0.0.1 in a thread, counting the image requests it received."""

from __future__ import annotations

import threading

import uvicorn

from imagemagic.server.asgi import create_app


class CountingServer:
    """`create_app(delay=...)` served on loopback; `.generations` counts POST /v1/images/generations."""

    def __init__(self, delay=0.0):
        self.generations = 0
        app = create_app(delay=delay)

        async def counting(scope, receive, send):
            if scope["type"] == "http" and scope["path"].endswith("/images/generations"):
                self.generations += 1
            await app(scope, receive, send)

        config = uvicorn.Config(counting, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.005)
        self.url = f"http://127.0.0.1:{self._server.servers[0].sockets[0].getsockname()[1]}/v1"

    def close(self):
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(5)
