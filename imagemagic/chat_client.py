"""Client of POST {base_url}/chat/completions for multimodal image models, on the Images client's transport.

`AsyncChatClient` is `AsyncImagesClient` (auth, retries, deadlines, size caps, key masking, `Progress`) with a
chat completion's body (chat_request.ChatRequest) and answers. Images come back as OpenRouter sends them,
`choices[].message.images[].image_url.url` (a data URL, or a link fetched with the bounded downloader), or
as content parts (`image_url` parts, Gemini-style `inline_data`); a stream (`chat.completion.chunk`) carries
them in `delta.images`, its usage in the last chunk. Usage is kept in the chat shape (`prompt_tokens`,
`completion_tokens`, `completion_tokens_details.image_tokens`), OpenRouter's `usage.cost` as `cost`.
"""

from __future__ import annotations

from typing import Any

from .answers import AnswerReader, SpooledURL, event_payload
from .b64scan import CHAT_KEYS
from .client import AsyncImagesClient
from .errors import TransportError
from .progress import Progress
from .result import add_usage
from .spool import MemorySpool

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
    masking, spooling and dispatch (a data URL's or an inline part's base64 is decoded as it arrives, never
    held), with the chat dialect's answers."""

    KEYS = CHAT_KEYS
    PAST_N = MemorySpool  # a value past n may still be an image (a reasoning detail's `data` counts as a value)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # each image so far: its spool (judged once the answer is in), a URL to fetch then, or None (beyond n)
        self.found: list[SpooledURL | str | None] = []
        self.said: list[str] = []
        self.usage: dict | None = None
        self.count, self.first_slot = 0, 0

    async def read(self, resp, count, first_slot, progress, request_id, deadline):
        """Read the answer of `count` images into slots from `first_slot` (see AnswerReader.read)."""
        self.count, self.first_slot = count, first_slot
        try:
            await super().read(resp, count, first_slot, progress, request_id, deadline)
        finally:  # the spools of images not handed on (an error came first) go now
            for item in self.found:
                if isinstance(item, SpooledURL):
                    item.discard()

    async def _answer(self, images, payload, count, first_slot, progress, request_id, resp):
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise TransportError("the server's JSON answer is not a chat completion (no choices)")
        self.usage = _usage(payload)
        for choice in payload["choices"]:
            self._take(images, choice.get("message") if isinstance(choice, dict) else None, progress)
        progress.created = payload.get("created", progress.created)
        await self._deliver(count, first_slot, progress, request_id)

    def _event_of(self, images, name, slot, progress, request_id, at_end):
        """Take one `chat.completion.chunk`: its images and text (`delta`), and its usage (the last chunk); the
        images it holds count as done, so that none beyond n is spooled."""
        parsed = event_payload(name, images.scanner.close(), request_id, self.api_key, at_end)
        if parsed is None:
            return 0
        payload, before = parsed[1], len(self.found)
        for choice in payload.get("choices") or []:
            self._take(images, choice.get("delta") if isinstance(choice, dict) else None, progress)
        if len(self.found) > before:
            progress.status(f"{len(self.found)} image(s) received")
        self.usage = _usage(payload) or self.usage
        progress.created = payload.get("created", progress.created)
        return len(self.found) - before

    def _take(self, images, message, progress: Progress) -> None:
        """Take the images of a message or delta: each spooled one's spool now (before the event's other spools
        go), each other URL to fetch once the answer is in; one beyond n is dropped."""
        found, said = images_of(message)
        self.said.append(said)
        for url in found:
            spooled = images.take_url(url)
            if progress.slot(self.first_slot, len(self.found), self.count) is not None:
                self.found.append(spooled or url)
                continue
            self.found.append(None)
            if spooled is not None:
                spooled.discard()

    async def _after_stream(self, done, count, first_slot, progress, request_id):
        await self._deliver(count, first_slot, progress, request_id)

    async def _deliver(self, count: int, first_slot: int, progress: Progress, request_id: Any) -> None:
        """Check and hand on every image received, with the call's usage; none is one line saying why."""
        if not self.found:
            said = " ".join(s for s in self.said if s).strip()
            answer = f"; the model answered: {said[:200]!r}" if said else ""
            raise TransportError(f"the chat completion holds no image{answer}")
        add_usage(progress.usage, self.usage)
        for offset, item in enumerate(self.found):
            slot = progress.slot(first_slot, offset, count)
            if slot is None or item is None:  # an image beyond n is ignored (said once by the run path)
                continue
            self.found[offset] = None  # handed on or refused: its spool is no longer ours to delete
            meta = {"request_id": request_id, "usage": self.usage}
            if isinstance(item, str):
                progress.image(await self.url_image(item, slot, **meta))
            else:
                progress.image(item.image(slot, self.max_answer_bytes, **meta))


def _usage(payload: dict) -> dict | None:
    """The chat usage object as kept: its counts, and OpenRouter's `cost` (USD)."""
    usage = payload.get("usage")
    return dict(usage) if isinstance(usage, dict) else None


class AsyncChatClient(AsyncImagesClient):
    """The async client of chat-completions image models; takes `ChatRequest`s (see chat_request)."""

    ROUTE = "chat/completions"
    READER = ChatReader
