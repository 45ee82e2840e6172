"""Client of POST {base_url}/responses with the image_generation tool, on the Images client's transport.

`AsyncResponsesClient` is `AsyncImagesClient` (auth, retries, deadlines, size caps, key masking, the
event-stream decoder, `Progress`) with the Responses API's body and answers: a `Response` object, or its
stream, where `response.image_generation_call.partial_image` carries `partial_image_b64` (0-based
`partial_image_index`), `response.image_generation_call.completed` carries no image, and the final bytes
arrive in `response.output_item.done` (an `image_generation_call` item's `result`), passed on with its
usage when `response.completed` follows (or as it is, when the stream ends first). Each image keeps its
response id and image-call id, which a refinement continues.

Usage: the image tool's tokens (`tool_usage.image_gen`) are the result's usage, priced as the image
model's; the mainline model's tokens (`usage`, billed too, at its own rates) are kept under `"mainline"`.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from .client import AsyncImagesClient, _checked, _text
from .errors import ImageDataError, TransportError, error_from_body
from .result import GeneratedImage, add_usage

__all__ = ["AsyncResponsesClient", "responses_usage", "billed_apart"]

MAINLINE_COUNTS = ("input_tokens", "output_tokens", "total_tokens")
_STREAM: contextvars.ContextVar[dict] = contextvars.ContextVar("responses_stream")  # one stream's state


class AsyncResponsesClient(AsyncImagesClient):
    """The async client of the Responses API's image tool; takes `ResponsesRequest`s (see responses_request)."""

    def __repr__(self) -> str:
        return f"<AsyncResponsesClient {self.endpoint!r}>"

    def _wire(self, request: Any) -> tuple[str, bytes, str]:
        body = json.dumps(request.wire_body(), ensure_ascii=False, separators=(",", ":")).encode()
        return f"{self.endpoint.base_url}/responses", body, "application/json"

    async def _answer(self, payload, count, first_slot, progress, request_id):
        """Record the images and usage of a (non-streamed) Response object."""
        if not isinstance(payload, dict) or payload.get("object") != "response":
            raise TransportError("the server's JSON answer is not a Response object")
        _refused(payload, request_id, self.endpoint.api_key)
        usage = responses_usage(payload)
        add_usage(progress.usage, usage)
        progress.created = payload.get("created_at", progress.created)
        images = [item for item in _output(payload) if item.get("type") == "image_generation_call"]
        if not any(isinstance(item.get("result"), str) for item in images):
            raise TransportError(_no_image(payload))
        for offset, item in enumerate(images):
            if not isinstance(item.get("result"), str):
                continue
            img = _final(item, progress.slot(first_slot, offset, count), payload.get("id"), request_id, usage)
            progress.image(img)

    async def _read_stream(self, resp, count, first_slot, progress, request_id):
        state = {"response": None, "images": 0, "held": None}
        _STREAM.set(state)  # this task's own: a fanned-out request has its own context
        try:
            await super()._read_stream(resp, count, first_slot, progress, request_id)
        finally:  # a stream cut off after the final image still keeps it
            if state["held"] is not None:
                progress.image(state["held"])

    def _stream_event(self, event, slot, progress, request_id, at_end=False):
        """Handle one event of a Responses stream; returns 1 when it completed an image, else 0."""
        parsed = self._event_payload(event, request_id, at_end)
        if parsed is None:
            return 0
        kind, payload = parsed
        state = _STREAM.get()
        response = payload.get("response")
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            state["response"] = response["id"]
        if kind == "error":  # the Responses API's error event: code and message at the top
            raise error_from_body({"error": payload}, None, request_id, self.endpoint.api_key)
        if kind == "response.image_generation_call.partial_image":
            b64 = payload.get("partial_image_b64")
            if not isinstance(b64, str):
                raise TransportError(f"a {kind!r} event carries no partial_image_b64 image")
            index = payload.get("partial_image_index")
            img = GeneratedImage(
                b64=b64,
                index=slot(),
                partial=True,
                partial_index=index if isinstance(index, int) else None,
                request_id=request_id,
                response_id=state["response"],
                image_call_id=_text(payload.get("item_id")),
            )
            try:
                _checked(img)
            except ImageDataError as exc:
                progress.status(f"partial skipped: {exc}")
                return 0
            progress.image(img)
        elif kind == "response.output_item.done":
            item = payload.get("item")
            if not isinstance(item, dict) or item.get("type") != "image_generation_call":
                return 0
            if not isinstance(item.get("result"), str):
                raise TransportError(f"a {kind!r} event's image_generation_call carries no result image")
            state["held"] = _final(item, slot(), state["response"], request_id, None)  # stored with its usage, next
            state["images"] += 1
            return 1
        elif kind in ("response.completed", "response.failed", "response.incomplete") and isinstance(response, dict):
            _refused(response, request_id, self.endpoint.api_key)
            usage = responses_usage(response)
            add_usage(progress.usage, usage)
            progress.created = response.get("created_at", progress.created)
            if not state["images"]:
                raise TransportError(_no_image(response))
            if state["held"] is not None:
                state["held"].usage = usage
                progress.image(state["held"])
                state["held"] = None
        return 0


def responses_usage(response: dict) -> dict:
    """A Response's usage as an image result keeps it: the image tool's tokens (`tool_usage.image_gen`), and the
    mainline model's under "mainline"."""
    tool = response.get("tool_usage")
    image_gen = tool.get("image_gen") if isinstance(tool, dict) else None
    usage = dict(image_gen) if isinstance(image_gen, dict) else {}
    mainline = response.get("usage")
    if isinstance(mainline, dict):
        usage["mainline"] = {k: v for k, v in mainline.items() if k in MAINLINE_COUNTS}
    return usage


def billed_apart(result: Any) -> str | None:
    """The line saying that a Responses call's mainline model tokens are billed besides the image tool's, or
    None when the result has none."""
    mainline = (result.usage or {}).get("mainline")
    if not mainline:
        return None
    model = getattr(getattr(result, "request", None), "mainline", None) or "the mainline model"
    return (
        f"plus {model}'s {mainline.get('input_tokens', 0):,} input and {mainline.get('output_tokens', 0):,} output "
        "tokens, billed at its own rates (not in this estimate)"
    )


def _output(response: dict) -> list[dict]:
    output = response.get("output")
    return [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []


def _refused(response: dict, request_id: str | None, api_key: str | None) -> None:
    """Raise the error of a failed Response (status failed with an error object)."""
    error = response.get("error")
    if isinstance(error, dict):
        raise error_from_body({"error": error}, None, request_id, api_key)


def _no_image(response: dict) -> str:
    """Why a Response holds no image: its status, and what the model said instead."""
    said = " ".join(
        part.get("text", "")
        for item in _output(response)
        if item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ).strip()
    status = response.get("status") or "unknown"
    answer = f"; the model answered: {said[:200]!r}" if said else ""
    return f"the response ({status}) holds no generated image{answer}"


def _final(item: dict, slot: int, response_id: Any, request_id: str | None, usage: dict | None) -> GeneratedImage:
    return _checked(
        GeneratedImage(
            b64=item["result"],
            index=slot,
            revised_prompt=_text(item.get("revised_prompt")),
            request_id=request_id,
            usage=usage,
            response_id=_text(response_id),
            image_call_id=_text(item.get("id")),
        )
    )
