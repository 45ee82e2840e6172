"""A request sent through the Responses API's image_generation tool: its rules and its body on the wire.

`POST /v1/responses` takes `model` (the mainline model, which decides the tool call), `input` (the
prompt, and input images as `input_image` items), `tools: [{"type": "image_generation", ...}]` with the
image request's parameters, `tool_choice` forcing that tool, and `previous_response_id` to continue an
earlier turn. The image tool makes one image per call, always as base64, and streams only with
`partial_images` >= 1: parameters it does not take are refused here, before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .carried import Carried
from .catalog import IMAGE_TOOL
from .edits import data_url
from .errors import quoted, shown
from .request import Problem

TOOL_CHOICE = {"type": "image_generation"}


@dataclass(frozen=True)
class ResponsesRequest(Carried):
    """An image request (`image`: ImageRequest or EditRequest) carried by the image tool of a Responses call
    whose mainline model is `mainline`; `previous_response_id` continues an earlier turn.

    Everything else (`model`, `prompt`, `count`, `stream`, `operation`, ...) reads through to `image`."""

    image: Any
    mainline: str
    previous_response_id: str | None = None

    api = "responses"

    @property
    def count(self) -> int:
        """One: the image tool makes one image per call."""
        return 1

    def split(self) -> list[ResponsesRequest]:
        """The requests actually sent: this one."""
        return [self]

    def own_problems(self) -> list[Problem]:
        """What the image tool does not take."""
        return tool_problems(self)

    def warnings(self, *args: Any, **kwargs: Any) -> list[str]:
        """The image request's advice (sizes, shutdown dates)."""
        return self.image.warnings(*args, **kwargs)

    def body(self) -> dict:
        """This call's identity (cache key, history): the image request's, the API, the mainline model and the
        turn it continues."""
        continues = {"previous_response_id": self.previous_response_id} if self.previous_response_id else {}
        return {**self.image.body(), "api": "responses", "responses_model": self.mainline, **continues}

    def tool(self) -> dict:
        """The image_generation tool as sent: the image request's parameters (and its extra_body)."""
        image = self.image
        tool: dict[str, Any] = {"type": "image_generation"}
        for name in IMAGE_TOOL.takes:
            if name not in IMAGE_TOOL.beside and getattr(image, name, None) is not None:
                tool[name] = getattr(image, name)
        if getattr(image, "mask", None) is not None:
            tool["input_image_mask"] = {"image_url": data_url(image.mask)}
        return {**tool, **image.extra_body}

    def wire_body(self) -> dict:
        """The JSON body of POST /v1/responses."""
        image = self.image
        inputs = getattr(image, "images", ())
        if inputs:
            content = [{"type": "input_text", "text": image.prompt}]
            content += [{"type": "input_image", "image_url": data_url(img), "detail": "auto"} for img in inputs]
            given: Any = [{"role": "user", "content": content}]
        else:
            given = image.prompt
        body = {"model": self.mainline, "input": given, "tools": [self.tool()], "tool_choice": TOOL_CHOICE}
        if self.previous_response_id:
            body["previous_response_id"] = self.previous_response_id
        for name in ("user", "safety_identifier"):
            if getattr(image, name) is not None:
                body[name] = getattr(image, name)
        if image.stream:
            body["stream"] = True
        return body


def tool_problems(req: ResponsesRequest) -> list[Problem]:
    """What the Responses API's image tool does not take, or takes differently, as one line each."""
    image, found = req.image, []
    if not isinstance(req.mainline, str) or not req.mainline.strip():
        found.append(Problem("responses_model", "responses_model must name a mainline model, e.g. gpt-5.5"))
    rules = image.rules
    if rules is not None and rules.family != IMAGE_TOOL.family:
        found.append(
            Problem(
                "model",
                f"model={shown(image.model)} cannot be the Responses API's image tool (it takes GPT image models, "
                "e.g. gpt-image-2): choose one, or use api='images'",
            )
        )
    if isinstance(image.n, int) and image.n > 1:
        found.append(
            Problem(
                "n",
                f"n={quoted(image.n)}: the Responses API's image tool makes one image per call: "
                "use n=1, or api='images'",
            )
        )
    for name in ("response_format", "style", "complexity", "frame_count", "frame_duration_ms"):
        value = getattr(image, name, None)
        if value is not None and name not in IMAGE_TOOL.takes:
            found.append(
                Problem(
                    name,
                    f"{name}={quoted(value)} is not taken by the Responses API's image tool: leave it out, or use "
                    "api='images'",
                )
            )
    fmt = image.output_format
    if fmt is not None and fmt not in IMAGE_TOOL.output_formats:
        found.append(
            Problem(
                "output_format",
                f"output_format={quoted(fmt)} is not taken by the Responses API's image tool: use "
                f"{', '.join(IMAGE_TOOL.output_formats)}, or api='images'",
            )
        )
    if image.stream and not image.partial_images:
        found.append(
            Problem(
                "stream",
                f"stream=True over the Responses API needs partial_images 1-{IMAGE_TOOL.max_partial_images} "
                "(it streams partial images, then the final one)",
            )
        )
    return found
