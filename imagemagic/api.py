"""The one-call entry points: `generate` and `edit` (sync), `agenerate` and `aedit` (async).

Front ends of the run path: each prepares a Plan (settings.prepare) and hands it to run.RunPath,
which says its warnings through the one channel (ImageMagicWarning), checks the history, answers
from the cache under the `cache` setting, sends, stores and records the cost.

Caching: `cache=None` follows `%config ImageGenMagics.cache` (Settings.cache, on by default), so
re-running a notebook does not pay twice for an identical request; `cache=False` always
generates anew. Ctrl-C raises KeyboardInterrupt with what arrived as its `.partial`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import refinement  # noqa: F401 - registers ImageResult.refine/arefine for the results made here
from .marimo_live import live_output
from .result import ImageResult
from .run import RunPath
from .session import Session
from .settings import Settings, prepare


def _path(
    prompt: str,
    api_key: str | None,
    base_url: str | None,
    offline: bool | None,
    extra_body: dict | None,
    params: dict,
    cache: bool | None,
    settings: Settings | None,
    session: Session | None,
    **edit: Any,
) -> RunPath:
    chosen = {
        name: params.pop(name, None) for name in ("api", "profile", "budget", "daily_budget")
    }  # settings, given here
    settings = (settings or Settings.current()).but(api_key=api_key, base_url=base_url, offline=offline, **chosen)
    plan = prepare(prompt, params, settings=settings, extra_body=extra_body, **edit)
    return RunPath(
        [plan],
        session=session,
        cache=settings.cache if cache is None else cache,
        notify=lambda line: print(line, file=sys.stderr),
    )


def generate(
    prompt: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool | None = None,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """Generate images for `prompt` and return an ImageResult (a list of PIL images).

    `params` are the API's parameters by name (model, size, quality, n, background,
    output_format, output_compression, moderation, stream, partial_images, style,
    response_format, user); `extra_body` sends parameters this release does not know.
    Defaults come from `%config ImageGenMagics` when the extension is loaded (or `settings`).
    An identical earlier request's stored images are reused under the `cache` setting (on by
    default); `cache=False` pays for a new generation. Advice comes as ImageMagicWarning.
    `api="responses"` sends it through the Responses API's image tool (default: %config ImageGenMagics.api);
    `budget=`/`daily_budget=` hold it to those dollars (default: %config ImageGenMagics.budget, .daily_budget);
    `profile=` names the gateway the base URL is (openai, azure, openrouter, litellm, local; default: from the URL).
    Without a key or base URL, the built-in offline preview server answers.
    """
    path = _path(prompt, api_key, base_url, offline, extra_body, params, cache, settings, session)
    return path.run_sync(path.one(on_event or live_output()))


async def agenerate(
    prompt: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool | None = None,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """The async twin of `generate`, for code already inside an event loop."""
    path = _path(prompt, api_key, base_url, offline, extra_body, params, cache, settings, session)
    return await path.one(on_event or live_output())


def edit(
    prompt: str,
    *,
    image: Any,
    mask: Any = None,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool | None = None,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """Edit `image` as `prompt` says and return an ImageResult (a list of PIL images).

    `image`: a PIL image, an ImageResult (all its images), a path, bytes, a history entry, or a list of
    those (1-16 images); `mask`: one of the same kinds, a PNG whose transparent pixels mark what to edit
    (see `mask_from`). `params` are the parameters edits take (model, size, quality, n, background,
    output_format, output_compression, stream, partial_images, response_format, user, input_fidelity);
    the rest is as for `generate`. The history records each input's sha256 and file.
    """
    edit = {"operation": "edit", "image": image, "mask": mask}
    path = _path(prompt, api_key, base_url, offline, extra_body, params, cache, settings, session, **edit)
    return path.run_sync(path.one(on_event or live_output()))


async def aedit(
    prompt: str,
    *,
    image: Any,
    mask: Any = None,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool | None = None,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """The async twin of `edit`, for code already inside an event loop."""
    edit = {"operation": "edit", "image": image, "mask": mask}
    path = _path(prompt, api_key, base_url, offline, extra_body, params, cache, settings, session, **edit)
    return await path.one(on_event or live_output())
