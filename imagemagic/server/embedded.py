"""Run the local server: in-process on an ephemeral loopback port, or in the foreground for `imagemagic serve`."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time

START_TIMEOUT = 30.0  # seconds for the in-process server to accept connections
_lock = threading.Lock()
_running = None  # (base_url, uvicorn.Server, thread) of the in-process server


def _config(app, host, port):
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")


def warn_if_exposed(host, api_key=None):
    """Print a warning to stderr when `host` is not a loopback address (others can reach the server)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        advice = "" if api_key else "; pass --api-key to require a key"
        print(f"warning: listening on {host}, reachable from other machines{advice}", file=sys.stderr)


def start(*, host="127.0.0.1", port=0, delay=None, api_key=None, batch_delay=None):
    """Start a server in a daemon thread; return (base_url, server, thread) once it accepts connections."""
    import uvicorn

    from .app import create_app

    warn_if_exposed(host, api_key)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound = sock.getsockname()[1]
        app = create_app(delay=delay, api_key=api_key, batch_delay=batch_delay)
        server = uvicorn.Server(_config(app, host, bound))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="imagemagic-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the local preview server failed to start")
            thread.join(0.005)
    except BaseException:
        sock.close()
        raise
    return f"http://{_netloc(host)}:{bound}/v1", server, thread


def _netloc(host):
    return f"[{host}]" if ":" in host else host


def local_server_url():
    """(base_url, started_now) of the in-process preview server, started on first use."""
    global _running
    with _lock:
        if _running is not None and _running[2].is_alive():
            return _running[0], False
        _running = start()
        return _running[0], True


def serve(*, host="127.0.0.1", port=8000, delay=None, api_key=None, batch_delay=None):
    """Serve in the foreground until interrupted (`imagemagic serve`)."""
    import uvicorn

    from .app import create_app

    warn_if_exposed(host, api_key)
    print(f"imagemagic preview server at http://{_netloc(host)}:{port}/v1 (Ctrl-C to stop)", file=sys.stderr)
    config = _config(create_app(delay=delay, api_key=api_key, batch_delay=batch_delay), host, port)
    uvicorn.Server(config).run()
