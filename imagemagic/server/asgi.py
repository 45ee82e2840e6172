"""The local server's ASGI app: the Images API routes (app.py), the Files and Batch APIs (batches.py), the
checks every request passes first (guard.py: Host, Origin, content type), the key check, request ids and
OpenAI-shaped errors for Starlette's own answers."""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from .app import IMAGE_FILES, PIXEL_BUDGET, STASH_BYTES, PreviewService, edits, generations, image_file
from .app import model as retrieve_model
from .app import models as list_models
from .batches import ROUTES as BATCH_ROUTES
from .batches import Batches
from .chat import ROUTES as CHAT_ROUTES
from .guard import Guard
from .models import Models
from .responses import ROUTES as RESPONSE_ROUTES
from .responses import Turns
from .shared import READ_TIMEOUT, error


async def http_error(request: Request, exc: HTTPException):
    """Starlette's own errors (unknown route, wrong method), OpenAI-shaped."""
    message = f"{exc.detail} ({request.method} {request.url.path})"
    return error(message, status=exc.status_code, headers=exc.headers)


class RequestIdMiddleware:
    """Give every response an `x-request-id` header, as the API does."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(12)}".encode()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class KeyMiddleware:
    """With an `api_key`, every route needs it as a Bearer token (401 otherwise), except the image URLs."""

    def __init__(self, app, api_key=None):
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope, receive, send):
        if self.expected is None or scope["type"] != "http" or scope["path"].startswith(IMAGE_FILES):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if secrets.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        refused = error("Incorrect API key provided.", status=401, code="invalid_api_key")
        await refused(scope, receive, send)


def create_app(
    *,
    delay=None,
    api_key=None,
    batch_delay=None,
    batch_folder=None,
    read_timeout=READ_TIMEOUT,
    pixel_budget=PIXEL_BUDGET,
    stash_bytes=STASH_BYTES,
    allow_hosts=(),
    models=(),
):
    """The Starlette app. `delay` is seconds per image (default: $IMAGEMAGIC_PREVIEW_DELAY or 0);
    `read_timeout` seconds for a body to arrive, `pixel_budget` pixels rendered at once, `stash_bytes`
    for URL images (see the module's limits); `batch_delay` seconds per batch request (default:
    $IMAGEMAGIC_BATCH_DELAY or 0); `batch_folder` keeps the Files and Batches (default: a temporary folder);
    `allow_hosts` are Host names answered besides loopback ones (guard.py); `models` are names served besides
    the table's (models.py), with this server's generic limits."""
    routes = [
        Route("/v1/images/generations", generations, methods=["POST"]),
        Route("/v1/images/edits", edits, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
        Route(IMAGE_FILES + "{token}", image_file, methods=["GET"], name="image_file"),
        *BATCH_ROUTES,
        *RESPONSE_ROUTES,
        *CHAT_ROUTES,
    ]
    app = Starlette(
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(Guard, routes=routes, allow_hosts=allow_hosts),
            Middleware(KeyMiddleware, api_key=api_key),
        ],
        routes=routes,
        exception_handlers={HTTPException: http_error},
    )
    app.state.service = PreviewService(
        delay=delay, pixel_budget=pixel_budget, stash_bytes=stash_bytes, models=Models(models)
    )
    app.state.read_timeout = read_timeout
    app.state.batches = Batches(delay=batch_delay, folder=batch_folder)
    app.state.turns = Turns()  # earlier Responses API turns, for previous_response_id
    return app
