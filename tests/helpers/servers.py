"""Serving an ASGI app on loopback for tests."""

from __future__ import annotations


def serve_in_thread(app):
    """Serve any ASGI app on 127.0.0.1 (ephemeral port) in a thread; return (base, stop)."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", lambda: (setattr(server, "should_exit", True), thread.join(5))
