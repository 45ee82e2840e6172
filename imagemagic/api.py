"""The one-call entry points: `generate` and `edit` (sync), `agenerate` and `aedit` (async), and `Call`
for the front ends.

A Call carries out a Plan (see settings.prepare): it starts the local server if that is where the
plan goes, sends the request, stores every final image on disk before it is shown, and keeps what
arrived so an interrupt or a failure still returns the images.

Caching: every complete call is remembered under its request key (see store.cache_key); only a
Call made with `cache=True` answers from it. The magic asks for that (re-running a cell, or
"Restart & Run All", must not pay again); `generate()` and the panel always generate anew
unless given `cache=True`.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

from .errors import ImageMagicError, ImageMagicWarning
from .progress import Progress
from .result import ImageResult
from .session import Session, default
from .settings import Plan, Settings, prepare
from .store import HistoryStore, cache_key


class Call:
    """One generation: plan → client → history store → result, with progress kept throughout."""

    def __init__(
        self, plan: Plan, *, on_event=None, cache=False, notify=None, session=None, store=None, meta=None, gate=None
    ):
        self.plan = plan
        self.gate = gate
        self.request = plan.request
        self.endpoint = plan.endpoint
        self.session = session or default()
        self.store = store or HistoryStore(limit_mb=plan.settings.history_limit_mb)
        self.key = cache_key(self.request, self.endpoint)
        self.cache = cache
        self.notify = notify
        if getattr(self.request, "operation", "generate") == "edit":  # an edit records what it came from
            meta = {**(meta or {}), **self.request.inputs_meta()}
        if plan.parent is not None:  # a refinement: a step of a chain
            meta = {**(meta or {}), "parent": self.store.reference(plan.parent.file)}
        self.saver = self.store.saver(self.request, self.endpoint, meta)
        self.on_event = on_event
        self.progress = Progress(self.request.count, on_event, on_final=self.saver)

    def partial(self) -> ImageResult:
        """What has arrived so far, as an ImageResult with its files."""
        return self._with_files(self.progress.result(self.request))

    def _with_files(self, result):
        result.files = self.saver.paths
        result.unsaved = self.saver.failure
        for img in result.images:
            img.file = self.saver.by_slot.get(img.index) if not img.partial else None
        return result

    async def run(self) -> ImageResult:
        """Send the request, or answer from the cache when asked; return the ImageResult.

        Errors carry `.partial` with its files. The history is pruned to its size cap after storing.
        """
        cached = self.store.cached(self.key) if self.cache else None
        if cached is not None:
            for img, path in zip(cached.images, cached.files):
                img.file = path
                if self.on_event:
                    self.on_event(img)
            self.session.last_result = cached
            return cached
        settings = self.plan.settings
        endpoint = await self.session.connect(self.endpoint, self.notify)
        client = self.session.client(
            endpoint,
            api=getattr(self.request, "api", "images"),
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            max_concurrency=settings.max_concurrency,
            max_answer_bytes=int(settings.max_answer_mb * 2**20),
            **({"gate": self.gate} if self.gate else {}),
        )
        try:
            result = self._with_files(await client.generate(self.request, progress=self.progress))
        except ImageMagicError as exc:
            if exc.partial is not None:
                self._with_files(exc.partial)
            raise
        finally:
            if self.saver.paths:  # only a call that stored something can push the history over its cap
                self.store.prune(keep=self.saver.paths)
        self.store.remember(self.key, result.files)
        result.cost = self.session.ledger.record(
            self.request.model, result, offline=self.endpoint.offline, prices=settings.prices
        )
        self.session.last_result = result
        return result

    def run_sync(self) -> ImageResult:
        """run() from synchronous code; a KeyboardInterrupt carries `.partial`."""
        return self.session.run_sync(self.run(), on_interrupt=self.partial)


def _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache, settings, session, **edit):
    api = params.pop("api", None)  # which API: a setting, given with the parameters
    settings = (settings or Settings.current()).but(api_key=api_key, base_url=base_url, offline=offline, api=api)
    plan = prepare(prompt, params, settings=settings, extra_body=extra_body, **edit)
    for note in plan.warnings:
        warnings.warn(note, ImageMagicWarning, stacklevel=3)
    return plan.call(on_event=on_event, cache=cache, session=session, notify=lambda line: print(line, file=sys.stderr))


def _warn_unsaved(result):
    if result.unsaved:
        warnings.warn(result.unsaved, ImageMagicWarning, stacklevel=3)
    return result


def generate(
    prompt: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool = False,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """Generate images for `prompt` and return an ImageResult (a list of PIL images).

    `params` are the API's parameters by name (model, size, quality, n, background,
    output_format, output_compression, moderation, stream, partial_images, style,
    response_format, user); `extra_body` sends parameters this release does not know.
    Defaults come from `%config ImageGenMagics` when the extension is loaded (or `settings`).
    `cache=True` reuses the stored images of an identical earlier request instead of paying again.
    `api="responses"` sends it through the Responses API's image tool (default: %config ImageGenMagics.api).
    Without a key or base URL, the built-in offline preview server answers.
    """
    call = _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache, settings, session)
    return _warn_unsaved(call.run_sync())


async def agenerate(
    prompt: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    on_event: Callable[[Any], None] | None = None,
    extra_body: dict | None = None,
    cache: bool = False,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """The async twin of `generate`, for code already inside an event loop."""
    call = _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache, settings, session)
    return _warn_unsaved(await call.run())


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
    cache: bool = False,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """Edit `image` as `prompt` says and return an ImageResult (a list of PIL images).

    `image`: a PIL image, an ImageResult (all its images), a path, bytes, a history entry, or a list of
    those (1-16 images); `mask`: one of the same kinds, a PNG whose transparent pixels mark what to edit
    (see `mask_from`). `params` are the parameters edits take (model, size, quality, n, background,
    output_format, output_compression, stream, partial_images, response_format, user, input_fidelity);
    the rest is as for `generate` (`api` included). The history records each input's sha256 and file.
    """
    edit = {"operation": "edit", "image": image, "mask": mask}
    call = _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache, settings, session, **edit)
    return _warn_unsaved(call.run_sync())


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
    cache: bool = False,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> ImageResult:
    """The async twin of `edit`, for code already inside an event loop."""
    edit = {"operation": "edit", "image": image, "mask": mask}
    call = _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache, settings, session, **edit)
    return _warn_unsaved(await call.run())
