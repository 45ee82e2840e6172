"""Run a coroutine to completion from synchronous code, inside Jupyter's running loop too."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading


class _CtrlC:
    """The SIGINT handler while `task` runs: the first Ctrl-C cancels it at its next await, a second raises.

    A KeyboardInterrupt raised between any two bytecodes can land inside the event loop or the HTTP stack
    and leave either half-updated; a cancel is delivered where the code awaits, so connections close.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
        self.loop, self.task, self.count = loop, task, 0

    def __call__(self, signum, frame) -> None:
        self.count += 1
        if self.count > 1 or self.task.done():
            raise KeyboardInterrupt
        self.loop.call_soon_threadsafe(self.task.cancel)  # also wakes a loop that waits in select()

    @contextlib.contextmanager
    def installed(self):
        """Handle SIGINT while inside, where Python's own handler (or another _CtrlC) has it: in a thread
        other than the main one, or under someone else's handler, Ctrl-C stays theirs."""
        before = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        if before is not signal.default_int_handler and not isinstance(before, _CtrlC):
            yield
            return
        signal.signal(signal.SIGINT, self)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGINT) is self:
                signal.signal(signal.SIGINT, before)


def run_sync(coro, on_interrupt=None, private_loop=asyncio.new_event_loop):
    """Run `coro` and return its result.

    With no running loop, `private_loop()` gives the loop to use (a Session keeps one per thread so
    connections can be reused); inside a running loop (a Jupyter kernel) the loop is made re-entrant
    with nest-asyncio2. On Ctrl-C the task is cancelled and awaited, so connections close, and a
    KeyboardInterrupt is raised with `.partial = on_interrupt()` attached (also when the task finished
    anyway: the user asked to stop, so "Run All" stops).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = private_loop()
    else:
        import nest_asyncio2

        nest_asyncio2.apply(loop)
    task = loop.create_task(coro)
    ctrl_c = _CtrlC(loop, task)
    try:
        with ctrl_c.installed():
            try:
                result = loop.run_until_complete(task)
            except BaseException as exc:
                if ctrl_c.count and not isinstance(exc, KeyboardInterrupt):  # the cancel, or what the task made of it
                    raise KeyboardInterrupt from (None if isinstance(exc, asyncio.CancelledError) else exc)
                raise
            if ctrl_c.count:
                raise KeyboardInterrupt
            return result
    except KeyboardInterrupt as interrupt:
        if not task.done():  # raised outside the task (no handler of ours): cancel it and let it close
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(task)
        elif not task.cancelled():  # it ended in the KeyboardInterrupt itself: never run it again (asyncio
            task.exception()  # would not stop for it), and say its exception was seen
        interrupt.partial = on_interrupt() if on_interrupt else None
        raise
