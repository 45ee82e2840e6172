"""A request sent to a multimodal image model through `POST /v1/chat/completions` (api="chat"): rules and body.

Gemini's image models (and gateways' names for them, `google/gemini-2.5-flash-image`) make images as the
answer of a chat: the prompt and input images are a user message (`text` and `image_url` parts, images as
data URLs), `modalities: ["image", "text"]` asks for images, and `image_config` carries the shape as
OpenRouter takes it. Our `size` maps to `aspect_ratio`: an aspect (`16:9`, `portrait`) or a WIDTHxHEIGHT
goes as the nearest ratio the model takes (a note when not exact), `auto` or none sends none; `resolution`
(1K, 2K, 4K) goes as `image_size`, on models that take it. One image per call: `n` is that many calls.
Parameters only the Images API takes are refused here, before anything is sent; nothing is sent as null.
A refinement continues the conversation: the earlier user message and the assistant's image, then the new
instruction (`earlier`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from .carried import Carried
from .catalog import CHAT_ASPECTS, CHAT_DIMS, CHAT_NOT_TAKEN, RESOLUTIONS, chat_model, lookup
from .edits import data_url
from .errors import quoted, shown
from .request import Problem
from .sizes import aspect

MODALITIES = ["image", "text"]


@dataclass(frozen=True)
class ChatRequest(Carried):
    """An image request (`image`: ImageRequest or EditRequest, its size left out) carried by a chat completion;
    `asked_size` and `resolution` are the size and resolution as given, `earlier` the (prompt, image) of the
    turn a refinement continues. Everything else (`model`, `prompt`, `stream`, ...) reads through to `image`."""

    image: Any
    asked_size: Any = None
    resolution: Any = None
    earlier: tuple = ()

    api = "chat"

    @property
    def count(self) -> int:
        """The images asked for: one per call, `n` calls."""
        return self.image.count

    @property
    def size(self) -> str | None:
        """The WIDTHxHEIGHT the model makes for this request's aspect and image size (None: its default)."""
        config = self.image_config()
        ratio = config.get("aspect_ratio")
        if ratio not in CHAT_DIMS:
            return None
        scale = {"1K": 1, "2K": 2, "4K": 4}.get(config.get("image_size", "1K"), 1)
        width, height = CHAT_DIMS[ratio]
        return f"{width * scale}x{height * scale}"

    def split(self) -> list[ChatRequest]:
        """The requests actually sent: one call per image."""
        if self.count == 1:
            return [self]
        return [replace(self, image=replace(self.image, n=None))] * self.count

    def _aspects(self) -> tuple[str, ...]:
        model = chat_model(self.image.model)
        return model.aspect_ratios if model else CHAT_ASPECTS

    def _image_sizes(self) -> tuple[str, ...]:
        model = chat_model(self.image.model)
        return model.image_sizes if model else tuple(RESOLUTIONS)

    @cached_property
    def _ratio(self) -> tuple[str | None, str | None]:
        """(the aspect_ratio to send, a note when it is not exactly what `size` asked), or (None, None); worked out
        once (the body, the rules and the advice all ask)."""
        size = self.asked_size
        parts = aspect(size)
        if parts is None and isinstance(size, str) and "x" in size:
            width, _, height = size.partition("x")
            parts = (float(width), float(height)) if width.isdigit() and height.isdigit() else None
        if parts is None or not all(parts):
            return None, None
        wanted = math.log(parts[0] / parts[1])
        picked = min(self._aspects(), key=lambda r: abs(math.log(_ratio_value(r)) - wanted))
        exact = math.isclose(_ratio_value(picked), parts[0] / parts[1], rel_tol=1e-9)
        return picked, None if exact else f"size={size} is aspect_ratio {picked} on {self.image.model}: the closest"

    def image_config(self) -> dict:
        """`image_config` as sent: aspect_ratio and image_size when asked for (never a null)."""
        config: dict[str, str] = {}
        ratio = self._ratio[0]
        if ratio is not None:
            config["aspect_ratio"] = ratio
        if isinstance(self.resolution, str) and self.resolution.upper() in self._image_sizes():
            config["image_size"] = self.resolution.upper()
        return config

    def own_problems(self) -> list[Problem]:
        """What chat-completions image models do not take."""
        return chat_problems(self)

    def warnings(self, *args: Any, **kwargs: Any) -> list[str]:
        """The image request's advice, and the note on an aspect that is not exactly one the model takes."""
        note = self._ratio[1]
        return [*self.image.warnings(*args, **kwargs), *([note] if note else [])]

    def body(self) -> dict:
        """This call's identity (cache key, history, recipe): the image request's, the size and resolution as
        asked (their image_config follows from them; a chain keeps them) and the turn it continues; `api` only
        for a model the catalog does not know as a chat image model."""
        shape = {"size": self.asked_size, "resolution": self.resolution}
        identity: dict[str, Any] = {**self.image.body(), **{k: v for k, v in shape.items() if v is not None}}
        if self.earlier:
            prompt, image = self.earlier
            identity["continues"] = {"prompt": prompt, "sha256": image.sha256}
        if chat_model(self.image.model) is None:
            identity["api"] = "chat"
        return identity

    def messages(self) -> list[dict]:
        """The conversation sent: the earlier turn (its user message and the assistant's image), then the
        prompt with the input images."""
        turn: list[dict] = []
        if self.earlier:
            prompt, image = self.earlier
            turn = [
                {"role": "user", "content": [{"type": "text", "text": prompt}]},
                {"role": "assistant", "images": [{"type": "image_url", "image_url": {"url": data_url(image)}}]},
            ]
        content = [{"type": "text", "text": self.image.prompt}]
        content += [
            {"type": "image_url", "image_url": {"url": data_url(img)}} for img in getattr(self.image, "images", ())
        ]
        return [*turn, {"role": "user", "content": content}]

    def wire_body(self) -> dict:
        """The JSON body of POST /v1/chat/completions."""
        image = self.image
        body: dict[str, Any] = {"model": image.model, "messages": self.messages(), "modalities": MODALITIES}
        config = self.image_config()
        if config:
            body["image_config"] = config
        if image.user is not None:
            body["user"] = image.user
        if image.stream:
            body["stream"] = True
        return {**body, **image.extra_body}


def _ratio_value(ratio: str) -> float:
    width, _, height = ratio.partition(":")
    return int(width) / int(height)


def chat_problems(req: ChatRequest) -> list[Problem]:
    """What chat-completions image models do not take, as one line each."""
    image, found = req.image, []
    if lookup(image.model) is not None and chat_model(image.model) is None:
        found.append(
            Problem(
                "model",
                f"model={shown(image.model)} is an Images API model, not a chat-completions image model: use "
                "api='images', or a model such as google/gemini-2.5-flash-image",
            )
        )
    for name in CHAT_NOT_TAKEN:
        value = getattr(image, name, None)
        if value is not None:
            found.append(
                Problem(name, f"{name}={quoted(value)} is not taken by chat-completions image models: leave it out")
            )
    if getattr(image, "mask", None) is not None:
        found.append(Problem("mask", "a mask is not taken by chat-completions image models: say what to change"))
    size = req.asked_size
    if size not in (None, "auto") and req._ratio[0] is None:
        found.append(Problem("size", f"size={shown(size)} is not an aspect or WIDTHxHEIGHT: use e.g. 16:9, portrait"))
    resolution = req.resolution
    if resolution is not None and req.image_config().get("image_size") is None:
        sizes = req._image_sizes()
        taken = f"use {', '.join(sizes)}" if sizes else "it makes 1K images; leave it out"
        found.append(Problem("resolution", f"resolution={quoted(resolution)} is not taken by {image.model}: {taken}"))
    return found
