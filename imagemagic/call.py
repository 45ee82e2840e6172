"""One prepared request carried out: plan → client → history store → result, with progress kept throughout.

A Call starts the local server if that is where the plan goes, sends the request, stores every
final image on disk before it is shown, records usage and cost in the session's ledger, and keeps
what arrived so an interrupt or a failure still returns the images. Which calls to make, with the
cache or not, and what to say about them is the run path's job (run.py), not the Call's.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

from . import budget
from .errors import ContentPolicyViolationError, ImageMagicError, ImageMagicWarning
from .progress import Progress
from .request import EditRequest
from .result import ImageResult
from .session import Session
from .settings import Plan
from .store import HistoryStore, cache_key
from .usage import usage_problem

Clients = Callable[..., Any]  # (endpoint, **options) -> AsyncImagesClient


class Call:
    """One request: `run()` sends it (or answers from the cache when `cache`), `partial()` is what arrived."""

    def __init__(
        self,
        plan: Plan,
        *,
        session: Session,
        cache: bool = False,
        on_event: Callable[[Any], None] | None = None,
        notify: Callable[[str], None] | None = None,
        store: HistoryStore | None = None,
        meta: dict | None = None,
        clients: Clients | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.request = plan.request
        self.endpoint = plan.endpoint
        self.session = session
        self.clients = clients or session.client
        self.store = store or HistoryStore(limit_mb=plan.settings.history_limit_mb)
        self.key = cache_key(self.request, self.endpoint)
        self.cache = cache
        self.notify = notify
        self.say = say or (lambda line: warnings.warn(line, ImageMagicWarning, stacklevel=2))  # run.warn's channel
        if isinstance(self.request, EditRequest):  # an edit records what it came from
            meta = {**(meta or {}), **self.request.inputs_meta()}
        if plan.parent is not None:  # a refinement: a step of a chain
            meta = {**(meta or {}), "parent": self.store.reference(plan.parent.file)}
        self.saver = self.store.saver(self.request, self.endpoint, meta)
        self.on_event = on_event
        self.progress = Progress(self.request.count, on_event, on_final=self.saver, spool=self.saver.spool)

    def partial(self) -> ImageResult:
        """What has arrived so far, as an ImageResult with its files."""
        return self._with_files(self.progress.result(self.request))

    def _with_files(self, result: ImageResult) -> ImageResult:
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
        hold = budget.reserve([self.plan], session=self.session, home=self.store.home)  # before anything is sent
        try:
            endpoint = await self.session.connect(self.endpoint, self.notify)
            client = self.clients(
                endpoint,
                api=getattr(self.request, "api", "images"),
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                max_concurrency=settings.max_concurrency,
                max_answer_bytes=int(settings.max_answer_mb * 2**20),
            )
            result = self._with_files(await client.generate(self.request, progress=self.progress))
        except ContentPolicyViolationError as exc:  # no image, not billed: a record of the refusal instead
            self.session.ledger.refused(self.request.model)
            self.store.refusal(self.saver, exc)
            raise
        except ImageMagicError as exc:
            if exc.partial is not None:
                self._with_files(exc.partial)
            arrived = exc.partial if exc.partial is not None else self.progress.result(self.request)
            if arrived.usage:  # what the answer says was billed counts, even if the call then failed (all its
                self._charge(arrived, hold)  # images refused included)
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):  # it may have been billed: its estimate counts
            for line in hold.settle(None):
                self.say(line)
            raise
        else:
            self._charge(result, hold)
            for line in self.progress.lines():  # the whole plan's images: beyond n ignored, or fewer than n
                self.say(line)
        finally:
            hold.release()  # not billed (a no-op once settled)
            if self.saver.paths:  # only a call that stored something can push the history over its cap
                self.store.prune(keep=self.saver.paths)
        self.store.remember(self.key, result.files)
        self.session.last_result = result
        return result

    def _charge(self, result: ImageResult, hold: budget.Reservation) -> None:
        """Record what `result` was billed: in the session's ledger, and against the budgets in place of what the
        request held (budget.py)."""
        result.cost = self.session.ledger.record(
            self.request.model, result, offline=self.endpoint.offline, prices=self.plan.settings.prices
        )
        for line in hold.settle(result.cost, problem=usage_problem(result.usage)):
            self.say(line)
