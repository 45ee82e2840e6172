"""Run one prepared call for the magic: live display, interrupts, binding `--out`, captions.

Whatever arrived is bound to `--out` even when the call fails or is interrupted (marked
partial); errors end as one UsageError line.
"""

from __future__ import annotations

import asyncio

from IPython.core.error import UsageError

from .display import LiveDisplay, caption, is_notebook
from .errors import ImageMagicError
from .responses_client import billed_apart
from .usage import describe_cost


async def _with_display(call, live):
    ticker = asyncio.ensure_future(live.tick()) if live else None
    try:
        return await call.run()
    finally:
        if ticker:
            ticker.cancel()
        if live:
            live.flush()


def _bind(magics, name, result):
    if name and result is not None:
        magics.shell.user_ns[name] = result


def _kept(result, name):
    if not result:
        return ""
    where = f" in {name}" if name else ""
    unsaved = f"; {result.unsaved}" if result.unsaved else ""
    return f"; kept {len(result)} image{'s' if len(result) != 1 else ''}{where} (partial: {result.partial}){unsaved}"


def run_in_notebook(magics, plan, args):
    """Carry out `plan`, show it as it arrives, bind the result to args.out, print captions or paths."""
    for note in plan.warnings:
        print(f"warning: {note}")
    display = plan.settings.display
    inline = display == "inline" or (display == "auto" and is_notebook(magics.shell))
    live = LiveDisplay(plan.request, max_side=plan.settings.display_max_side) if inline else None
    call = plan.call(
        on_event=live.on_event if live else None, cache=plan.settings.cache and not args.fresh, notify=print
    )
    if live:
        live.open()
    try:
        result = call.session.run_sync(_with_display(call, live), on_interrupt=call.partial)
    except KeyboardInterrupt as interrupt:
        partial = getattr(interrupt, "partial", None)
        if live:
            live.stop("interrupted")
        _bind(magics, args.out, partial)
        print(f"interrupted: the connection was closed{_kept(partial, args.out)}")
        return
    except ImageMagicError as exc:
        if live:
            live.stop(f"failed: {type(exc).__name__}")
        _bind(magics, args.out, exc.partial)
        raise UsageError(f"{exc}{_kept(exc.partial, args.out)}") from None
    except Exception as exc:  # not ours to explain: show the traceback, but not a forever-"generating" placeholder
        if live:
            live.stop(f"failed: {type(exc).__name__}")
        raise
    _bind(magics, args.out, result)
    if live:
        live.finish()
        print(caption(result))
    else:
        for path in result.files:
            print(f"saved {path}")
    if result.cached:
        print("(cached — add --fresh for a new generation)")
    else:
        apart = billed_apart(result)  # a Responses API call: the mainline model's tokens are billed too
        print(f"est. cost: {describe_cost(result.cost, plan.endpoint.offline)}{f'; {apart}' if apart else ''}")
    if result.unsaved:
        print(f"warning: {result.unsaved}")
