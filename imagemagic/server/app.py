"""The local OpenAI-compatible server: a Starlette app answering as the Images API does.

POST /v1/images/generations (JSON, or `text/event-stream` when the body says `stream: true`),
GET /v1/models, GET /v1/images/files/{token} for `response_format: url` (valid 60 minutes), and the
Files and Batch APIs (see batches.py).
Requests are judged by the same catalog as the client, so offline work fails as production would.
Abuse is bounded: bodies over 1 MiB get 413 before they are read in full, prompts over the model's
limit (32,000 characters for models the catalog does not know) get 400, and with `api_key` set
every request needs it as a Bearer token (401 otherwise).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import replace

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..catalog import DEFAULT_MODEL, MODELS
from ..request import ImageRequest
from . import preview

URL_LIFETIME = 3600.0
MAX_BODY = 1024 * 1024
MAX_PROMPT = 32000  # characters, for models the catalog does not know
DELAY_ENV = "IMAGEMAGIC_PREVIEW_DELAY"
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def error(message, *, status=400, param=None, code=None):
    """An OpenAI-shaped error response (type invalid_request_error)."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class FileStash:
    """Images served for `response_format: url`: bounded, each valid for 60 minutes."""

    def __init__(self, capacity=256):
        self._items = OrderedDict()
        self._capacity = capacity

    def put(self, data, fmt):
        """Keep image bytes; return the token of its URL."""
        token = f"{secrets.token_urlsafe(16)}.{fmt}"
        self._items[token] = (data, _MIME[fmt], time.monotonic() + URL_LIFETIME)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return token

    def get(self, token):
        """(bytes, mime, expiry) for a token still valid, else None."""
        item = self._items.get(token)
        if item is None or item[2] < time.monotonic():
            self._items.pop(token, None)
            return None
        return item


def shown_quality(req):
    """The quality a GPT image model reports having used ("auto" resolves to medium)."""
    return "medium" if req.quality in (None, "auto") else req.quality


def usage_for(req, width, height):
    """Token usage shaped as the API reports it, scaled from gpt-image-1's published counts."""
    text_tokens = max(1, len(req.prompt) // 4)
    per_mpix = {"low": 272, "medium": 1056, "high": 4160}.get(shown_quality(req), 1056)
    output = int(per_mpix * width * height / (1024 * 1024)) * req.count
    return {
        "input_tokens": text_tokens,
        "output_tokens": output,
        "total_tokens": text_tokens + output,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
    }


class PreviewService:
    """Renders requests with the preview engine, paced by the configured per-image delay."""

    def __init__(self, delay=None, api_key=None):
        self.delay = float(os.environ.get(DELAY_ENV, "0") or 0) if delay is None else delay
        self.api_key = api_key
        self.stash = FileStash()

    def dims(self, req):
        """(width, height) of the request's size; auto means 1024x1024."""
        size = req.size if req.size and req.size != "auto" else "1024x1024"
        width, height = (int(x) for x in size.split("x"))
        return width, height

    def final(self, req, index):
        """The final preview image `index` of the request, as a PIL image."""
        width, height = self.dims(req)
        return preview.render_final(
            req.prompt,
            width=width,
            height=height,
            model=req.model,
            quality=req.quality,
            style=req.style,
            background=req.background,
            index=index,
        )

    def encode(self, req, img):
        """The image file's bytes in the requested output format and compression."""
        return preview.encode(img, req.output_format or "png", req.output_compression)

    def meta(self, req):
        """The echo fields GPT image models return (size, quality, background, output_format)."""
        model = req.rules
        if model is not None and model.family != "gpt-image":
            return {}
        width, height = self.dims(req)
        background = "transparent" if req.background == "transparent" else "opaque"
        return {
            "size": f"{width}x{height}",
            "quality": shown_quality(req),
            "background": background,
            "output_format": req.output_format or "png",
        }


def _authorized(service, request):
    if not service.api_key:
        return True
    given = request.headers.get("authorization", "").encode()
    return secrets.compare_digest(given, f"Bearer {service.api_key}".encode())


async def _limited_body(request):
    """The body, or None once it is known to exceed MAX_BODY (reading stops there)."""
    try:
        if int(request.headers.get("content-length", 0)) > MAX_BODY:
            return None
    except ValueError:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def generations(request: Request):
    """POST /v1/images/generations: judge the request as the API does, then answer JSON or an event stream."""
    service = request.app.state.service
    if not _authorized(service, request):
        return error("Incorrect API key provided.", status=401, code="invalid_api_key")
    raw = await _limited_body(request)
    if raw is None:
        return error(f"Request body too large: the limit is {MAX_BODY} bytes.", status=413, code="request_too_large")
    try:
        body = json.loads(raw)
    except ValueError:
        return error("We could not parse the JSON body of your request.", code="invalid_json")
    if not isinstance(body, dict):
        return error("The request body must be a JSON object.", code="invalid_json")
    req = judge(body)
    if isinstance(req, Response):
        return req
    if req.stream:
        return StreamingResponse(
            _stream(service, req), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    return JSONResponse(await _complete(service, req, request))


def judge(body: dict) -> ImageRequest | Response:
    """The request a generations body asks for, or the error response the API gives it."""
    if "prompt" not in body:
        return error("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    req = ImageRequest.from_body({"model": DEFAULT_MODEL, **body})
    unknown = next(iter(req.extra_body), None)
    if unknown is not None:
        return error(f"Unknown parameter: '{unknown}'.", param=unknown, code="unknown_parameter")
    if req.rules is None and isinstance(req.prompt, str) and len(req.prompt) > MAX_PROMPT:
        return error(
            f"prompt is {len(req.prompt)} characters; this server takes at most {MAX_PROMPT}",
            param="prompt",
            code="string_above_max_length",
        )
    problems = req.wire_problems()
    if problems:
        return error(problems[0].message, param=problems[0].param, code="invalid_value")
    return req


async def _complete(service, req, request):
    data = []
    width, height = service.dims(req)
    for index in range(req.count):
        if service.delay:
            await asyncio.sleep(service.delay)
        img = await run_in_threadpool(service.final, req, index)
        payload = await run_in_threadpool(service.encode, req, img)
        if req.response_format == "url":
            fmt = req.output_format or "png"
            data.append({"url": str(request.url_for("file", token=service.stash.put(payload, fmt)))})
        else:
            data.append({"b64_json": base64.b64encode(payload).decode("ascii")})
        if req.rules is not None and req.rules.family == "dall-e-3":
            data[-1]["revised_prompt"] = req.prompt
    body = {"created": int(time.time()), "data": data, **service.meta(req)}
    if req.rules is None or req.rules.family == "gpt-image":
        body["usage"] = usage_for(req, width, height)
    return body


def _event(kind, payload):
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload}, separators=(',', ':'))}\n\n".encode()


async def _stream(service, req):
    width, height = service.dims(req)
    partials = req.partial_images or 0
    step = service.delay / (partials + 1) if service.delay else 0
    meta = service.meta(req) or {"size": f"{width}x{height}"}
    single = replace(req, n=1)
    for index in range(req.count):
        final = await run_in_threadpool(service.final, req, index)
        for stage in range(partials):
            if step:
                await asyncio.sleep(step)
            payload = await run_in_threadpool(lambda s=stage, f=final: service.encode(req, preview.pixelate(f, s, partials)))
            b64 = base64.b64encode(payload).decode("ascii")
            yield _event(
                "image_generation.partial_image",
                {"b64_json": b64, "partial_image_index": stage, "created_at": int(time.time()), **meta},
            )
        if step:
            await asyncio.sleep(step)
        payload = await run_in_threadpool(service.encode, req, final)
        b64 = base64.b64encode(payload).decode("ascii")
        usage = usage_for(single, width, height)
        yield _event(
            "image_generation.completed", {"b64_json": b64, "created_at": int(time.time()), "usage": usage, **meta}
        )


async def models(request: Request):
    """GET /v1/models: the catalog's models, which this server accepts."""
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "imagemagic-preview"} for name in MODELS
            ],
        }
    )


async def file(request: Request):
    """GET /v1/images/files/{token}: an image served for response_format=url, while its URL is valid."""
    item = request.app.state.service.stash.get(request.path_params["token"])
    if item is None:
        return error(
            "No such file, or its URL has expired (URLs are valid for 60 minutes).", status=404, code="not_found"
        )
    return Response(item[0], media_type=item[1])


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


def create_app(*, delay=None, api_key=None, batch_delay=None):
    """The Starlette app. `delay` is seconds per image (default: $IMAGEMAGIC_PREVIEW_DELAY or 0),
    `batch_delay` seconds per batch request (default: $IMAGEMAGIC_BATCH_DELAY or 0)."""
    from .batches import ROUTES as BATCH_ROUTES
    from .batches import Batches

    app = Starlette(
        middleware=[Middleware(RequestIdMiddleware)],
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/images/files/{token}", file, methods=["GET"], name="file"),
            *BATCH_ROUTES,
        ],
    )
    app.state.service = PreviewService(delay=delay, api_key=api_key)
    app.state.batches = Batches(delay=batch_delay)
    return app
