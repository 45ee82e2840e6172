"""Client of POST {base_url}/chat/completions for multimodal image models, on the Images client's transport.

`AsyncChatClient` is `AsyncImagesClient` (auth, retries, deadlines, size caps, key masking, `Progress`) with a
chat completion's body (chat_request.ChatRequest) and answers. Images come back as OpenRouter sends them,
`choices[].message.images[].image_url.url` (a data URL, or a link fetched with the bounded downloader), or
as content parts (`image_url` parts, Gemini-style `inline_data`); a stream (`chat.completion.chunk`) carries
them in `delta.images`, its usage in the last chunk. Usage is kept in the chat shape (`prompt_tokens`,
`completion_tokens`, `completion_tokens_details.image_tokens`), OpenRouter's `usage.cost` as `cost`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .answers import AnswerReader, event_payload
from .client import AsyncImagesClient
from .downloads import read_capped
from .errors import TransportError
from .progress import Progress
from .result import add_usage
from .sse import EventTooLarge, SSEDecoder

__all__ = ["AsyncChatClient", "images_of"]


def images_of(message: Any) -> tuple[list[str], str]:
    """(the image URLs or base64 of a chat message or delta, in order; the text it says)."""
    if not isinstance(message, dict):
        return [], ""
    found, said = [], []
    content = message.get("content")
    parts = content if isinstance(content, list) else []
    if isinstance(content, str):
        said.append(content)
    for item in [*(message.get("images") or []), *parts]:
        if not isinstance(item, dict):
            continue
        ref, inline = item.get("image_url"), item.get("inline_data") or item.get("inlineData")
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            found.append(ref["url"])
        elif isinstance(ref, str):
            found.append(ref)
        elif isinstance(inline, dict) and isinstance(inline.get("data"), str):
            found.append(
                f"data:{inline.get('mime_type') or inline.get('mimeType') or 'image/png'};base64,{inline['data']}"
            )
        elif isinstance(item.get("text"), str):
            said.append(item["text"])
    return found, " ".join(said).strip()


class ChatReader(AnswerReader):
    """Reads one chat completion (JSON, or its chunk stream) into a Progress: the Images API reader's caps,
    masking and dispatch, with the chat dialect's answers."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.urls: list[str] = []  # the images of a stream so far, stored once its usage arrives
        self.said: list[str] = []
        self.usage: dict | None = None

    async def _json(self, resp, content_type, count, first_slot, progress, request_id, deadline):
        raw = await read_capped(resp, self.max_answer_bytes)
        if raw is None:
            raise TransportError(self.too_large("the answer"))
        deadline.reschedule(None)
        try:
            payload = self._masked(json.loads(raw))
        except ValueError as exc:
            raise TransportError(f"the server answered {content_type or 'without a content type'}, not JSON") from exc
        del raw
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise TransportError("the server's JSON answer is not a chat completion (no choices)")
        for choice in payload["choices"]:
            found, said = images_of(choice.get("message") if isinstance(choice, dict) else None)
            self.urls += found
            self.said.append(said)
        self.usage = _usage(payload)
        progress.created = payload.get("created", progress.created)
        await self._deliver(count, first_slot, progress, request_id)

    async def _stream(self, resp: httpx.Response, count: int, first_slot: int, progress: Progress, request_id: Any):
        decoder = SSEDecoder(max_event_bytes=self.max_answer_bytes)
        try:
            async for chunk in resp.aiter_bytes():
                for event in decoder.feed(chunk):
                    self._chunk(event, progress, request_id)
            for event in decoder.close():
                self._chunk(event, progress, request_id, at_end=True)
        except EventTooLarge as exc:
            raise TransportError(self.too_large("a stream event")) from exc
        await self._deliver(count, first_slot, progress, request_id)

    def _chunk(self, event: Any, progress: Progress, request_id: Any, at_end: bool = False) -> None:
        """Take one `chat.completion.chunk`: its images and text (`delta`), and its usage (the last chunk)."""
        parsed = event_payload(event.event, event.data, request_id, self.api_key, at_end)
        if parsed is None:
            return
        payload = parsed[1]
        for choice in payload.get("choices") or []:
            found, said = images_of(choice.get("delta") if isinstance(choice, dict) else None)
            self.urls += found
            self.said.append(said)
            if found:
                progress.status(f"{len(self.urls)} image(s) received")
        self.usage = _usage(payload) or self.usage
        progress.created = payload.get("created", progress.created)

    async def _deliver(self, count: int, first_slot: int, progress: Progress, request_id: Any) -> None:
        """Check and hand on every image received, with the call's usage; none is one line saying why."""
        if not self.urls:
            said = " ".join(s for s in self.said if s).strip()
            answer = f"; the model answered: {said[:200]!r}" if said else ""
            raise TransportError(f"the chat completion holds no image{answer}")
        add_usage(progress.usage, self.usage)
        for offset, url in enumerate(self.urls):
            slot = progress.slot(first_slot, offset, count)
            if slot is not None:  # an image beyond n is ignored (said once by the run path)
                progress.image(await self.url_image(url, slot, request_id=request_id, usage=self.usage))


def _usage(payload: dict) -> dict | None:
    """The chat usage object as kept: its counts, and OpenRouter's `cost` (USD)."""
    usage = payload.get("usage")
    return dict(usage) if isinstance(usage, dict) else None


class AsyncChatClient(AsyncImagesClient):
    """The async client of chat-completions image models; takes `ChatRequest`s (see chat_request)."""

    ROUTE = "chat/completions"
    READER = ChatReader
