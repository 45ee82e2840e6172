"""Run the local server: in-process on an ephemeral loopback port, or in the foreground for `imagemagic serve`.

Connections are bounded: at most MAX_CONNECTIONS at once (uvicorn answers 503 beyond), request headers
must arrive within `idle_timeout` seconds of connecting or of the previous response however slowly
they trickle, a body within the same time (408), and an idle keep-alive connection is closed after it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
import time

START_TIMEOUT = 30.0  # seconds for the in-process server to accept connections
IDLE_TIMEOUT = 10.0  # seconds for a request's headers (or body) to arrive, and for an idle keep-alive
MAX_CONNECTIONS = 512
MAX_HEADER_BYTES = 16 * 1024
BACKLOG = 2048  # uvicorn's default
WILDCARDS = ("", "0.0.0.0", "::")


class ListenError(OSError):
    """The server cannot listen on the address asked for; the message says why, in one line."""


def _config(app, host, port, idle_timeout):
    import uvicorn

    from .protocol import HeaderDeadlineProtocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=HeaderDeadlineProtocol,
        timeout_keep_alive=idle_timeout,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


def _app(*, host, delay, api_key, idle_timeout, allow_hosts=(), **limits):
    """The app; the address it binds is a Host it answers to (a wildcard address is no name: --allow-host)."""
    from .asgi import create_app
    from .guard import loopback

    named = () if host in WILDCARDS or loopback(host.strip("[]")) else (host,)
    return create_app(
        delay=delay, api_key=api_key, read_timeout=idle_timeout, allow_hosts=(*named, *allow_hosts), **limits
    )


def warn_if_exposed(host, api_key=None):
    """Print a warning to stderr when `host` is not a loopback address (others can reach the server)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        advice = "" if api_key else "; pass --api-key to require a key"
        print(f"warning: listening on {host}, reachable from other machines{advice}", file=sys.stderr)


def listen(host, port):
    """A socket listening on (host, port), or ListenError saying in one line why there cannot be one."""
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # connections made before uvicorn starts wait in the queue
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} on {host} is in use: stop what uses it, or choose another with --port"
            ) from exc
        raise ListenError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc
    return sock


def start(*, host="127.0.0.1", port=0, delay=None, api_key=None, idle_timeout=IDLE_TIMEOUT, **limits):
    """Start a server in a daemon thread; return (base_url, server, thread) once it accepts connections.

    `limits` go to create_app (pixel_budget=, stash_bytes=, allow_hosts=, models=)."""
    import uvicorn

    warn_if_exposed(host, api_key)
    sock = listen(host, port)
    try:
        bound = sock.getsockname()[1]
        app = _app(host=host, delay=delay, api_key=api_key, idle_timeout=idle_timeout, **limits)
        server = uvicorn.Server(_config(app, host, bound, idle_timeout))
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


def serve(*, host="127.0.0.1", port=8000, delay=None, api_key=None, idle_timeout=IDLE_TIMEOUT, **options):
    """Serve in the foreground until interrupted (`imagemagic serve`); ListenError if the address is taken.

    `options` go to create_app (batch_delay=, allow_hosts=, models=)."""
    import uvicorn

    sock = listen(host, port)
    with sock:
        bound = sock.getsockname()[1]
        warn_if_exposed(host, api_key)
        print(f"imagemagic preview server at http://{_netloc(host)}:{bound}/v1 (Ctrl-C to stop)", file=sys.stderr)
        app = _app(host=host, delay=delay, api_key=api_key, idle_timeout=idle_timeout, **options)
        uvicorn.Server(_config(app, host, bound, idle_timeout)).run(sockets=[sock])
