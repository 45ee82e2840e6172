"""Ctrl-C during `run_sync` (every front end's way into the event loop), wherever it lands.

A KeyboardInterrupt raised between two bytecodes of the running coroutine used to end its task with that
exception; `run_sync` then ran the finished task again to let it close, and asyncio does not stop a loop for
a task that ended in KeyboardInterrupt, so the process hung for good (`imagemagic batch wait`, once in CI).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HANG_GUARD = 60  # seconds; the runs below take milliseconds, this only turns a hang into a failure


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=HANG_GUARD)  # fmt: skip


def test_a_ctrl_c_that_lands_while_the_coroutine_runs_cancels_it_at_its_next_await():
    """Before: the interrupt was raised on the line after os.kill, and run_sync never returned. The
    KeyboardInterrupt has no CancelledError chained: IPython took 0.7 s to format one, in a kernel's interrupt."""
    done = _run(
        """
        import asyncio, os, signal
        from imagemagic.loop import run_sync

        steps = []

        async def work():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the coroutine runs, not while the loop waits
            steps.append("went on to its next await")
            try:
                await asyncio.sleep(30)
            finally:
                steps.append("closed")
            steps.append("never")

        try:
            run_sync(work(), on_interrupt=lambda: list(steps))
        except KeyboardInterrupt as interrupt:
            print(steps, interrupt.partial)
            print(interrupt.__cause__, interrupt.__suppress_context__)  # no CancelledError chain to print
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        """
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "['went on to its next await', 'closed'] ['went on to its next await', 'closed']\nNone True\nTrue\n"
    )


def test_an_interrupt_that_ended_the_task_itself_is_passed_on_with_the_partial():
    """A KeyboardInterrupt raised inside the task (where no handler of ours runs: another thread's handler,
    or code that raises it) ends the task; run_sync passes it on instead of running the finished task again."""
    done = _run(
        """
        import asyncio
        from imagemagic.loop import run_sync

        async def work():
            await asyncio.sleep(0)
            raise KeyboardInterrupt

        try:
            run_sync(work(), on_interrupt=lambda: "so far")
        except KeyboardInterrupt as interrupt:
            print(interrupt.partial)
        """
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "so far\n", "")


def test_a_second_ctrl_c_raises_at_once_and_a_task_that_finished_anyway_still_stops_run_all():
    done = _run(
        """
        import asyncio, os, signal
        from imagemagic.loop import run_sync

        async def stubborn():
            os.kill(os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass  # code that swallows the cancel: the user's Ctrl-C still stops Run All
            return "finished"

        try:
            run_sync(stubborn(), on_interrupt=lambda: "kept")
        except KeyboardInterrupt as interrupt:
            print("stopped", interrupt.partial)

        async def deaf():
            os.kill(os.getpid(), signal.SIGINT)
            while True:  # code that swallows every cancel
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    os.kill(os.getpid(), signal.SIGINT)  # so the user presses Ctrl-C again

        try:
            run_sync(deaf(), on_interrupt=lambda: "second")
        except KeyboardInterrupt as interrupt:
            print("stopped", interrupt.partial)
        """
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "stopped kept\nstopped second\n"
