"""Budgets in dollars: `budget` per session, `daily_budget` per day (Settings options, `%config ImageGenMagics`).

`check(plans)` refuses, in one line and before anything is sent, a run whose expected cost (usage.quote, at
batch rates for batches) would pass what is left of either; offline runs cost nothing and always pass.

Then each request holds its estimate while it is sent: `reserve(plans)` takes it from what is left in one
transaction (a lock for the session's budget; `BEGIN IMMEDIATE` on `<home>/spending.sqlite3` for the day's, shared
by kernels and kept across restarts), so two kernels, or concurrent requests of one, never both spend the last
dollars. `Reservation.settle(cost)` replaces the hold by what the answer billed (its usage; the estimate when that is
unknown), `release()` gives it back when nothing was billed. call.Call does both around every request, so every
front end and API dialect inherits them. A hold names its owner (pid and host) and expires after its request's
longest possible wait: the hold of a killed kernel is dropped once another kernel on that host sees its owner is
gone, or, from another host, when it expires.

The day is one stated clock: UTC, or `budget_timezone`. A spending file that cannot be read refuses to send (one
line naming it); one that cannot be written after a paid answer loses that record only (a warning line; the images
are kept). `report()` is `%imagegen_usage`'s spend-against-budget lines.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from weakref import WeakKeyDictionary

from .errors import BudgetError
from .history_index import private
from .session import Session, default
from .settings import Plan, Settings, time_zone
from .store import default_home
from .usage import dollars, quote

FILE = "spending.sqlite3"
LOCK_WAIT = 5.0  # seconds to wait for another kernel's transaction before the file counts as locked
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spending (day TEXT NOT NULL, at REAL NOT NULL, amount REAL NOT NULL, model TEXT);
CREATE INDEX IF NOT EXISTS spending_at ON spending (at);  -- the day's total is read under every kernel's lock
CREATE TABLE IF NOT EXISTS held (
    id TEXT PRIMARY KEY, at REAL NOT NULL, amount REAL NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    expires REAL NOT NULL
);
"""
_FLAGS = {"budget": "--budget", "daily_budget": "--daily-budget"}
_LOCK = threading.Lock()  # one reservation at a time in this process
_HELD: WeakKeyDictionary[Session, float] = WeakKeyDictionary()  # what each session's requests under way hold


def _day(settings: Settings) -> tuple[str, float, float]:
    """('today (UTC)', start, end) of the day now, by the budget's clock (Unix times, end excluded)."""
    zone = time_zone(settings.budget_timezone)
    date = datetime.now(zone).date()
    start, end = (datetime(d.year, d.month, d.day, tzinfo=zone).timestamp() for d in (date, date + timedelta(1)))
    return f"today ({settings.budget_timezone})", start, end


def _open(home: Path) -> sqlite3.Connection:
    """The spending file, owner-only, with its tables (raises sqlite3.Error or OSError when it cannot be used)."""
    home.mkdir(parents=True, exist_ok=True)
    private(home / FILE)
    db = sqlite3.connect(home / FILE, timeout=LOCK_WAIT, isolation_level=None)  # transactions are explicit
    try:
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _alive(pid: int, host: str) -> bool:
    """Whether a hold's owner may still run: another host's cannot be asked (its hold waits for its expiry)."""
    if host != socket.gethostname() or pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _live(db: sqlite3.Connection, now: float) -> list[tuple[str, float]]:
    """(id, amount) of the holds whose owner may still be sending."""
    rows = db.execute("SELECT id, amount, pid, host, expires FROM held").fetchall()
    return [(rid, amount) for rid, amount, pid, host, expires in rows if expires > now and _alive(pid, host)]


def _totals(db: sqlite3.Connection, settings: Settings) -> tuple[float, float]:
    """(spent today, held by requests under way) in the spending file."""
    _, start, end = _day(settings)
    spent = db.execute("SELECT TOTAL(amount) FROM spending WHERE at >= ? AND at < ?", (start, end)).fetchone()[0]
    return float(spent), sum(amount for _, amount in _live(db, time.time()))


def _reason(exc: BaseException | None) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _unreadable(path: Path, exc: BaseException) -> BudgetError:
    return BudgetError(
        "daily_budget",
        f"daily_budget: today's spending cannot be read from {path} ({_reason(exc)}), so nothing was sent. Move that "
        "file aside (today's count then starts again from $0), or set daily_budget = None",
    )


def _read(home: Path | None, settings: Settings) -> tuple[float, float]:
    """(spent today, held) by every kernel; BudgetError (one line naming the file) when it cannot be read."""
    path = Path(home or default_home()) / FILE
    if not path.exists():
        return 0.0, 0.0
    try:
        db = _open(path.parent)
        try:
            return _totals(db, settings)
        finally:
            db.close()
    except (sqlite3.Error, OSError) as exc:
        raise _unreadable(path, exc) from exc


def spent_today(home: Path | None = None, settings: Settings | None = None) -> float:
    """USD recorded for today (by `settings`' budget clock: UTC by default) in the history folder, by every kernel;
    0 when nothing is. Raises BudgetError when the spending file cannot be read."""
    return _read(home, settings or Settings())[0]


def _limits(settings: Settings, session: Session, home: Path | None) -> Iterator[tuple[str, float, float, float, str]]:
    """(name, limit, spent, held by requests under way, where) of each budget that is set."""
    if settings.budget is not None:
        yield "budget", settings.budget, session.ledger.spent, _HELD.get(session, 0.0), "this session"
    if settings.daily_budget is not None:
        yield "daily_budget", settings.daily_budget, *_read(home, settings), _day(settings)[0]


def _refuse(name: str, limit: float, spent: float, held: float, where: str, total: float, *, run: bool) -> None:
    """Raise BudgetError (spent, held, left, the estimate, how to raise it) when `total` passes what is left."""
    left = max(limit - spent - held, 0.0)
    if total <= left + 1e-9:
        return
    needed = math.ceil((spent + held + total) * 100) / 100
    what, sent = ("this run", "nothing was sent") if run else ("this request", "it was not sent")
    busy = f", {dollars(held)} held by requests under way" if held > 1e-9 else ""
    raise BudgetError(
        name,
        f"{name}: {what} would cost about {dollars(total)}, more than the {dollars(left)} left of {dollars(limit)} "
        f"({dollars(spent)} spent {where}{busy}); {sent}. To go ahead, raise it: %config ImageGenMagics.{name} = "
        f"{needed:.2f} ({name}= in Settings, {_FLAGS[name]} {needed:.2f} in the CLI)",
    )


def _estimate(online: list[Plan], batch: bool) -> float:
    """The plans' expected cost; a run that cannot be priced is refused when a budget is set (0 when none is)."""
    settings = online[0].settings
    quotes = [quote(plan.request, plan.settings.prices, batch=batch) for plan in online]
    unpriced = next((q.note for q in quotes if q.amount is None), None)
    name = "budget" if settings.budget is not None else "daily_budget"
    if unpriced and (settings.budget is not None or settings.daily_budget is not None):
        raise BudgetError(
            name,
            f"{name}: this run cannot be priced ({unpriced}), so it cannot be held to the {name}; nothing was sent. "
            f"To go ahead: give its price in prices, or set {name} = None",
        )
    return sum(q.amount or 0.0 for q in quotes)


def check(
    plans: Iterable[Plan], *, session: Session | None = None, home: Path | None = None, batch: bool = False
) -> None:
    """Raise BudgetError (one line: spent, held, left, the estimate, how to raise it) when the online plans'
    expected cost would pass what is left of `budget` or `daily_budget`, or when the day's spending cannot be read;
    `batch`: priced at Batch API rates. Nothing is held: each request reserves its own."""
    online = [plan for plan in plans if not plan.endpoint.offline]
    if not online or (online[0].settings.budget is None and online[0].settings.daily_budget is None):
        return
    total = _estimate(online, batch)
    for limit in _limits(online[0].settings, session or default(), home):
        _refuse(*limit, total, run=True)


class Reservation:
    """What one request (or a batch) holds of the budgets while it is sent: `amount`, its estimate in USD.

    `settle(cost)` once it was billed, `release()` when it was not; whichever comes first counts, the other does
    nothing. Made by `reserve`.
    """

    def __init__(self, plans: list[Plan], amount: float, session: Session, home: Path, held: str | None) -> None:
        self.plans, self.amount, self.session, self.home, self.held = plans, amount, session, home, held
        self.open = True

    def __repr__(self) -> str:
        return f"<Reservation {dollars(self.amount)}{' open' if self.open else ''}>"

    def _close(self) -> bool:
        with _LOCK:
            was, self.open = self.open, False
            if was and self.plans:
                _HELD[self.session] = max(_HELD.get(self.session, 0.0) - self.amount, 0.0)
        return was and bool(self.plans)

    def settle(self, cost: float | None, *, problem: str | None = None) -> list[str]:
        """Count what the answer billed instead of the hold: `cost` from its usage (None: unknown, so the estimate
        counts; `problem` says why, when its usage was no token count). Returns the lines to warn with."""
        if not self._close():
            return []
        lines = []
        amount = cost
        if amount is None:
            amount = self.amount
            self.session.ledger.spent += amount
            if problem:
                lines.append(
                    f"the server's usage is not a token count ({problem}): this answer's cost is unknown, so the "
                    f"budgets count its estimate, {dollars(amount)}"
                )
        try:
            _write(self.home, amount, self.plans[0].request.model or "", held=self.held)
        except OSError:
            pass  # the history folder cannot be written: the run path's history line has said so
        except sqlite3.Error as exc:
            lines.append(
                f"today's spending could not be recorded in {self.home / FILE} ({exc}): its count misses "
                f"{dollars(amount)}; the images are kept"
            )
        return lines

    def release(self) -> None:
        """Give the hold back: the request was not billed. (A hold that cannot be removed from the file is dropped
        when this process ends, or expires.)"""
        if self._close() and self.held is not None:
            try:
                _write(self.home, 0.0, "", held=self.held)
            except (sqlite3.Error, OSError):
                pass


def _longest(settings: Settings) -> float:
    """Seconds a request may take, every attempt and wait included: when its hold expires."""
    return (settings.timeout + 120.0) * (settings.max_retries + 1) + 60.0


def reserve(
    plans: Iterable[Plan], *, session: Session | None = None, home: Path | None = None, batch: bool = False
) -> Reservation:
    """Hold the online plans' estimate against `budget` and `daily_budget` before sending them: BudgetError (one
    line) when it would pass what is left once what other requests hold is counted, or when the day's spending
    cannot be read. Offline plans hold nothing. Settle or release the Reservation when the answer is in."""
    online = [plan for plan in plans if not plan.endpoint.offline]
    session = session or default()
    home = Path(home or default_home())
    if not online:
        return Reservation([], 0.0, session, home, None)
    settings = online[0].settings
    amount = _estimate(online, batch)
    with _LOCK:
        if settings.budget is not None:
            _refuse("budget", settings.budget, session.ledger.spent, _HELD.get(session, 0.0), "this session", amount,
                    run=False)  # fmt: skip
        held = _hold_today(home, settings, amount) if settings.daily_budget is not None else None
        _HELD[session] = _HELD.get(session, 0.0) + amount
    return Reservation(online, amount, session, home, held)


def _hold_today(home: Path, settings: Settings, amount: float) -> str:
    """Hold `amount` in the spending file, in one transaction with the check; its id. Holds whose owner is gone
    are dropped first."""
    assert settings.daily_budget is not None
    try:
        db = _open(home)
    except (sqlite3.Error, OSError) as exc:
        raise _unreadable(home / FILE, exc) from exc
    try:
        db.execute("BEGIN IMMEDIATE")  # no other kernel reads or holds until this one has
        try:
            now = time.time()
            live = {rid for rid, _ in _live(db, now)}
            gone = [(rid,) for (rid,) in db.execute("SELECT id FROM held").fetchall() if rid not in live]
            db.executemany("DELETE FROM held WHERE id = ?", gone)
            spent, held = _totals(db, settings)
            _refuse("daily_budget", settings.daily_budget, spent, held, _day(settings)[0], amount, run=False)
            rid = secrets.token_hex(8)
            row = (rid, now, amount, os.getpid(), socket.gethostname(), now + _longest(settings))
            db.execute("INSERT INTO held VALUES (?, ?, ?, ?, ?, ?)", row)
            db.execute("COMMIT")
            return rid
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise _unreadable(home / FILE, exc) from exc
    finally:
        db.close()


def _write(home: Path, amount: float, model: str, *, held: str | None = None, at: float | None = None) -> None:
    """In one transaction: drop the hold `held`, add `amount` USD spent at `at` (now)."""
    if not (math.isfinite(amount) and amount >= 0):
        raise ValueError(f"{amount} is not an amount of dollars, 0 or more")
    at = time.time() if at is None else at
    db = _open(home)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if held is not None:
                db.execute("DELETE FROM held WHERE id = ?", (held,))
            if amount > 0:
                day = datetime.fromtimestamp(at, time_zone("UTC")).date().isoformat()
                db.execute("INSERT INTO spending VALUES (?, ?, ?, ?)", (day, at, amount, model))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    finally:
        db.close()


def add(amount: float, model: str, *, home: Path | None = None, at: float | None = None) -> None:
    """Add `amount` USD (finite, 0 or more, else ValueError) to the spending in the history folder, at `at` (Unix
    time, default now), e.g. a batch's; raises sqlite3.Error or OSError when it cannot be written."""
    _write(Path(home or default_home()), amount, model, at=at)


def report(settings: Settings, *, session: Session | None = None, home: Path | None = None) -> str:
    """Spending against each budget, one line each (or what was spent when no budget is set), by the budget's
    clock; a spending file that cannot be read is one line saying so."""
    session, today = session or default(), _day(settings)[0]

    def unknown(exc: BudgetError) -> str:
        path = Path(home or default_home()) / FILE
        return f"spent {today}: unknown: {path} cannot be read ({_reason(exc.__cause__)}); move it aside to count anew"

    lines = []
    try:
        for name, limit, spent, held, where in _limits(settings, session, home):
            left = max(limit - spent - held, 0.0)
            lines.append(f"{name}: {dollars(spent)} of {dollars(limit)} spent {where} ({dollars(left)} left)")
    except BudgetError as exc:
        lines.append(unknown(exc))
    if settings.budget is None:
        lines.append(f"spent this session: {dollars(session.ledger.spent)} (no budget set)")
    if settings.daily_budget is None:
        try:
            lines.append(f"spent {today}: {dollars(_read(home, settings)[0])} (no daily_budget set)")
        except BudgetError as exc:
            lines.append(unknown(exc))
    return "\n".join(lines)
