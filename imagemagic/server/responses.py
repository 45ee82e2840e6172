"""POST /v1/responses with the image_generation tool, for the local server: conversations of images offline.

The request is read as the Responses API reads it (`model`, `input` as text or messages with
`input_text`/`input_image` items, `tools` holding one `image_generation` tool, `previous_response_id`,
`stream`); the tool's parameters and the prompt are judged as an Images API request by the same
catalog. A continued turn renders an edit of the previous turn's image, so the preview visibly carries
it on. The answer is a `Response` object, or its event stream: `response.created`, `.in_progress`,
`response.output_item.added`, `response.image_generation_call.in_progress|generating|partial_image`
(`partial_image_b64`, 0-based `partial_image_index`), `.completed` (no image), `response.output_item.done`
(the final image in the item's `result`) and `response.completed`, every event with its `sequence_number`.

Earlier turns are kept for `previous_response_id` (and image-call ids for `image_generation_call` input
items) within `MAX_TURNS` and `MAX_TURN_BYTES`, oldest forgotten first; an unknown id is a 400.
Usage: `tool_usage.image_gen` counts the image model's tokens as the Images API would; `usage` is the
mainline model's: the prompt, the tool definition, and the earlier turns it reads again.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..catalog import DEFAULT_MODEL, IMAGE_TOOL
from ..edits import FormError, from_data_url
from ..inputimage import InputImage
from . import preview
from .app import INPUT_IMAGE_TOKENS, MAX_EDIT_BODY, Charged, busy, json_body, judge, usage_for
from .pixels import request_pixels
from .shared import error

MAX_TURNS = 256  # earlier responses kept for previous_response_id
MAX_TURN_BYTES = 128 * 1024 * 1024  # their images' bytes, in all
TOOL_TOKENS = 64  # mainline input tokens the image tool's definition takes
CALL_TOKENS = 24  # mainline output tokens of deciding the tool call
TOOL_FIELDS = (
    "type", "model", "size", "quality", "background", "output_format", "output_compression", "moderation",
    "input_fidelity", "input_image_mask", "partial_images", "action",
)  # fmt: skip
TOP_FIELDS = (
    "model", "input", "tools", "tool_choice", "previous_response_id", "stream", "user", "store", "metadata",
    "instructions", "parallel_tool_calls", "temperature", "top_p", "max_output_tokens", "include", "safety_identifier",
    "prompt_cache_key", "service_tier", "truncation", "background", "stream_options", "max_tool_calls",
)  # fmt: skip


@dataclass(frozen=True)
class Turn:
    """One answered response, as a later turn needs it: its final image and the tokens of its context."""

    response_id: str
    image_call_id: str
    image: bytes
    context_tokens: int


class Turns:
    """Earlier responses by id (and by image-call id), at most `limit` of them and `max_bytes` of images."""

    def __init__(self, limit: int = MAX_TURNS, max_bytes: int = MAX_TURN_BYTES):
        self.limit, self.max_bytes = limit, max_bytes
        self._turns: OrderedDict[str, Turn] = OrderedDict()
        self._calls: dict[str, str] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._turns)

    def add(self, turn: Turn) -> None:
        """Keep `turn`, forgetting the oldest beyond the limits."""
        self._turns[turn.response_id] = turn
        self._calls[turn.image_call_id] = turn.response_id
        self.bytes += len(turn.image)
        while len(self._turns) > self.limit or (self.bytes > self.max_bytes and len(self._turns) > 1):
            _, old = self._turns.popitem(last=False)
            self._calls.pop(old.image_call_id, None)
            self.bytes -= len(old.image)

    def get(self, response_id: str) -> Turn | None:
        """The turn of `response_id`, or None when unknown (or forgotten)."""
        return self._turns.get(response_id)

    def by_call(self, image_call_id: str) -> Turn | None:
        """The turn whose image_generation_call had `image_call_id`."""
        response_id = self._calls.get(image_call_id)
        return self._turns.get(response_id) if response_id else None


class Refused(Exception):
    """A request the API would answer with 400: `param` names the field at fault."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.param, self.code = param, code


@dataclass
class Asked:
    """What a Responses request asks for: its text, input images, image tool, and the turn it continues."""

    text: str
    images: list
    tool: dict
    previous: Turn | None


def _read_input(given, turns: Turns) -> tuple[str, list]:
    """(text, input images) of the `input` field: text, or a list of messages and image_generation_call items."""
    if isinstance(given, str):
        return given, []
    if not isinstance(given, list):
        raise Refused("Invalid type for 'input': expected a string or an array of input items.", "input")
    texts, images = [], []
    for i, item in enumerate(given):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise Refused(f"Invalid type for '{where}': expected an object.", where)
        if item.get("type") in ("image_generation_call", "item_reference"):
            ref = item.get("id")
            turn = turns.by_call(ref) if isinstance(ref, str) else None
            if turn is None:
                raise Refused(f"Item with id '{item.get('id')}' not found.", where, "item_not_found")
            images.append(InputImage(turn.image, name=f"{turn.image_call_id}.png"))
            continue
        if item.get("type", "message") != "message" or "content" not in item:
            raise Refused(f"Unsupported input item at '{where}': this server reads messages and image calls.", where)
        content = item["content"]
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise Refused(f"Invalid type for '{where}.content': expected a string or an array.", f"{where}.content")
        for j, part in enumerate(parts):
            at = f"{where}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "input_image":
                ref = {k: part[k] for k in ("image_url", "file_id") if part.get(k) is not None}
                try:
                    images.append(from_data_url(ref, at))
                except FormError as exc:
                    raise Refused(str(exc), at) from exc
            else:
                raise Refused(f"Unsupported content at '{at}': use input_text or input_image.", at)
    return "\n".join(texts), images


def _read_tool(tools) -> dict:
    """The image_generation tool of `tools`; this server offers no other."""
    if not isinstance(tools, list) or not tools:
        raise Refused("This server answers with the image_generation tool only: add it to 'tools'.", "tools")
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "image_generation":
            raise Refused(f"Unsupported tool type {kind!r} at 'tools[{i}]': this server offers image_generation.")
    if len(tools) > 1:
        raise Refused("Give the image_generation tool once.", "tools")
    unknown = next((k for k in tools[0] if k not in TOOL_FIELDS), None)
    if unknown is not None:
        raise Refused(f"Unknown parameter: 'tools[0].{unknown}'.", f"tools[0].{unknown}", "unknown_parameter")
    return tools[0]


def read_request(body: dict, turns: Turns) -> Asked:
    """What `body` asks for; Refused says why it cannot be answered."""
    unknown = next((k for k in body if k not in TOP_FIELDS), None)
    if unknown is not None:
        raise Refused(f"Unknown parameter: '{unknown}'.", unknown, "unknown_parameter")
    for name in ("model", "input"):
        if name not in body:
            raise Refused(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
    if not isinstance(body["model"], str) or not body["model"].strip():
        raise Refused("Invalid type for 'model': expected a model name.", "model")
    previous = None
    if body.get("previous_response_id") is not None:
        previous = turns.get(body["previous_response_id"]) if isinstance(body["previous_response_id"], str) else None
        if previous is None:
            raise Refused(
                f"Previous response with id '{body['previous_response_id']}' not found.",
                "previous_response_id",
                "previous_response_not_found",
            )
    text, images = _read_input(body["input"], turns)
    tool = _read_tool(body.get("tools"))
    if body.get("stream") and not tool.get("partial_images"):
        raise Refused(
            f"Streaming with the image_generation tool needs partial_images 1-{IMAGE_TOOL.max_partial_images}.",
            "tools[0].partial_images",
        )
    if previous is not None:
        images.insert(0, InputImage(previous.image, name=f"{previous.image_call_id}.png"))
    return Asked(text, images, tool, previous)


def image_request(service, asked: Asked, stream: bool):
    """The Images API request (an edit when there are input images) the tool call makes, or an error Response."""
    fields = {k: v for k, v in asked.tool.items() if k not in ("type", "action", "input_image_mask")}
    fields = {"model": DEFAULT_MODEL, **fields, "prompt": asked.text}
    if stream:
        fields["stream"] = True
    else:
        fields.pop("partial_images", None)  # only a stream carries partial images
    if not asked.images:
        fields.pop("input_fidelity", None)
        return judge(service, fields)
    fields.pop("moderation", None)
    mask = None
    if asked.tool.get("input_image_mask") is not None:
        try:
            mask = from_data_url(asked.tool["input_image_mask"], "tools[0].input_image_mask")
        except FormError as exc:
            return error(str(exc), param=exc.param, code="invalid_value")
    return judge(service, fields, (asked.images, mask))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def response_object(body: dict, rid: str, created: int, status: str, output: list, usage=None, tool_usage=None):
    """A Response object as the API returns it."""
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body["tools"],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
        **({"usage": usage, "tool_usage": tool_usage} if usage else {}),
    }


def mainline_usage(asked: Asked) -> dict:
    """The mainline model's usage: the prompt, the tool definition and the earlier turns it reads again."""
    context = asked.previous.context_tokens if asked.previous else 0
    given = max(1, len(asked.text) // 4) + TOOL_TOKENS + INPUT_IMAGE_TOKENS * len(asked.images) + context
    return {
        "input_tokens": given,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": CALL_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": given + CALL_TOKENS,
    }


class Answer:
    """One answered request: renders the image, builds the items and the Response, and keeps the turn."""

    def __init__(self, service, turns: Turns, body: dict, asked: Asked, req):
        self.service, self.turns, self.body, self.asked, self.req = service, turns, body, asked, req
        self.rid, self.call_id, self.created = _new_id("resp"), _new_id("ig"), int(time.time())
        self.width, self.height = service.dims(req)

    def item(self, status: str, result: str | None = None) -> dict:
        """The image_generation_call output item."""
        meta = self.service.meta(self.req) or {"size": f"{self.width}x{self.height}"}
        item = {"id": self.call_id, "type": "image_generation_call", "status": status, "result": result}
        if status == "completed":
            item.update(meta, revised_prompt=self.asked.text, action="edit" if self.asked.images else "generate")
        return item

    def response(self, status: str, output: list) -> dict:
        usage = mainline_usage(self.asked) if status == "completed" else None
        tool_usage = {"image_gen": self.image_usage(), "web_search": {"num_requests": 0}} if usage else None
        return response_object(self.body, self.rid, self.created, status, output, usage, tool_usage)

    def image_usage(self) -> dict:
        return usage_for(self.req, self.width, self.height)

    async def final(self):
        """(the final PIL image, its encoded bytes)."""
        img = await run_in_threadpool(self.service.final, self.req, 0)
        return img, await run_in_threadpool(self.service.encode, self.req, img, 0)

    def keep(self, data: bytes) -> None:
        usage = mainline_usage(self.asked)
        self.turns.add(Turn(self.rid, self.call_id, data, usage["total_tokens"]))

    async def complete(self) -> dict:
        _, data = await self.final()
        self.keep(data)
        return self.response("completed", [self.item("completed", base64.b64encode(data).decode("ascii"))])

    async def events(self):
        """The event stream, each event with its sequence number."""
        sequence = iter(range(1 << 30))

        def event(kind, **payload):
            data = json.dumps({"type": kind, "sequence_number": next(sequence), **payload}, separators=(",", ":"))
            return f"event: {kind}\ndata: {data}\n\n".encode()

        at = {"output_index": 0, "item_id": self.call_id}
        yield event("response.created", response=self.response("in_progress", []))
        yield event("response.in_progress", response=self.response("in_progress", []))
        yield event("response.output_item.added", output_index=0, item=self.item("in_progress"))
        yield event("response.image_generation_call.in_progress", **at)
        yield event("response.image_generation_call.generating", **at)
        final, data = await self.final()
        partials = self.req.partial_images or 0
        meta = self.service.meta(self.req)
        for stage in range(partials):
            rough = preview.pixelate(final, stage, partials)
            payload = await run_in_threadpool(self.service.encode, self.req, rough, 0, stage, partials)
            b64 = base64.b64encode(payload).decode("ascii")
            yield event(
                "response.image_generation_call.partial_image",
                **at,
                partial_image_index=stage,
                partial_image_b64=b64,
                **meta,
            )
        self.keep(data)
        item = self.item("completed", base64.b64encode(data).decode("ascii"))
        yield event("response.image_generation_call.completed", **at)
        yield event("response.output_item.done", output_index=0, item=item)
        yield event("response.completed", response=self.response("completed", [item]))


async def responses(request: Request) -> Response | Charged:
    """POST /v1/responses: judge the request and its image tool as the API does, then answer JSON or a stream."""
    body = await json_body(request, MAX_EDIT_BODY)
    if isinstance(body, Response):
        return body
    service, turns = request.app.state.service, request.app.state.turns
    try:
        asked = read_request(body, turns)
    except Refused as exc:
        return error(str(exc), param=exc.param, code=exc.code)
    unknown = service.models.refusal(body["model"])  # the mainline model; the tool's is judged as an image model's
    if unknown is not None:
        return unknown
    stream = bool(body.get("stream"))
    req = image_request(service, asked, stream)
    if isinstance(req, Response):
        return req
    pixels = request_pixels(service, req)  # an edit's decoded inputs count too
    if not service.budget.take(pixels):
        return busy()
    answer = Answer(service, turns, body, asked, req)
    if stream:
        headers = {"Cache-Control": "no-cache"}
        events = StreamingResponse(answer.events(), media_type="text/event-stream", headers=headers)
        return Charged(events, service.budget, pixels)
    try:
        return JSONResponse(await answer.complete())
    finally:
        service.budget.give(pixels)


ROUTES = [Route("/v1/responses", responses, methods=["POST"])]
