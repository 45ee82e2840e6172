"""Run one validated request for the magic: endpoint, live display, interrupts, binding `--out`.

Whatever arrived is bound to `--out` even when the call fails or is interrupted (marked
partial); errors end as one UsageError line.
"""

from __future__ import annotations

import asyncio

from IPython.core.error import UsageError

from .api import Call
from .display import LiveDisplay, caption, is_notebook
from .endpoint import resolve
from .errors import ImageMagicError
from .loop import run_sync
from .store import HistoryStore
from .usage import describe_cost


def _endpoint(magics, offline):
    return resolve(base_url=magics.base_url or None, offline=offline or magics.offline, notify=print)


def _client_options(magics):
    return {
        "timeout": magics.timeout,
        "max_retries": magics.max_retries,
        "max_concurrency": magics.max_concurrency,
    }


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
    return f"; kept {len(result)} image{'s' if len(result) != 1 else ''}{where} (partial: {result.partial})"


def run_in_notebook(magics, request, args):
    """Send `request`, show it as it arrives, bind the result to args.out, print captions or paths."""
    endpoint = _endpoint(magics, args.offline)
    for note in request.warnings(endpoint.base_url):
        print(f"warning: {note}")
    inline = magics.display == "inline" or (magics.display == "auto" and is_notebook(magics.shell))
    live = LiveDisplay(request) if inline else None
    call = Call(
        request,
        endpoint,
        on_event=live.on_event if live else None,
        client_options=_client_options(magics),
        prices=magics.prices,
        store=HistoryStore(limit_mb=magics.history_limit_mb),
        cache=magics.cache and not args.fresh,
    )
    if live:
        live.open()
    try:
        result = run_sync(_with_display(call, live), on_interrupt=call.partial)
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
        print(caption(result))
    else:
        for path in result.files:
            print(f"saved {path}")
    if result.cached:
        print("(cached — add --fresh for a new generation)")
    else:
        print(f"est. cost: {describe_cost(result.cost, endpoint.offline)}")
