"""The local OpenAI-compatible server's Images API: the routes that answer as the Images API does.

POST /v1/images/generations (JSON, or `text/event-stream` when the body says `stream: true`),
POST /v1/images/edits (multipart or JSON; the preview repaints the first input where the mask says),
GET /v1/models (with `shutdown_date` where the catalog has one) and GET /v1/models/{id}, from the one table of
models.py (an unknown model is a 404 `model_not_found` on every route), GET /v1/images/files/{token} for
`response_format: url` (valid 60 minutes), POST /v1/responses with the image_generation tool (see responses.py).
The Files and Batch APIs are in batches.py; asgi.py makes the app.
Requests are judged by the same catalog as the client, so offline work fails as production would.

Whatever the model, this server has its own limits, so no request can exhaust it:
- bodies over 1 MiB (edits: 64 MiB) get 413 before they are read in full; a body that takes over `read_timeout`
  seconds to arrive gets 408; JSON nested over 32 levels or with lone surrogates gets 400;
- prompts over the model's limit (32,000 characters for models the catalog does not know) get 400;
- at most 3840 pixels a side and 8,294,400 pixels (3840x2160) an image, n 1-10, partial_images 0-3,
  output_format png/jpeg/webp/gif/svg, output_compression 0-100, frame_count 2-16, frame_duration_ms
  20 or more, model names up to 256 characters (400);
- at most `pixel_budget` pixels (default four 3840x2160 images; a GIF counts every frame) rendered at
  once across requests: beyond it, 503 with Retry-After; a GIF larger than the whole budget, 400;
  an edit's input images (and mask) count too, decoded full size (pixels.py): inputs too large for the
  whole budget, 400;
- URL images are kept up to `stash_bytes` (default 256 MiB) in all, oldest evicted first.
With `api_key` set every route needs it as a Bearer token (401 otherwise), except the image URLs,
whose unguessable token is the credential.
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

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..catalog import DEFAULT_MODEL
from ..edits import FormError, read_form, read_json
from ..params import PARAMS
from ..request import EditRequest, ImageRequest
from . import preview
from .models import Models
from .pixels import inputs_problem, request_pixels
from .shared import JSON, MULTIPART, error, read_body, takes

URL_LIFETIME = 3600.0
DISCONNECT_POLL = 0.1  # seconds between looks for a client that has gone, while an answer is paced
MAX_DEPTH = 32  # levels of JSON nesting
MAX_PROMPT = 32000  # characters, for models the catalog does not know
MAX_MODEL_NAME = 256  # characters
MAX_SIDE = 3840
MAX_PIXELS = 3840 * 2160  # per image
MAX_PARTIALS = 3
MAX_FRAMES = 16
MIN_FRAME_MS = 20
PIXEL_BUDGET = 4 * MAX_PIXELS  # rendered at once, across requests
STASH_BYTES = 256 * 1024 * 1024
MAX_EDIT_BODY = 64 * 1024 * 1024  # an edit's images and mask, in either form
MAX_EDIT_IMAGES = 16
INPUT_IMAGE_TOKENS = 194  # usage counted per input image of an edit (a 1024x1024 input at low fidelity)
RETRY_AFTER = 1  # seconds, when the pixel budget is spent
IMAGE_FILES = "/v1/images/files/"
DELAY_ENV = "IMAGEMAGIC_PREVIEW_DELAY"
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "svg": "image/svg+xml"}
_EVICTED_MEMORY = 4096  # tokens remembered as evicted, so their 404 can say so


class FileStash:
    """Images served for `response_format: url`: each valid for 60 minutes, at most `capacity` bytes in all.

    Past the capacity the oldest go first; their tokens are remembered so a 404 can say why."""

    def __init__(self, capacity=STASH_BYTES):
        self._items = OrderedDict()
        self._evicted = OrderedDict()
        self._capacity = capacity
        self._size = 0

    def put(self, data, fmt):
        """Keep image bytes; return the token of its URL."""
        token = f"{secrets.token_urlsafe(16)}.{fmt}"
        now = time.monotonic()
        self._items[token] = (data, _MIME[fmt], now + URL_LIFETIME)
        self._size += len(data)
        while self._items and (self._size > self._capacity or next(iter(self._items.values()))[2] < now):
            old, (old_data, _, expiry) = self._items.popitem(last=False)
            self._size -= len(old_data)
            if expiry >= now:
                self._evicted[old] = None
                while len(self._evicted) > _EVICTED_MEMORY:
                    self._evicted.popitem(last=False)
        return token

    def get(self, token):
        """(bytes, mime, expiry) for a token still valid, else None."""
        item = self._items.get(token)
        if item is not None and item[2] < time.monotonic():
            del self._items[token]
            self._size -= len(item[0])
            return None
        return item

    def evicted(self, token):
        """True when the token's image was dropped before it expired, to keep within the capacity."""
        return token in self._evicted


class PixelBudget:
    """Pixels being rendered across concurrent requests, bounded so that the server's memory is.

    Used from the event loop only."""

    def __init__(self, limit=PIXEL_BUDGET):
        self.limit = limit
        self.used = 0

    def take(self, pixels):
        """Reserve `pixels`; False (nothing reserved) when that would exceed the limit."""
        if self.used + pixels > self.limit:
            return False
        self.used += pixels
        return True

    def give(self, pixels):
        """Return pixels reserved by take()."""
        self.used -= pixels


class Charged:
    """An ASGI response that gives its pixels back to the budget once sent, or abandoned."""

    def __init__(self, response, budget, pixels):
        self.response, self.budget, self.pixels = response, budget, pixels

    async def __call__(self, scope, receive, send):
        try:
            await self.response(scope, receive, send)
        finally:
            self.budget.give(self.pixels)


def shown_quality(req):
    """The quality a GPT image model reports having used ("auto" resolves to medium)."""
    return "medium" if req.quality in (None, "auto") else req.quality


def usage_for(req, width, height):
    """Token usage shaped as the API reports it, scaled from gpt-image-1's published counts."""
    text_tokens = max(1, len(req.prompt) // 4)
    image_tokens = INPUT_IMAGE_TOKENS * len(getattr(req, "images", ()))
    per_mpix = {"low": 272, "medium": 1056, "high": 4160}.get(shown_quality(req), 1056)
    output = int(per_mpix * width * height / (1024 * 1024)) * req.count
    return {
        "input_tokens": text_tokens + image_tokens,
        "output_tokens": output,
        "total_tokens": text_tokens + image_tokens + output,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
    }


class PreviewService:
    """Renders requests with the preview engine, paced by the configured per-image delay."""

    def __init__(self, delay=None, *, pixel_budget=PIXEL_BUDGET, stash_bytes=STASH_BYTES, models=None):
        self.delay = float(os.environ.get(DELAY_ENV, "0") or 0) if delay is None else delay
        self.models = models or Models()  # the models this server knows (models.py)
        self.stash = FileStash(stash_bytes)
        self.budget = PixelBudget(pixel_budget)

    def dims(self, req):
        """(width, height) of the request's size; auto means 1024x1024."""
        size = req.size if req.size and req.size != "auto" else "1024x1024"
        width, height = (int(x) for x in size.split("x"))
        return width, height

    def pixels(self, req):
        """The pixels rendering one image of the request takes: every frame of a GIF counts."""
        width, height = self.dims(req)
        frames = (req.frame_count or preview.GIF_FRAMES) if req.output_format == "gif" else 1
        return width * height * frames

    def _scene(self, req, index):
        width, height = self.dims(req)
        return {
            "width": width,
            "height": height,
            "model": req.model,
            "quality": req.quality,
            "style": req.style,
            "background": req.background,
            "index": index,
        }

    def final(self, req, index):
        """The final preview image `index` of the request, as a PIL image."""
        if isinstance(req, EditRequest):
            first, *others = [img.pil for img in req.images]
            scene = self._scene(req, index)
            return preview.render_edit(
                req.prompt,
                first,
                mask=req.mask.pil if req.mask is not None else None,
                others=others,
                width=scene["width"],
                height=scene["height"],
                model=req.model,
                quality=req.quality,
                index=index,
                seed="".join(img.sha256 for img in (*req.images, *([req.mask] if req.mask else []))),
            )
        return preview.render_final(req.prompt, **self._scene(req, index))

    def encode(self, req, img, index=0, stage=None, stages=0):
        """The image file's bytes in the requested output format; an SVG is drawn anew from the scene
        (`stage` of `stages`: a partial image, with fewer shapes), a GIF animates `img`."""
        fmt = req.output_format or "png"
        if fmt == "svg":
            detail = 1.0 if stage is None else (stage + 1) / (stages + 1)
            return preview.render_svg(req.prompt, detail=detail, **self._scene(req, index))
        if fmt == "gif":
            return preview.animate(img, req.frame_count or preview.GIF_FRAMES, req.frame_duration_ms or preview.GIF_MS)
        return preview.encode(img, fmt, req.output_compression)

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


def _depth(value):
    """How deeply a parsed JSON value nests (a scalar is 0), counted without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            stack.append((child, level + 1))
        deepest = max(deepest, level + (1 if children else 0))
    return deepest


def parse_json(raw):
    """(body, None) for a JSON object this server can answer, else (None, the message saying why not)."""
    try:
        body = json.loads(raw)
        if _depth(body) > MAX_DEPTH:
            return None, f"The JSON body is nested too deeply: at most {MAX_DEPTH} levels."
        json.dumps(body, ensure_ascii=False).encode()  # \ud800-style escapes give text no answer can carry
    except RecursionError:
        return None, f"The JSON body is nested too deeply: at most {MAX_DEPTH} levels."
    except UnicodeEncodeError:
        return None, "The JSON body has a lone surrogate escape (such as \\ud800), which is not valid Unicode."
    except ValueError:
        return None, "We could not parse the JSON body of your request."
    if not isinstance(body, dict):
        return None, "The request body must be a JSON object."
    return body, None


def _size_text(body):
    """A `size` too long to be one this server renders (sides over 4 digits), judged before parsing its digits."""
    size = body.get("size")
    return isinstance(size, str) and len(size) > 2 * len(str(MAX_SIDE)) + 1


def _limit_problem(service, req):
    """(param, message) for the first of this server's own limits the request breaks, else None."""
    width, height = service.dims(req)
    if len(req.model) > MAX_MODEL_NAME:
        return "model", f"model is {len(req.model)} characters; this server takes names of at most {MAX_MODEL_NAME}"
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        return "size", _too_large(req.size)
    checks = (
        (
            "partial_images",
            req.partial_images is None or 0 <= req.partial_images <= MAX_PARTIALS,
            f"0 to {MAX_PARTIALS}",
        ),
        ("output_compression", req.output_compression is None or 0 <= req.output_compression <= 100, "0 to 100"),
        ("frame_count", req.frame_count is None or 2 <= req.frame_count <= MAX_FRAMES, f"2 to {MAX_FRAMES}"),
        (
            "frame_duration_ms",
            req.frame_duration_ms is None or req.frame_duration_ms >= MIN_FRAME_MS,
            f"{MIN_FRAME_MS} or more",
        ),
        ("output_format", req.output_format in (None, *_MIME), ", ".join(_MIME)),
        ("response_format", req.response_format in (None, "url", "b64_json"), "url, b64_json"),
    )
    for param, ok, allowed in checks:
        if not ok:
            return param, f"{param}={getattr(req, param)!r} is not one this server takes: use {allowed}"
    if req.output_format == "gif" and service.pixels(req) > service.budget.limit:
        return "size", (
            f"size={req.size} with {req.frame_count or preview.GIF_FRAMES} GIF frames is more than this server "
            f"renders at once: at most {service.budget.limit:,} pixels over all frames"
        )
    return None


def _too_large(size):
    return (
        f"size={size} is larger than this server renders: "
        f"at most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all (3840x2160)"
    )


async def json_body(request: Request, limit: int | None = None) -> dict | Response:
    """The request's JSON object, or the error answer (too slow, too large, not a JSON object)."""
    raw, refused = await (read_body(request) if limit is None else read_body(request, limit))
    if refused is not None:
        return refused
    body, why = parse_json(raw)
    return body if body is not None else error(why, code="invalid_json")


async def generations(request: Request):
    """POST /v1/images/generations: judge the request as the API does, then answer JSON or an event stream."""
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    req = judge(request.app.state.service, body)
    return await answer_request(request, req)


def busy() -> Response:
    """The 503 answer when the pixel budget is spent: retry after RETRY_AFTER seconds."""
    return error(
        "The server is busy rendering other images; retry shortly.",
        status=503,
        code="server_busy",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def answer_request(request, req):
    """The answer to a judged request (or the error response judging gave): JSON, or an event stream."""
    service = request.app.state.service
    if isinstance(req, Response):
        return req
    pixels = request_pixels(service, req)  # an edit's decoded inputs count too
    if not service.budget.take(pixels):
        return busy()
    if req.stream:
        stream = StreamingResponse(
            _stream(service, req), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
        return Charged(stream, service.budget, pixels)
    try:
        return JSONResponse(await complete(service, req, request))
    finally:
        service.budget.give(pixels)


def judge(service, body: dict, inputs=None) -> ImageRequest | Response:
    """The request a generations body asks for, or the error response the API (and this server's limits) give it.

    With `inputs` (images, mask) the body is an edit's fields, judged as an EditRequest."""
    if "prompt" not in body:
        return error("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if _size_text(body):
        return error(_too_large(body["size"]), param="size", code="invalid_value")
    name = body.get("model")
    if not (isinstance(name, str) and len(name) > MAX_MODEL_NAME):  # a name too long to be one: its 400 below
        refused = service.models.refusal(name)
        if refused is not None:
            return refused
    if inputs is None:
        req = ImageRequest.from_body({"model": DEFAULT_MODEL, **body})
    else:
        req = EditRequest.from_body({"model": DEFAULT_MODEL, **body}, *inputs)
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
    broken = _limit_problem(service, req)
    if broken:
        return error(broken[1], param=broken[0], code="invalid_value")
    too_large = inputs_problem(service, req)
    if too_large:
        return error(too_large, param="image", code="invalid_value")
    return req


async def _paced(seconds, request):
    """Wait out the per-image pace; False as soon as the asking `request`'s client has gone (None: nobody watched)."""
    deadline = time.monotonic() + seconds
    while True:
        if request is not None and await request.is_disconnected():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, DISCONNECT_POLL))


async def complete(service, req, request, *, watch=True):
    """The JSON answer; `watch`: stop early once the asking client has gone (not for a batch's lines)."""
    data = []
    width, height = service.dims(req)
    for index in range(req.count):
        if not await _paced(service.delay, request if watch else None):
            break  # nobody is left to read the rest: render nothing more
        img = await run_in_threadpool(service.final, req, index)
        payload = await run_in_threadpool(service.encode, req, img, index)
        if req.response_format == "url":
            fmt = req.output_format or "png"
            data.append({"url": str(request.url_for("image_file", token=service.stash.put(payload, fmt)))})
        else:
            data.append({"b64_json": base64.b64encode(payload).decode("ascii")})
        if req.rules is not None and req.rules.family == "dall-e-3":
            data[-1]["revised_prompt"] = req.prompt
    body = {"created": int(time.time()), "data": data, **service.meta(req)}
    if req.rules is None or req.rules.family == "gpt-image":
        body["usage"] = usage_for(req, width, height)
    return body


@takes(MULTIPART, JSON)
async def edits(request: Request):
    """POST /v1/images/edits, multipart or JSON: judge the edit as the API does, then answer as generations do."""
    raw, refused = await read_body(request, MAX_EDIT_BODY)
    if refused is not None:
        return refused
    multipart = request.headers.get("content-type", "").startswith(MULTIPART)  # else JSON: guard.py saw to it
    try:
        if multipart:
            fields, images, mask = await _read_multipart(request, raw)
        else:
            body, why = parse_json(raw)
            if body is None:
                return error(why, code="invalid_json")
            fields, images, mask = read_json(body)
    except FormError as exc:
        return error(str(exc), param=exc.param, code="invalid_value")
    return await answer_request(request, judge(request.app.state.service, fields, (images, mask)))


async def _read_multipart(request, raw):
    """(fields, images, mask) of a multipart body already read in full (and so bounded)."""
    from starlette.formparsers import MultiPartException

    delivered = False

    async def replay():
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=MAX_EDIT_IMAGES + 1, max_fields=64)
    except MultiPartException as exc:
        raise FormError(f"The multipart body could not be read: {exc.message}") from exc
    try:
        return await read_form(form, {p.name: p.type for p in PARAMS})
    finally:
        await form.close()


def _event(kind, payload):
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload}, separators=(',', ':'))}\n\n".encode()


async def _stream(service, req):
    width, height = service.dims(req)
    partials = req.partial_images or 0
    step = service.delay / (partials + 1) if service.delay else 0
    meta = service.meta(req) or {"size": f"{width}x{height}"}
    single = replace(req, n=1)
    prefix = "image_edit" if isinstance(req, EditRequest) else "image_generation"
    for index in range(req.count):
        final = await run_in_threadpool(service.final, req, index)
        for stage in range(partials):
            if step:
                await asyncio.sleep(step)
            payload = await run_in_threadpool(
                lambda s=stage, f=final, i=index: service.encode(req, preview.pixelate(f, s, partials), i, s, partials)
            )
            b64 = base64.b64encode(payload).decode("ascii")
            yield _event(
                f"{prefix}.partial_image",
                {"b64_json": b64, "partial_image_index": stage, "created_at": int(time.time()), **meta},
            )
        if step:
            await asyncio.sleep(step)
        payload = await run_in_threadpool(service.encode, req, final, index)
        b64 = base64.b64encode(payload).decode("ascii")
        usage = usage_for(single, width, height)
        yield _event(f"{prefix}.completed", {"b64_json": b64, "created_at": int(time.time()), "usage": usage, **meta})


async def models(request: Request):
    """GET /v1/models: the models this server accepts (models.py), with `shutdown_date` where announced."""
    served = request.app.state.service.models.all()
    return JSONResponse({"object": "list", "data": [m.object() for m in served]})


async def model(request: Request):
    """GET /v1/models/{id}: the Model object (the table's name for a provider-prefixed id), else 404 model_not_found."""
    known: Models = request.app.state.service.models
    name = request.path_params["model_id"]
    found = known.find(name)
    return JSONResponse(found.object()) if found else known.refusal(name)


async def image_file(request: Request):
    """GET /v1/images/files/{token}: an image served for response_format=url, while its URL is valid."""
    stash = request.app.state.service.stash
    token = request.path_params["token"]
    item = stash.get(token)
    if item is not None:
        return Response(item[0], media_type=item[1])
    if stash.evicted(token):
        message = (
            "This image was removed before its URL expired, to keep the server's image store within its size "
            "limit; generate it again, or ask for b64_json."
        )
    else:
        message = "No such file, or its URL has expired (URLs are valid for 60 minutes)."
    return error(message, status=404, code="not_found")
