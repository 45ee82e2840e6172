"""Who may call the local server, and with what: the checks every request passes before any route runs.

- **Host**: a loopback name (127.0.0.0/8, `localhost`, `[::1]`) with the server's own port, or a name the
  server was given (`allow_hosts`: `imagemagic serve --allow-host NAME`, any port). Anything else, a DNS
  rebinding page's own name included, is refused (403 host_not_allowed) and nothing else runs.
- **Origin**: a request a web page sends carries its origin; one not on this machine (nor an allowed name),
  `null` included, is refused (403 origin_not_allowed). The server never sends CORS headers.
- **Content type**: a POST, PUT or PATCH must carry a content type its route `takes` (shared.takes; JSON
  only unless the route declares others), else 415 unsupported_content_type naming the one it got: no
  `text/plain` or form post a page can send without asking reaches a route. A request with no body may
  omit it (cancelling a batch).
Every route of the app, including routes added later, is behind these checks (asgi.create_app).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match

from ..errors import quoted
from .shared import JSON, error

SHOWN = 100  # characters of a refused header shown in the message (a multipart type with its boundary is ~70)

_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?")
_BODY_METHODS = ("POST", "PUT", "PATCH")


def loopback(name: str) -> bool:
    """Whether a host name (without brackets) is this machine: localhost, 127.0.0.0/8 or ::1."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: refuses a foreign Host or Origin, and a body of a type its route does not take."""

    def __init__(self, app, routes: Iterable[BaseRoute] = (), allow_hosts: Iterable[str] = ()):
        self.app = app
        self.routes = list(routes)
        self.allowed = {name.lower().strip("[]") for name in allow_hosts}

    async def __call__(self, scope, receive, send):
        refused = self.refusal(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
        else:
            await refused(scope, receive, send)

    def refusal(self, scope):
        """The error response for this request, or None when it may reach its route."""
        headers = dict(scope["headers"])
        port = (scope.get("server") or (None, None))[1]
        host = headers.get(b"host", b"").decode("latin-1")
        if not self._host_ok(host, port):
            where = "127.0.0.1, localhost or [::1]" + (f" at port {port}" if port else "")
            others = f", or {', '.join(sorted(self.allowed))} at any port" if self.allowed else ""
            message = (
                f"Host {quoted(host, SHOWN)} is not allowed: this server answers to {where}{others} "
                "(imagemagic serve --allow-host NAME adds a name)."
            )
            return error(message, status=403, code="host_not_allowed")
        origin = headers.get(b"origin")
        if origin is not None and not self._origin_ok(origin.decode("latin-1")):
            message = (
                f"Origin {quoted(origin.decode('latin-1'), SHOWN)} is not allowed: this server answers programs on "
                "this machine, not web pages from elsewhere."
            )
            return error(message, status=403, code="origin_not_allowed")
        if scope["method"] in _BODY_METHODS:
            return self._content_type_refusal(scope, headers)
        return None

    def _host_ok(self, host: str, port: int | None) -> bool:
        match = _HOST.fullmatch(host)
        if match is None:
            return False
        name = match[1].lower().strip("[]")
        if name in self.allowed:
            return True
        given = int(match[2]) if match[2] else 80
        return loopback(name) and (port is None or given == port)

    def _origin_ok(self, origin: str) -> bool:
        scheme, _, rest = origin.partition("://")
        match = _HOST.fullmatch(rest)
        if scheme not in ("http", "https") or match is None:
            return False
        name = match[1].lower().strip("[]")
        return loopback(name) or name in self.allowed

    def _content_type_refusal(self, scope, headers):
        route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        if route is None:
            return None  # no such route: the app's 404 or 405
        takes = getattr(getattr(route, "endpoint", None), "content_types", (JSON,))
        given = headers.get(b"content-type", b"").decode("latin-1")
        if given.split(";")[0].strip().lower() in takes:
            return None
        if not given and headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers:
            return None  # no body at all
        shown = quoted(given, SHOWN) if given else "(none)"
        message = (
            f"Unsupported Content-Type {shown} for {scope['method']} {scope['path']}: it takes {' or '.join(takes)}."
        )
        return error(message, status=415, code="unsupported_content_type")
