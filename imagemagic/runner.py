"""What the magic shows of a run: one image's live display and caption, or a sweep's bar, contact sheet and
summary; binding `--out`.

A front end of the run path (run.py decides warnings, history, cache, stop rules and cost). Whatever
arrived is bound to `--out` even when the run fails or is interrupted (marked partial). An error
ends as one UsageError line. An interrupt prints its one line and then reaches IPython, so a
"Run All" stops at this cell.
"""

from __future__ import annotations

import asyncio
from argparse import Namespace
from typing import Any

from IPython.core.error import UsageError
from IPython.display import display as show

from . import refinement  # noqa: F401 - registers ImageResult.refine/arefine for the results made here
from .contact import Cell
from .display import LiveDisplay, RefusalCard, caption, is_notebook
from .errors import ContentPolicyViolationError, ImageMagicError
from .expand import Variants
from .responses_client import billed_apart
from .result import ImageResult
from .run import RunPath, failure_lines, interrupted_line, kept_line
from .settings import Plan, Settings
from .sweep_display import RunView
from .usage import cost_line


def inline(settings: Settings, shell: Any) -> bool:
    """Whether images show in the notebook (else their paths are printed)."""
    return settings.display == "inline" or (settings.display == "auto" and is_notebook(shell))


def _bind(shell: Any, name: str | None, result: Any) -> None:
    if name and result is not None:
        shell.user_ns[name] = result


def _interrupted(shell: Any, args: Namespace, interrupt: KeyboardInterrupt) -> None:
    """Bind what arrived, print the one line, and let the interrupt go on to IPython (Run All stops here)."""
    __tracebackhide__ = True
    partial = getattr(interrupt, "partial", None)
    _bind(shell, args.out, partial)
    print(interrupted_line(partial, args.out))
    raise interrupt.with_traceback(None)  # the asyncio frames below say nothing to the user


async def _with_display(path: RunPath, live: LiveDisplay | None) -> ImageResult:
    ticker = asyncio.ensure_future(live.tick()) if live else None
    try:
        return await path.one(live.on_event if live else None)
    finally:
        if ticker:
            ticker.cancel()
        if live:
            await live.drain()


def show_one(shell: Any, path: RunPath, args: Namespace) -> None:
    """Carry out the run's one plan, show it as it arrives, bind `--out`, print the caption or the paths."""
    __tracebackhide__ = True
    plan = path.plans[0]
    live = LiveDisplay(plan.request, max_side=plan.settings.display_max_side) if inline(plan.settings, shell) else None
    if live:
        live.open()
    try:
        result = path.run_sync(_with_display(path, live))
    except KeyboardInterrupt as interrupt:
        if live:
            live.stop("interrupted")
        _interrupted(shell, args, interrupt)
    except ContentPolicyViolationError as exc:  # its own card: nothing was made, nothing billed
        if live:
            live.stop("refused by moderation")
        show(RefusalCard(exc, plan.request.prompt))
        return
    except ImageMagicError as exc:
        if live:
            live.stop(f"failed: {type(exc).__name__}")
        _bind(shell, args.out, exc.partial)
        raise UsageError(f"{exc}{kept_line(exc.partial, args.out)}") from exc
    except Exception as exc:  # not ours to explain: show the traceback, but not a forever-"generating" placeholder
        if live:
            live.stop(f"failed: {type(exc).__name__}")
        raise
    _bind(shell, args.out, result)
    if live:
        live.finish()
        print(caption(result))
    else:
        for file in result.files:
            print(f"saved {file}")
    if result.cached:
        print("(cached — add --fresh for a new generation)")
    else:
        apart = billed_apart(result)  # a Responses API call: the mainline model's tokens are billed too
        print(f"est. cost: {cost_line(result.cost, plan, result.cost_source)}{f'; {apart}' if apart else ''}")


def show_many(shell: Any, path: RunPath, variants: Variants, args: Namespace) -> None:
    """Carry out a sweep: the bar and the live contact sheet, bind `--out`, print failures and the summary."""
    __tracebackhide__ = True
    plans: list[Plan] = path.plans
    settings = plans[0].settings
    cells = [Cell(v.variables) for v, p in zip(variants, plans) for _ in range(p.request.count)]
    offline = all(p.endpoint.offline for p in plans)
    view = RunView(cells, title=f"{len(plans)} requests", offline=offline, sheet=inline(settings, shell))
    view.open()
    try:
        result = path.run_sync(path.many(variants, on_run=view.add))
    except KeyboardInterrupt as interrupt:
        view.close()
        _interrupted(shell, args, interrupt)
    view.close()
    _bind(shell, args.out, result)
    for line in failure_lines(result):
        print(line)
    print(result.summary())
