"""Budgets in dollars: `budget` per session, `daily_budget` per day (Settings options, `%config ImageGenMagics`).

`check(plans)` refuses, in one line and before anything is sent, a run whose expected cost (usage.quote, at
batch rates for batches) would pass what is left of either; offline runs cost nothing and always pass.
`record(plan, cost)` counts what an answer was billed (from its `usage`; a request that failed without
being billed is never recorded): in the session's ledger and, per local day, in
`<home>/spending.sqlite3`, shared by kernels and kept across restarts. `report()` is `%imagegen_usage`'s
spend-against-budget lines.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import BudgetError
from .session import Session, default
from .settings import Plan, Settings
from .store import default_home
from .usage import dollars, quote

FILE = "spending.sqlite3"
_SCHEMA = "CREATE TABLE IF NOT EXISTS spending (day TEXT NOT NULL, at REAL NOT NULL, amount REAL NOT NULL, model TEXT)"
_FLAGS = {"budget": "--budget", "daily_budget": "--daily-budget"}


def _today() -> str:
    return time.strftime("%Y-%m-%d")


def _connect(home: Path) -> sqlite3.Connection:
    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / FILE, timeout=10)
    db.execute(_SCHEMA)
    return db


def spent_today(home: Path | None = None) -> float:
    """USD recorded for today (local time) in the history folder, by every kernel; 0 when nothing is."""
    path = Path(home or default_home())
    if not (path / FILE).exists():
        return 0.0
    try:
        with _connect(path) as db:
            return float(db.execute("SELECT TOTAL(amount) FROM spending WHERE day = ?", (_today(),)).fetchone()[0])
    except sqlite3.Error:
        return 0.0


def _limits(settings: Settings, session: Session, home: Path | None) -> Iterator[tuple[str, float, float, str]]:
    """(name, limit, spent, where) of each budget that is set."""
    if settings.budget is not None:
        yield "budget", settings.budget, session.ledger.spent, "this session"
    if settings.daily_budget is not None:
        yield "daily_budget", settings.daily_budget, spent_today(home), "today"


def check(
    plans: Iterable[Plan], *, session: Session | None = None, home: Path | None = None, batch: bool = False
) -> None:
    """Raise BudgetError (one line: spent, left, the estimate, how to raise it) when the online plans' expected
    cost would pass what is left of `budget` or `daily_budget`; `batch`: priced at Batch API rates."""
    online = [plan for plan in plans if not plan.endpoint.offline]
    if not online:
        return
    settings, session = online[0].settings, session or default()
    limits = list(_limits(settings, session, home))
    if not limits:
        return
    quotes = [quote(plan.request, plan.settings.prices, batch=batch) for plan in online]
    name = limits[0][0]
    unpriced = next((q.note for q in quotes if q.amount is None), None)
    if unpriced:
        raise BudgetError(
            name,
            f"{name}: this run cannot be priced ({unpriced}), so it cannot be held to the {name}; nothing was sent. "
            f"To go ahead: give its price in prices, or set {name} = None",
        )
    total = sum(q.amount or 0.0 for q in quotes)
    for name, limit, spent, where in limits:
        left = max(limit - spent, 0.0)
        if total > left + 1e-9:
            needed = math.ceil((spent + total) * 100) / 100
            raise BudgetError(
                name,
                f"{name}: this run would cost about {dollars(total)}, more than the {dollars(left)} left of "
                f"{dollars(limit)} ({dollars(spent)} spent {where}); nothing was sent. To go ahead, raise it: "
                f"%config ImageGenMagics.{name} = {needed:.2f} ({name}= in Settings, {_FLAGS[name]} {needed:.2f} "
                "in the CLI)",
            )


def record(plan: Plan, cost: float | None, *, session: Session | None = None, home: Path | None = None) -> float:
    """Count what one answer was billed: `cost` from its usage (None when the answer reported none: then the
    estimate); return the amount counted (0 offline). A history folder that cannot be written loses only the
    day's record."""
    if plan.endpoint.offline:
        return 0.0
    amount = cost
    if amount is None:
        amount = quote(plan.request, plan.settings.prices).amount or 0.0
        (session or default()).ledger.spent += amount
    if amount > 0:
        add(amount, plan.request.model or "", home=home)
    return amount


def commit(plans: Iterable[Plan], *, session: Session | None = None, home: Path | None = None) -> float:
    """Count a batch when it is sent, at its estimate at Batch API rates (its bill comes within 24 h); return it."""
    online = [plan for plan in plans if not plan.endpoint.offline]
    amount = sum(quote(plan.request, plan.settings.prices, batch=True).amount or 0.0 for plan in online)
    if amount > 0:
        (session or default()).ledger.spent += amount
        add(amount, online[0].request.model or "", home=home)
    return amount


def add(amount: float, model: str, *, home: Path | None = None) -> None:
    """Add `amount` USD to today's spending in the history folder (e.g. a batch's, billed when it completes)."""
    try:
        with _connect(Path(home or default_home())) as db:
            db.execute("INSERT INTO spending VALUES (?, ?, ?, ?)", (_today(), time.time(), amount, model))
    except (sqlite3.Error, OSError):
        pass


def report(settings: Settings, *, session: Session | None = None, home: Path | None = None) -> str:
    """Spending against each budget, one line each (or what was spent when no budget is set)."""
    session = session or default()
    lines = [
        f"{name}: {dollars(spent)} of {dollars(limit)} spent {where} ({dollars(max(limit - spent, 0.0))} left)"
        for name, limit, spent, where in _limits(settings, session, home)
    ]
    if settings.budget is None:
        lines.append(f"spent this session: {dollars(session.ledger.spent)} (no budget set)")
    if settings.daily_budget is None:
        lines.append(f"spent today: {dollars(spent_today(home))} (no daily_budget set)")
    return "\n".join(lines)
