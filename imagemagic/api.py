"""The one-call entry points: `generate` (sync), `agenerate` (async), and `Call` for the front ends.

A Call ties a validated request to its endpoint, stores every final image on disk before it is
shown, and keeps what arrived so an interrupt or a failure still returns the images.

Caching: every complete call is remembered under its request key (see store.cache_key); only a
Call made with `cache=True` answers from it. The magic asks for that (re-running a cell, or
"Restart & Run All", must not pay again); `generate()` and the panel always generate anew
unless given `cache=True`.
"""

from __future__ import annotations

import sys
import warnings

from .client import AsyncImagesClient, Progress
from .endpoint import resolve
from .errors import ImageMagicError
from .loop import run_sync
from .request import ImageRequest
from .store import HistoryStore, cache_key
from .usage import SESSION

_clients = {}


class ImageMagicWarning(UserWarning):
    """Advice that did not stop the request (an experimental size, a shut-down model)."""


def client_for(endpoint, **options):
    """A shared AsyncImagesClient per endpoint and options, so connections are reused."""
    key = (endpoint, tuple(sorted(options.items())))
    if key not in _clients:
        _clients[key] = AsyncImagesClient(endpoint, **options)
    return _clients[key]


class Call:
    """One generation: request → client → history store → result, with progress kept throughout."""

    def __init__(self, request, endpoint, *, on_event=None, store=None, client_options=None, prices=None, cache=False):
        self.request = request.validated()
        self.endpoint = endpoint
        self.prices = prices
        self.store = store or HistoryStore()
        self.key = cache_key(self.request, endpoint)
        self.cache = cache
        self.saver = self.store.saver(self.request, endpoint)
        self.on_event = on_event
        self.progress = Progress(self.request.count, on_event, on_final=self.saver)
        self.client = client_for(endpoint, **(client_options or {}))

    def partial(self):
        """What has arrived so far, as an ImageResult with its files."""
        return self._with_files(self.progress.result(self.request))

    def _with_files(self, result):
        result.files = self.saver.paths
        return result

    async def run(self):
        """Send the request, or answer from the cache when asked; return the ImageResult.

        Errors carry `.partial` with its files. The history is pruned to its size cap after storing.
        """
        cached = self.store.cached(self.key) if self.cache else None
        if cached is not None:
            for img in cached.images:
                if self.on_event:
                    self.on_event(img)
            return cached
        try:
            result = self._with_files(await self.client.generate(self.request, progress=self.progress))
        except ImageMagicError as exc:
            if exc.partial is not None:
                self._with_files(exc.partial)
            raise
        finally:
            if self.saver.paths:  # only a call that stored something can push the history over its cap
                self.store.prune(keep=self.saver.paths)
        self.store.remember(self.key, result.files)
        result.cost = SESSION.record(self.request.model, result, offline=self.endpoint.offline, prices=self.prices)
        return result

    def run_sync(self):
        """run() from synchronous code; a KeyboardInterrupt carries `.partial`."""
        return run_sync(self.run(), on_interrupt=self.partial)


def _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache=False):
    request = ImageRequest(prompt=prompt, extra_body=dict(extra_body or {}), **params).validated()
    endpoint = resolve(
        api_key=api_key, base_url=base_url, offline=offline, notify=lambda line: print(line, file=sys.stderr)
    )
    for note in request.warnings(endpoint.base_url):
        warnings.warn(note, ImageMagicWarning, stacklevel=3)
    return Call(request, endpoint, on_event=on_event, cache=cache)


def generate(
    prompt, *, api_key=None, base_url=None, offline=False, on_event=None, extra_body=None, cache=False, **params
):
    """Generate images for `prompt` and return an ImageResult (a list of PIL images).

    `params` are the API's parameters by name (model, size, quality, n, background,
    output_format, output_compression, moderation, stream, partial_images, style,
    response_format, user); `extra_body` sends parameters this release does not know.
    `cache=True` reuses the stored images of an identical earlier request instead of paying again.
    Without a key or base URL, the built-in offline preview server answers.
    """
    return _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache).run_sync()


async def agenerate(
    prompt, *, api_key=None, base_url=None, offline=False, on_event=None, extra_body=None, cache=False, **params
):
    """The async twin of `generate`, for code already inside an event loop."""
    return await _call(prompt, api_key, base_url, offline, on_event, extra_body, params, cache).run()
