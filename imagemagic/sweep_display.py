"""What a many-image run shows while it runs: one progress bar and, in a notebook, the live contact sheet.

The bar is tqdm's (its notebook widget in Jupyter, a text bar in a terminal) with images done,
failed, cached and the cost so far. Both are rate-bounded whatever the run's size: the bar is
redrawn at most every BAR_INTERVAL seconds and the sheet every SHEET_INTERVAL (in place, through
its display_id), and both once more at the end. While a text bar is drawn, every warning shown (the run's
`warning: …` lines among them) goes through the bar: it is cleared, the warning written on its own line, and
the bar drawn again below it.
"""

from __future__ import annotations

import asyncio
import base64
import math
import sys
import time
import uuid
import warnings

from .static import WidgetDisplay
from .sweep_result import describe_spent

BAR_INTERVAL = 1.0  # seconds; a notebook bar's redraw is a few widget messages
SHEET_INTERVAL = 2.0  # a live frame is rendered on the event loop: keep it rare and fast


class Throttle:
    """Calls `action` at most once per `interval` seconds, counted from its creation (when the first state was
    drawn); a call refused now happens when the interval ends."""

    def __init__(self, interval, action, clock=time.monotonic):
        self.interval = interval
        self.action = action
        self.clock = clock
        self.last = clock()
        self.pending = None

    def __call__(self):
        if self.pending is not None:
            return
        wait = self.last + self.interval - self.clock()
        if wait <= 0:
            self._fire()
            return
        try:
            self.pending = asyncio.get_running_loop().call_later(wait, self._fire)
        except RuntimeError:  # no loop to come back later: flush() shows the end state
            pass

    def _fire(self):
        self.pending = None
        self.last = self.clock()
        self.action()

    def cancel(self):
        """Drop the pending call, if any."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def flush(self):
        """Carry out the pending call now (or a last one)."""
        self.cancel()
        self._fire()


class _ThroughBars:
    """`warnings.showwarning` while text bars are open: the previous one, inside tqdm's external write mode."""

    def __init__(self):
        self.open = 0
        self.before = warnings.showwarning

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        from tqdm import tqdm

        with tqdm.external_write_mode(file=file or sys.stderr):
            self.before(message, category, filename, lineno, file, line)

    def enter(self):
        """Count a text bar in (the first one puts this in place)."""
        self.open += 1
        if self.open == 1:
            self.before, warnings.showwarning = warnings.showwarning, self

    def leave(self):
        """Count a text bar out (the last one puts back what was there, unless something replaced this since)."""
        self.open -= 1
        if self.open == 0 and warnings.showwarning is self:
            warnings.showwarning = self.before


_THROUGH_BARS = _ThroughBars()


class RunView:
    """The bar (and, with `sheet`, the live contact sheet) of one run of `slots` images.

    `cells` are contact.Cell placeholders, one per image slot; `add(run, first)` fills the run's
    cells from slot `first`. `publish`/`update` are IPython's display/update_display unless given.
    """

    def __init__(self, cells, *, title, offline, sheet=False, publish=None, update=None, file=None):
        from IPython.display import display, update_display
        from tqdm.auto import tqdm

        self.cells = cells
        self.title = title
        self.offline = offline
        self.done = self.failed = self.cached = 0
        self.cost = 0.0
        self._publish = publish or display
        self._update = update or update_display
        self.display_id = f"imagegen-sweep-{uuid.uuid4().hex}" if sheet else None
        from tqdm.notebook import tqdm as notebook_bar

        widget = {"display": False} if issubclass(tqdm, notebook_bar) else {}  # shown below, with its text line
        self.bar = tqdm(
            total=len(cells), unit="image", desc="images", mininterval=math.inf, leave=True, file=file, **widget
        )
        self._static = (
            WidgetDisplay(self.bar.container, lambda: (str(self.bar), None), publish=self._publish, update=self._update)
            if widget
            else None
        )
        if self._static:
            self._static.show()
        else:
            _THROUGH_BARS.enter()
        self._bar_throttle = Throttle(BAR_INTERVAL, self._draw_bar)
        self._sheet_throttle = Throttle(SHEET_INTERVAL, self._draw_sheet)

    def open(self):
        """Show the empty sheet (its cells fill in as images arrive)."""
        if self.display_id:
            self._publish(self.sheet_bundle(), raw=True, display_id=self.display_id)

    def add(self, run, first):
        """Count a finished run and put its thumbnails into its cells."""
        count = len(run.thumbnails) or run.request.count
        if run.error is not None:
            self.failed += count
        else:
            self.done += count
            self.cached += count if run.cached else 0
        self.cost = None if self.cost is None or run.cost is None else self.cost + run.cost
        for offset in range(run.request.count):
            cell = self.cells[first + offset]
            cell.failed = run.error is not None
            cell.thumbnail = run.thumbnails[offset] if offset < len(run.thumbnails) else None
            cell.caption = "failed" if cell.failed else describe_spent(run.cost_per_image, self.offline)
        self._bar_throttle()
        if self.display_id:
            self._sheet_throttle()

    def status(self):
        """One line: done, failed, cached, cost so far."""
        return f"failed {self.failed}, cached {self.cached}, {describe_spent(self.cost, self.offline)}"

    def _draw_bar(self, refresh=True):
        self.bar.n = self.done + self.failed
        self.bar.set_postfix_str(self.status(), refresh=False)
        if refresh:
            self.bar.refresh()

    def sheet_bundle(self, final=True):
        """The contact sheet as a display bundle (a PNG and one line of text); a live frame compresses less."""
        from .contact import render

        png = render(self.cells, f"{self.title} · {self.status()}", compress_level=6 if final else 1)
        return {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<contact sheet: {self.title}>"}

    def _draw_sheet(self, final=False):
        self._update(self.sheet_bundle(final), raw=True, display_id=self.display_id)

    def close(self):
        """Draw the end state once more and close the bar (closing draws it)."""
        self._bar_throttle.cancel()
        self._draw_bar(refresh=False)
        if self.display_id:
            self._sheet_throttle.cancel()
            self._draw_sheet(final=True)
        if self._static:  # the bar's value and colour in one message, then its last line for a saved notebook
            with self.bar.container.children[1].hold_sync():
                self.bar.close()
            self._static.refresh()
        else:
            self.bar.close()
            _THROUGH_BARS.leave()
