"""The one run path: after `settings.prepare`, every front end's plans are carried out here.

The magic, the panel, `generate`/`edit` and their twins, `sweep`, the CLI and a batch's preflight
only turn their input into plans and show what comes back; what a run does is decided once, here:

- **Warnings** have one channel: `warn(note)` issues an `ImageMagicWarning` (catchable and
  filterable as any warning), shown wherever Python shows warnings as one line `warning: …`. A
  front end that shows lines itself (the panel) passes its own `say`. Each note is said once per run.
- **History**: before anything is sent, the history folder is tried; if it cannot be written, one
  line says so (the images stay in the result only; cache and resume are off for the run).
- **Cache**: `use_cache(settings, fresh)`: `%config ImageGenMagics.cache` (Settings.cache) unless
  the front end's "fresh" is given (--fresh, fresh=True, cache=False, the panel's fresh box).
- **Stop rules**: after an answer other requests cannot get past, none of those is sent: a bad key
  or an exhausted quota (`insufficient_quota`) stops every request to that endpoint, an unknown model
  (`model_not_found`) or no permission (403) every request for that model. One line per stop says
  so, with the count of requests not sent; requests already in flight finish.
- **Interrupt**: `run_sync` runs a coroutine; on Ctrl-C the KeyboardInterrupt propagates with
  `.partial` attached (the images, or the Sweep so far); `interrupted_line` is the line to print.
- **Cost**: every Call records its usage and cost in the session's ledger.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import budget
from .call import Call
from .client import AsyncImagesClient
from .contact import DECODERS, thumbnail
from .errors import (
    AuthenticationError,
    ImageMagicError,
    ImageMagicWarning,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from .expand import Variant
from .ratelimit import RateGate
from .result import ImageResult
from .session import Session, default
from .settings import Plan, Settings
from .store import HistoryStore, cache_key
from .sweep_result import Run, Sweep, label

T = TypeVar("T")
_plain_format = warnings.formatwarning


def _one_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    if issubclass(category, ImageMagicWarning):
        return f"warning: {message}\n"
    return _plain_format(message, category, filename, lineno, line)


warnings.formatwarning = _one_line  # an ImageMagicWarning reads as one line, wherever Python shows it
warnings.filterwarnings("always", category=ImageMagicWarning, append=True)  # each run says its notes again


def warn(note: str) -> None:
    """The one warning channel: an ImageMagicWarning."""
    warnings.warn(note, ImageMagicWarning, stacklevel=2)


def use_cache(settings: Settings, fresh: bool = False) -> bool:
    """Whether a run answers identical requests from the history: the `cache` setting, unless `fresh`."""
    return settings.cache and not fresh


def hopeless(error: BaseException) -> bool:
    """An answer other requests cannot get past: a bad key, no permission, an unknown model, no quota."""
    return _blocks(error) is not None


def _blocks(error: BaseException) -> str | None:
    """Whom a hopeless answer blocks: "endpoint" (every request to it: the key, the quota) or "model" (every
    request for the same model there: it is unknown, or the key may not use it); None for any other answer."""
    if isinstance(error, AuthenticationError):
        return "endpoint"
    if isinstance(error, RateLimitError) and "insufficient_quota" in (error.code, error.type):
        return "endpoint"
    if isinstance(error, PermissionDeniedError) or (
        isinstance(error, NotFoundError) and error.code == "model_not_found"
    ):
        return "model"
    return None


def _scopes(plan: Plan) -> tuple[tuple, tuple]:
    """The stop scopes a plan falls in: its endpoint, and its model at that endpoint."""
    return ("endpoint", plan.endpoint), ("model", plan.endpoint, plan.request.model)


def history_problem(store: HistoryStore) -> str | None:
    """The line saying the history folder cannot take files (tried with a real file), or None."""
    try:
        store.home.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=store.home, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return (
            f"the history folder {store.home} cannot be written ({reason}): images stay in the result only "
            "(keep them with .save(path)); cache and resume are off"
        )
    return None


@dataclass(frozen=True)
class Preflight:
    """What a run says before sending anything: its notes (each once) and the history's problem, if any."""

    notes: tuple[str, ...]
    history: str | None

    @property
    def lines(self) -> tuple[str, ...]:
        """Every line to say, in order."""
        return self.notes + ((self.history,) if self.history else ())


def preflight(plans: Sequence[Plan], notes: Sequence[str] = (), store: HistoryStore | None = None) -> Preflight:
    """Check plans without sending: every plan's warnings and `notes` once each, and whether the history
    can be written. (A batch checks its own rules, then says these.)"""
    limit = plans[0].settings.history_limit_mb if plans else Settings().history_limit_mb
    lines = dict.fromkeys([*notes, *(note for plan in plans for note in plan.warnings)])
    return Preflight(tuple(lines), history_problem(store or HistoryStore(limit_mb=limit)))


def interrupted_line(partial: ImageResult | Sweep | None, name: str | None = None) -> str:
    """The one line a front end prints after Ctrl-C: what was kept, and where."""
    where = f" in {name}" if name else ""
    if isinstance(partial, Sweep):
        total = partial.total if partial.total is not None else len(partial)
        kept = f" (kept{where})" if name else ""
        return f"interrupted: {len(partial)} of {total} requests done{kept}; run it again to finish the rest"
    return f"interrupted: the connection was closed{kept_line(partial, name)}"


def kept_line(result: ImageResult | None, name: str | None = None) -> str:
    """'; kept 2 images in hero (partial: True)' after an error or interrupt, or '' when nothing arrived."""
    if not result:
        return ""
    where = f" in {name}" if name else ""
    unsaved = f"; {result.unsaved}" if result.unsaved else ""
    many = "s" if len(result) != 1 else ""
    return f"; kept {len(result)} image{many}{where} (partial: {result.partial}){unsaved}"


def _explained(error: ImageMagicError, plan: Plan) -> ImageMagicError:
    """The error, with the endpoint's hint when a 404 says the base URL is wrong rather than the model."""
    if isinstance(error, NotFoundError) and error.code != "model_not_found":
        hint = plan.endpoint.not_found_hint()
        if hint and hint not in str(error):
            error.args = (f"{error}; {hint}",)
    return error


class _RunClients:
    """The clients of one run: they share its rate gate, and are closed when the run ends (none stays in the
    session)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.gate = RateGate(sleep=session.sleep, clock=session.clock)
        self.clients: dict[tuple, AsyncImagesClient] = {}

    def __call__(self, endpoint: Any, **options: Any) -> AsyncImagesClient:
        key = (endpoint, tuple(sorted(options.items())))
        if key not in self.clients:
            self.clients[key] = self.session.new_client(endpoint, gate=self.gate, **options)
        return self.clients[key]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


class RunPath:
    """One run of prepared plans for a front end: preflight said once, calls made, stop rules kept.

    `one()` carries out a single plan (its images); `many(variants)` carries out every plan up to
    `max_concurrency` at a time and returns a Sweep. `say` is the warning channel (default `warn`);
    `notify` hears status lines (the local server starting).
    """

    def __init__(
        self,
        plans: Sequence[Plan],
        *,
        session: Session | None = None,
        cache: bool = True,
        notes: Sequence[str] = (),
        say: Callable[[str], None] = warn,
        notify: Callable[[str], None] | None = None,
        store: HistoryStore | None = None,
    ) -> None:
        self.plans = list(plans)
        self.session = session or default()
        settings = self.plans[0].settings if self.plans else Settings()
        self.store = store or HistoryStore(limit_mb=settings.history_limit_mb)
        self.say = say
        self.notify = notify
        self.preflight = preflight(self.plans, notes, self.store)
        self.cache = cache and self.preflight.history is None
        self.calls: list[Call] = []
        self.runs: list[Run] = []  # the finished runs of many(), in the order they ended
        self.stopped: str | None = None  # the stop lines, once hopeless answers stopped (part of) the run
        self._stops: dict[tuple, ImageMagicError] = {}  # scope (see _scopes) -> the answer that closed it
        self._many = False
        self._said = False
        self._noted: set[str] = set()  # the lines calls said (each once per run)

    def _say_preflight(self) -> None:
        """Before the first request: refuse a run the budgets cannot pay for, then say the notes once."""
        if not self._said:
            budget.check(self._billable(), session=self.session, home=self.store.home)
            self._said = True
            for line in self.preflight.lines:
                self.say(line)

    def _billable(self) -> list[Plan]:
        """The plans a budget is judged on: those the cache will not answer (looked up only when a budget is set)."""
        settings = self.plans[0].settings if self.plans else Settings()
        if not self.cache or (settings.budget is None and settings.daily_budget is None):
            return self.plans
        return [p for p in self.plans if self.store.cached(cache_key(p.request, p.endpoint)) is None]

    def call(self, plan: Plan, *, on_event: Callable[[Any], None] | None = None, **options: Any) -> Call:
        """The Call for one of the run's plans (kept, so `partial()` can answer)."""
        call = self._new_call(plan, on_event=on_event, **options)
        self.calls.append(call)
        return call

    def _new_call(self, plan: Plan, **options: Any) -> Call:
        options.setdefault("say", self._once)
        return Call(plan, session=self.session, cache=self.cache, notify=self.notify, store=self.store, **options)

    def _once(self, line: str) -> None:
        """Say a call's line (a budget's note), once per run."""
        if line not in self._noted:
            self._noted.add(line)
            self.say(line)

    async def one(self, on_event: Callable[[Any], None] | None = None, call: Call | None = None) -> ImageResult:
        """Carry out the run's one plan (or `call`, made by `call()`): its ImageResult; errors keep `.partial`."""
        self._say_preflight()
        call = call or self.call(self.plans[0], on_event=on_event)
        try:
            result = await call.run()
        except ImageMagicError as exc:
            _explained(exc, call.plan)
            raise
        if result.unsaved and self.preflight.history is None:
            self.say(result.unsaved)
        return result

    def partial(self) -> ImageResult | Sweep | None:
        """What arrived so far: the one call's images, or the Sweep of the finished runs."""
        if not self._many:
            return self.calls[0].partial() if self.calls else None
        return Sweep(self.runs, offline=_offline(self.plans), stopped=self.stopped, total=len(self.plans))

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` (one() or many()) from synchronous code; Ctrl-C raises KeyboardInterrupt with `.partial`."""
        return self.session.run_sync(coro, on_interrupt=self.partial)

    async def many(self, variants: Sequence[Variant], *, on_run: Callable[[Run, int], None] | None = None) -> Sweep:
        """Every plan, up to max_concurrency at a time behind one rate gate, each stored with the run's id;
        `on_run(run, first_slot)` hears each run as it ends. A failed request is recorded and the run goes
        on, unless its answer is hopeless: then nothing more is sent."""
        self._many = True
        self._say_preflight()
        clients = _RunClients(self.session)
        run_id = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        concurrency = self.plans[0].settings.max_concurrency if self.plans else 1
        semaphore = asyncio.Semaphore(max(1, concurrency))
        firsts = [sum(p.request.count for p in self.plans[:i]) for i in range(len(self.plans))]
        runs: list[Run | None] = [None] * len(self.plans)
        started = time.monotonic()

        async def one(i: int) -> None:
            async with semaphore:
                run = await self._sweep_run(self.plans[i], variants[i], run_id, clients)
            runs[i] = run
            self.runs.append(run)
            if on_run and run.sent:
                on_run(run, firsts[i])

        try:
            await asyncio.gather(*(one(i) for i in range(len(self.plans))))
        finally:
            await clients.aclose()
        done = [run for run in runs if run is not None]
        self._say_stopped(done)
        return Sweep(done, id=run_id, offline=_offline(self.plans), elapsed=time.monotonic() - started,
                     stopped=self.stopped)  # fmt: skip

    async def _sweep_run(self, plan: Plan, variant: Variant, run_id: str, clients: _RunClients) -> Run:
        if any(scope in self._stops for scope in _scopes(plan)):
            return Run(variant.variables, plan.request, sent=False)
        call = self._new_call(plan, meta={"run": run_id}, clients=clients)  # not kept: its images go once stored
        try:
            result = await call.run()
        except ImageMagicError as exc:
            blocks = _blocks(exc)
            scope = next((s for s in _scopes(plan) if s[0] == blocks), None)
            if scope is not None and scope not in self._stops:
                self._stops[scope] = exc
            return Run(variant.variables, plan.request, error=_explained(exc, plan))
        kept = result.unsaved is not None or len(result.files) != len(result)
        run = Run(
            variant.variables,
            plan.request,
            files=list(result.files),
            usage=dict(result.usage),
            cost=result.cost,
            cost_source=result.cost_source,
            request_ids=list(result.request_ids),
            cached=result.cached,
            thumbnails=await asyncio.get_running_loop().run_in_executor(DECODERS, _thumbnails, result),
            _kept=result if kept else None,
        )
        if not kept:
            _let_go(result)
        return run

    def _say_stopped(self, runs: list[Run]) -> None:
        """One line per stop: the answer, how many requests got it, how many were not sent because of it."""
        lines = []
        for scope, error in self._stops.items():
            inside = [(run, plan) for run, plan in zip(runs, self.plans) if scope in _scopes(plan)]
            got = sum(1 for run, _ in inside if run.error is not None and _blocks(run.error) == scope[0])
            unsent = sum(1 for run, _ in inside if not run.sent)
            whom = "of this run" if scope[0] == "endpoint" else f"for {scope[2]}"
            lines.append(
                f"stopped: {error}; {got} request{'s' if got != 1 else ''} got this answer and {unsent} "
                f"{'were' if unsent != 1 else 'was'} not sent: no other request {whom} could get past it"
            )
        for line in lines:
            self.say(line)
        self.stopped = "\n".join(lines) or None


def failure_lines(sweep: Sweep) -> list[str]:
    """One line per failed request, except those the stop line already covers."""
    return [
        f"failed: {label(run.variables)}: {run.error}"
        for run in sweep
        if run.error is not None and not (sweep.stopped and hopeless(run.error))
    ]


def _thumbnails(result: ImageResult) -> list:
    return [thumbnail(pil) for pil in result]


def _offline(plans: Sequence[Plan]) -> bool:
    return all(plan.endpoint.offline for plan in plans)


def _let_go(result: ImageResult) -> None:
    """Break each image's PIL <-> GeneratedImage cycle, so its bytes and pixels are freed as soon as the result
    is dropped (they are on disk) rather than whenever the cycle collector next runs."""
    for img in result.images:
        if img._pil is not None:
            img._pil.info.pop("imagemagic", None)
