"""Refinement: a new step of a chain that starts from an earlier result ("now make the sky purple").

With `api="images"` a refinement is an edit whose input is the earlier image; with `api="responses"` it
continues the earlier conversation (`previous_response_id`), or, when the earlier image was not made
there, sends that image as an `input_image`; with `api="chat"` the earlier user message and the assistant's
image are sent again before the new instruction. Either way the history records the step with its parent,
so `entry.chain()` / `history(chain=...)` walks back to the first image.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ValidationError
from .inputs import InputImage
from .marimo_live import live_output
from .request import Problem
from .result import REFINERS, GeneratedImage, ImageResult
from .run import RunPath
from .settings import Plan, Settings, api_for, prepare
from .store import HistoryEntry

SOURCES = "an ImageResult, one of its images, or a history entry"
KEPT = ("model", "size", "quality", "background", "output_format", "output_compression")  # carried along a chain


@dataclass(frozen=True)
class Parent:
    """The step a refinement continues: its image, history file, response id and image-call id."""

    image: InputImage
    file: Path | None
    response_id: str | None = None
    image_call_id: str | None = None
    params: dict = field(default_factory=dict)  # the parameters a refinement keeps unless given anew
    prompt: str | None = None  # the prompt that made it (a chat refinement sends it as the earlier turn)


def parent_of(source: Any, index: int = 0) -> Parent:
    """The Parent of `source` (image `index` of an ImageResult, a GeneratedImage or a HistoryEntry).

    ValidationError when it is none of these, or a partial image."""
    if isinstance(source, ImageResult):
        if not source.images:
            raise ValidationError([Problem("continue", "the result holds no image to refine")])
        if not 0 <= index < len(source.images):
            raise ValidationError([Problem("continue", f"the result has no image {index + 1}: it holds {len(source)}")])
        source = source.images[index]
    if isinstance(source, GeneratedImage) and source.partial:
        raise ValidationError([Problem("continue", "a partial image cannot be refined: wait for the final one")])
    stored = Path(str(source.file)) if isinstance(source, GeneratedImage) and source.file else None
    if stored is not None and stored.with_suffix(".json").is_file():
        source = HistoryEntry(stored)
    if isinstance(source, HistoryEntry):
        meta = source.meta
        image = InputImage(source.generated().data, name=source.path.name, file=str(source.path))
        kept = {k: v for k, v in meta.get("parameters", {}).items() if k in KEPT}
        return Parent(image, source.path, meta.get("response_id"), meta.get("image_call_id"), kept, meta.get("prompt"))
    if isinstance(source, GeneratedImage):  # not in the history (it could not be stored): its bytes only
        image = InputImage(source.data, name=f"image-{source.index + 1}.{source.format}")
        return Parent(image, None, source.response_id, source.image_call_id)
    raise ValidationError([Problem("continue", f"{type(source).__name__} cannot be refined: give {SOURCES}")])


def plan_refinement(
    source: Any,
    prompt: str,
    params: dict | None = None,
    *,
    settings: Settings,
    extra_body: dict | None = None,
    index: int = 0,
) -> Plan:
    """The Plan of refining `source` as `prompt` says: an edit of its image (Images API), or the next turn of
    its conversation (Responses API). The earlier step's model, size, quality, background and output format
    are kept unless `params` says otherwise. Raises ValidationError; nothing is sent."""
    parent = parent_of(source, index)
    given = {k: v for k, v in (params or {}).items() if v is not None}
    params = {**parent.params, **given}  # a step keeps the model, size and look of the one before
    if settings.api == "responses" and parent.response_id:
        continues = {"previous_response_id": parent.response_id}
        plan = prepare(prompt, params, settings=settings, extra_body=extra_body, **continues)
    elif api_for(params, settings) == "chat":  # the conversation goes on: the earlier turn, then the instruction
        plan = prepare(prompt, params, settings=settings, extra_body=extra_body)
        earlier = (parent.prompt or "", parent.image)
        plan = replace(plan, request=replace(plan.request, earlier=earlier))  # type: ignore[call-arg]
    else:
        plan = prepare(prompt, params, settings=settings, extra_body=extra_body, operation="edit", image=parent.image)
    return replace(plan, parent=parent)


def _path(source, prompt, api, index, settings, session, cache, params) -> RunPath:
    settings = (settings or Settings.current()).but(api=api)
    plan = plan_refinement(source, prompt, params, settings=settings, index=index)
    cache = settings.cache if cache is None else cache
    return RunPath([plan], session=session, cache=cache, notify=lambda line: print(line, file=sys.stderr))


def refine(
    source: Any,
    prompt: str,
    *,
    api: str | None = None,
    index: int = 0,
    settings: Settings | None = None,
    session: Any = None,
    on_event: Any = None,
    cache: bool | None = None,
    **params: Any,
) -> ImageResult:
    """Refine `source` ({sources}) as `prompt` says; return the new step as an ImageResult.

    `api` is images (an edit of the earlier image) or responses (the conversation continues); default:
    %config ImageGenMagics.api. `index` picks the image of a result. `params` are the request's parameters
    by name; `cache` as for `generate`."""
    path = _path(source, prompt, api, index, settings, session, cache, params)
    return path.run_sync(path.one(on_event or live_output()))


async def arefine(
    source: Any,
    prompt: str,
    *,
    api: str | None = None,
    index: int = 0,
    settings: Settings | None = None,
    session: Any = None,
    on_event: Any = None,
    cache: bool | None = None,
    **params: Any,
) -> ImageResult:
    """The async twin of `refine`."""
    path = _path(source, prompt, api, index, settings, session, cache, params)
    return await path.one(on_event or live_output())


refine.__doc__ = (refine.__doc__ or "").format(sources=SOURCES)
REFINERS.update(refine=refine, arefine=arefine)  # ImageResult.refine/arefine call these (result.py is below)
