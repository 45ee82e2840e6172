"""POST /v1/chat/completions for the local server: multimodal image models (Gemini's, as OpenRouter serves them).

The request is read as OpenRouter reads an image request: `model`, `messages` (text and `image_url` parts with
data URLs; an assistant turn's `images`), `modalities` holding "image", `image_config` (`aspect_ratio` of
catalog.CHAT_ASPECTS, `image_size` 1K/2K/4K on the models that take it), `stream`. The prompt is the last
user message's text; the images of the conversation (the assistant's latest first) make it an edit, so a
continued conversation visibly carries its image on. The size is Gemini's pixels for the aspect
(catalog.CHAT_DIMS) at the image size, judged by the same limits and pixel budget as the Images API routes.
The answer is a `chat.completion` with the image in `message.images` as a data URL, or its
`chat.completion.chunk` stream (`delta.images`, usage in the last chunk, then `[DONE]`); usage is chat-shaped
with OpenRouter's `cost` in USD from the catalog's prices. Also mounted under `/api/v1`, OpenRouter's base,
where GET /api/v1/models lists the chat image models as OpenRouter does (`architecture` modalities,
`supported_parameters`), so the openrouter profile's capability look-up has its listing offline too.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..catalog import CHAT_ASPECTS, CHAT_DIMS, CHAT_MODELS, RESOLUTIONS, chat_model, lookup
from ..edits import FormError, from_data_url
from .app import _MIME, INPUT_IMAGE_TOKENS, MAX_EDIT_BODY, Charged, busy, json_body, judge
from .models import register
from .pixels import request_pixels
from .responses import Refused
from .shared import error

FIELDS = (
    "model", "messages", "modalities", "image_config", "stream", "stream_options", "user", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "seed", "usage", "provider",
)  # fmt: skip
SCALE = {"1K": 1, "2K": 2, "4K": 4}
FLASH = chat_model("gemini-2.5-flash-image")  # the prices of a chat model the catalog does not know
register(*CHAT_MODELS, owned_by="google")  # the server's table of models knows them (others: model_not_found)


def _parts(message: dict, where: str) -> list:
    content = message.get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if not isinstance(parts, list):
        raise Refused(f"Invalid type for '{where}.content': expected a string or an array.", f"{where}.content")
    images = message.get("images") or []
    return [*parts, *images] if isinstance(images, list) else parts


def read_messages(messages) -> tuple[str, list]:
    """(the last user message's text, the conversation's input images: the assistant's latest first)."""
    if not isinstance(messages, list) or not messages:
        raise Refused("Invalid 'messages': expected a non-empty array of messages.", "messages")
    prompt, given, made = "", [], []  # type: str, list, list
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant"):
            raise Refused(f"Invalid '{where}.role': use system, user or assistant.", f"{where}.role")
        texts = []
        for j, part in enumerate(_parts(message, where)):
            at = f"{where}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and isinstance(part.get("image_url"), dict):
                try:
                    image = from_data_url({"image_url": part["image_url"].get("url")}, at)
                except FormError as exc:
                    raise Refused(str(exc), at) from exc
                (made if role == "assistant" else given).append(image)
            else:
                raise Refused(f"Unsupported content at '{at}': use text or image_url parts.", at)
        if role == "user":
            prompt = "\n".join(texts)
    return prompt, [*made[-1:], *given]


def size_of(model: str, config) -> str:
    """WIDTHxHEIGHT for `image_config` (Gemini's pixels for the aspect at the image size; 1:1 1K by default)."""
    if config is None:
        config = {}
    if not isinstance(config, dict) or set(config) - {"aspect_ratio", "image_size"}:
        raise Refused("Invalid 'image_config': this server takes aspect_ratio and image_size.", "image_config")
    ratio, size = config.get("aspect_ratio", "1:1"), config.get("image_size", "1K")
    if ratio not in CHAT_DIMS:
        raise Refused(f"Invalid 'image_config.aspect_ratio': use {', '.join(CHAT_ASPECTS)}.", "image_config")
    row = chat_model(model)
    sizes = (row.image_sizes or ("1K",)) if row else tuple(RESOLUTIONS)
    if size not in sizes:
        raise Refused(f"Invalid 'image_config.image_size' for {model}: use {', '.join(sizes)}.", "image_config")
    width, height = CHAT_DIMS[ratio]
    return f"{width * SCALE[size]}x{height * SCALE[size]}"


def read_request(body: dict) -> tuple[dict, list]:
    """(the Images API fields the request comes to, its input images); Refused says why it cannot be answered."""
    unknown = next((k for k in body if k not in FIELDS), None)
    if unknown is not None:
        raise Refused(f"Unknown parameter: '{unknown}'.", unknown, "unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Refused("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if lookup(model) is not None and chat_model(model) is None:
        raise Refused(f"{model} is an Images API model: use /v1/images/generations.", "model")
    modalities = body.get("modalities")
    if not isinstance(modalities, list) or "image" not in modalities:
        raise Refused('This server answers with images: set modalities to ["image", "text"].', "modalities")
    prompt, images = read_messages(body.get("messages"))
    return {"model": model, "prompt": prompt, "size": size_of(model, body.get("image_config"))}, images


def chat_usage(model: str, prompt: str, images: int) -> dict:
    """Chat-shaped usage of one image, with OpenRouter's `cost` (USD) at the catalog's prices."""
    row = chat_model(model) or FLASH
    given = max(1, len(prompt) // 4) + INPUT_IMAGE_TOKENS * images
    cost = (given * row.input_price + row.image_tokens * row.image_price) / 1e6
    return {
        "prompt_tokens": given,
        "completion_tokens": row.image_tokens,
        "total_tokens": given + row.image_tokens,
        "completion_tokens_details": {"image_tokens": row.image_tokens, "reasoning_tokens": 0},
        "cost": round(cost, 6),
    }


class Answer:
    """One answered chat: renders the image, and writes the completion or its chunks."""

    def __init__(self, service, body: dict, req, inputs: int):
        self.service, self.body, self.req = service, body, req
        self.id, self.created = f"gen-{secrets.token_hex(12)}", int(time.time())
        self.usage = chat_usage(req.model, req.prompt, inputs)

    async def image(self) -> dict:
        """The image as `message.images` carries it: a data URL."""
        img = await run_in_threadpool(self.service.final, self.req, 0)
        data = await run_in_threadpool(self.service.encode, self.req, img, 0)
        url = f"data:{_MIME['png']};base64,{base64.b64encode(data).decode('ascii')}"
        return {"type": "image_url", "image_url": {"url": url}, "index": 0}

    def head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.body["model"]}

    async def complete(self) -> dict:
        text = f"Here is a preview of: {self.req.prompt[:200]}"
        message = {"role": "assistant", "content": text, "refusal": None, "images": [await self.image()]}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {**self.head("chat.completion"), "choices": [choice], "usage": self.usage}

    async def chunks(self):
        """The chunk stream: the role, then the image, then the finish with the usage, then [DONE]."""

        def chunk(delta: dict, finish=None, **extra) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {**self.head("chat.completion.chunk"), "choices": [choice], **extra}
            return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"role": "assistant", "content": "", "images": [await self.image()]})
        yield chunk({}, "stop", usage=self.usage)
        yield b"data: [DONE]\n\n"


async def completions(request: Request) -> Response | Charged:
    """POST /v1/chat/completions: judge the request as OpenRouter's image models do, then answer JSON or chunks."""
    body = await json_body(request, MAX_EDIT_BODY)
    if isinstance(body, Response):
        return body
    service = request.app.state.service
    try:
        fields, images = read_request(body)
    except Refused as exc:
        return error(str(exc), param=exc.param, code=exc.code)
    req = judge(service, fields, (images, None) if images else None)
    if isinstance(req, Response):
        return req
    pixels = request_pixels(service, req)
    if not service.budget.take(pixels):
        return busy()
    answer = Answer(service, body, req, len(images))
    if body.get("stream"):
        chunks = StreamingResponse(
            answer.chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
        return Charged(chunks, service.budget, pixels)
    try:
        return JSONResponse(await answer.complete())
    finally:
        service.budget.give(pixels)


async def openrouter_models(request: Request) -> JSONResponse:
    """GET /api/v1/models: the chat image models in OpenRouter's listing shape."""
    entry = {
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image", "text"]},
        "supported_parameters": ["max_tokens", "temperature", "top_p", "seed", "stream"],
    }
    names = [m.id for m in request.app.state.service.models.all() if chat_model(m.id) is not None]
    return JSONResponse({"data": [{"id": f"google/{name}", "name": name, **entry} for name in names]})


ROUTES = [
    Route("/api/v1/models", openrouter_models, methods=["GET"]),
    Route("/v1/chat/completions", completions, methods=["POST"]),
    Route("/api/v1/chat/completions", completions, methods=["POST"]),  # OpenRouter's base URL shape
]
