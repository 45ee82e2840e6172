"""Client of POST {base_url}/responses with the image_generation tool, on the Images client's transport.

`AsyncResponsesClient` is `AsyncImagesClient` (auth, retries, deadlines, size caps, key masking, the
event-stream decoder, `Progress`) with the Responses API's body and answers: a `Response` object, or its
stream, where `response.image_generation_call.partial_image` carries `partial_image_b64` (0-based
`partial_image_index`), `response.image_generation_call.completed` carries no image, and the final bytes
arrive in `response.output_item.done` (an `image_generation_call` item's `result`), each one held and passed
on when `response.completed` follows, the response's usage on the first (or as they are, when the stream
ends first). Each image keeps its
response id and image-call id, which a refinement continues.

Usage: the image tool's tokens (`tool_usage.image_gen`) are the result's usage, priced as the image
model's; the mainline model's tokens (`usage`, billed too, at its own rates) are kept under `"mainline"`.
"""

from __future__ import annotations

from typing import Any

import httpx

from .answers import AnswerReader, checked, event_payload, text_field
from .b64scan import RESPONSES_KEYS
from .client import AsyncImagesClient
from .errors import ImageDataError, TransportError, error_from_body
from .progress import Progress
from .result import GeneratedImage, add_usage

__all__ = ["AsyncResponsesClient", "responses_usage", "billed_apart"]

MAINLINE_COUNTS = ("input_tokens", "output_tokens", "total_tokens")
TOOL_CALLS = 4  # images kept of one Response: the model may call the image tool more than once, each one billed


class ResponsesReader(AnswerReader):
    """Reads one Responses answer (a Response object, or its event stream) into a Progress: the Images API's
    reader (the same caps, masking, spooling and JSON/stream reading) with the Responses API's image keys and
    answers."""

    KEYS = RESPONSES_KEYS
    URL_KEYS = ()  # its images are only ever base64 values: a `url` there is text

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.response: str | None = None  # the id of the Response being read
        self.images = 0
        self.held: list[GeneratedImage] = []  # final images waiting for their usage (response.completed)

    async def read(self, resp: httpx.Response, count: int, first_slot: int, progress: Progress, request_id, deadline):
        """Read a Response: the image of each image tool call, up to TOOL_CALLS of them (n is 1 here)."""
        await super().read(resp, max(count, TOOL_CALLS), first_slot, progress, request_id, deadline)

    async def _answer(self, images, payload, count, first_slot, progress, request_id, resp) -> None:
        """Record the images and usage of a (non-streamed) Response object."""
        if not isinstance(payload, dict) or payload.get("object") != "response":
            raise TransportError("the server's JSON answer is not a Response object")
        _refused(payload, request_id, self.api_key)
        usage = responses_usage(payload)
        add_usage(progress.usage, usage)
        progress.created = payload.get("created_at", progress.created)
        calls = [item for item in _output(payload) if item.get("type") == "image_generation_call"]
        calls = [item for item in calls if isinstance(item.get("result"), str)]
        if not calls:
            raise TransportError(_no_image(payload))
        for offset, item in enumerate(calls):
            slot = progress.slot(first_slot, offset, count)
            if slot is not None:  # else ignored: beyond what was asked
                progress.image(_final(images, item, slot, payload.get("id"), request_id, usage))

    def _keeps(self, name: str) -> bool:
        """response.completed repeats the items' images, passed on already: never spooled again."""
        return name not in ("response.completed", "response.incomplete", "response.failed")

    def _ended(self, progress: Progress) -> None:
        """A stream cut off after the final image still keeps it."""
        self._pass_on(progress, None)

    def _event_of(self, images, name, slot, progress, request_id, at_end) -> int:
        """Handle one event of a Responses stream: 1 when it brought a final image, else 0."""
        parsed = event_payload(name, images.scanner.close(), request_id, self.api_key, at_end)
        if parsed is None:
            return 0
        kind, payload = parsed
        response = payload.get("response")
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            self.response = response["id"]
        if kind == "error":  # the Responses API's error event: code and message at the top
            raise error_from_body({"error": payload}, None, request_id, self.api_key)
        if kind == "response.image_generation_call.partial_image":
            b64 = payload.get("partial_image_b64")
            if not isinstance(b64, str):
                raise TransportError(f"a {kind!r} event carries no partial_image_b64 image")
            at = slot()
            if at is None:  # beyond what was asked: ignored
                return 0
            index = payload.get("partial_image_index")
            meta = {"partial": True, "partial_index": index if isinstance(index, int) else None}
            try:
                img = checked(images.image(b64, at, **meta, request_id=request_id, response_id=self.response,
                                           image_call_id=text_field(payload.get("item_id"))))  # fmt: skip
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
            at = slot()
            self.images += 1
            if at is not None:  # else ignored: beyond what was asked
                self.held.append(_final(images, item, at, self.response, request_id, None))  # its usage comes next
            return 1
        elif kind in ("response.completed", "response.failed", "response.incomplete") and isinstance(response, dict):
            _refused(response, request_id, self.api_key)
            usage = responses_usage(response)
            add_usage(progress.usage, usage)
            progress.created = response.get("created_at", progress.created)
            if not self.images:
                raise TransportError(_no_image(response))
            self._pass_on(progress, usage)
        return 0

    def _pass_on(self, progress: Progress, usage: dict | None) -> None:
        """Pass the held images on, the response's `usage` on the first (the result's usage counts it once)."""
        for img in self.held:
            img.usage, usage = usage, None
            progress.image(img)
        self.held = []


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


def _final(images, item: dict, slot: int, response_id: Any, request_id: str | None, usage: dict | None):
    """The final image of an image_generation_call item (its `result` spooled in `images`)."""
    return checked(
        images.image(
            item["result"],
            slot,
            revised_prompt=text_field(item.get("revised_prompt")),
            request_id=request_id,
            usage=usage,
            response_id=text_field(response_id),
            image_call_id=text_field(item.get("id")),
        )
    )


class AsyncResponsesClient(AsyncImagesClient):
    """The async client of the Responses API's image tool; takes `ResponsesRequest`s (see responses_request)."""

    ROUTE = "responses"
    READER = ResponsesReader
