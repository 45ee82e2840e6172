"""Run a coroutine to completion from synchronous code, inside Jupyter's running loop too."""

from __future__ import annotations

import asyncio
import contextlib


def run_sync(coro, on_interrupt=None, private_loop=asyncio.new_event_loop):
    """Run `coro` and return its result.

    With no running loop, `private_loop()` gives the loop to use (a Session keeps one per thread so
    connections can be reused); inside a running loop (a Jupyter kernel) the loop is made re-entrant
    with nest-asyncio2. On Ctrl-C the task is cancelled and awaited, so connections close, and the
    KeyboardInterrupt propagates with `.partial = on_interrupt()` attached.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = private_loop()
    else:
        import nest_asyncio2

        nest_asyncio2.apply(loop)
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt as interrupt:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            loop.run_until_complete(task)
        interrupt.partial = on_interrupt() if on_interrupt else None
        raise
