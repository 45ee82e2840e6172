"""Many variants → many plans, before anything is sent: every problem of every variant at once (one line
each, naming its variables), and the sweep limit that keeps a large run from starting by accident.

Shared by sweeps (the magic's --grid too) and batch jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import ValidationError
from .expand import Variant
from .request import Problem
from .settings import Plan, Settings, prepare
from .sweep_result import label
from .usage import estimate


class SweepValidationError(ValidationError):
    """Problems of many variants: one line per variant, naming its variables."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems)
        self.args = ("\n".join(p.message for p in self.problems),)


def plan_all(variants: Sequence[Variant], *, settings: Settings, extra_body: dict | None = None, **edit: Any) -> list:
    """One Plan per variant; every problem of every variant at once (one line each, naming its variables).

    `edit` (operation, image, mask) makes every plan an edit of the same inputs."""
    plans, problems = [], []
    for variant in variants:
        try:
            plans.append(prepare(variant.prompt, variant.params, settings=settings, extra_body=extra_body, **edit))
        except ValidationError as exc:
            problems += [Problem(p.param, f"{label(variant.variables)}: {p.message}") for p in exc.problems]
    if problems:
        raise SweepValidationError(problems)
    return plans


def check_budget(plans: Sequence[Plan], limit: int) -> None:
    """Refuse (nothing sent) a run of more images than `limit`, naming the count and the estimated cost (offline:
    what it would cost online). A budget in dollars is the run path's to check (budget.check)."""
    count = sum(plan.request.count for plan in plans)
    if count <= limit:
        return
    costs = [
        estimate(p.request.model, p.request.size, p.request.quality, p.request.count, p.settings.prices) for p in plans
    ]
    cost = "price unknown" if None in costs else f"${sum(costs):.2f}"
    if all(plan.endpoint.offline for plan in plans):
        cost = f"free offline; {cost} online"
    raise ValidationError(
        [
            Problem(
                "limit",
                f"this run makes {count} images, more than the sweep limit of {limit} (est. cost {cost}); "
                f"nothing was sent. To go ahead: --limit {count} (limit={count} in Python)",
            )
        ]
    )
