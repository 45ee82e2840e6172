"""`sweep` and `asweep`: many images from a template, grid axes and rows, with progress, resume and a contact sheet.

A front end of the run path: the input is expanded (expand.py: every name judged first), every
request prepared before any is sent (planning.py: all problems at once, the sweep limit), and the
plans carried out by run.RunPath: up to `max_concurrency` at a time behind one rate gate, each
image in the history with the run's id so re-running an interrupted sweep only generates what is
missing, and nothing more sent after a hopeless answer (a bad key, say). The result is a Sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import refinement  # noqa: F401 - registers ImageResult.refine/arefine for the results made here
from .contact import Cell
from .expand import expand
from .planning import check_budget, plan_all
from .run import RunPath, use_cache
from .session import Session, default
from .settings import Settings
from .sweep_display import RunView
from .sweep_result import Sweep


def _path(template, rows, limit, expand_template, namespace, extra_body, fresh, settings, session, params) -> tuple:
    settings = settings or Settings.current()
    variants = expand(template, rows=rows, namespace=namespace, expand_template=expand_template, **params)
    plans = plan_all(variants, settings=settings, extra_body=extra_body)
    check_budget(plans, settings.sweep_limit if limit is None else limit)
    path = RunPath(plans, session=session, cache=use_cache(settings, fresh), notes=variants.notes)
    return variants, path


async def asweep(
    template: str | list[str] | None,
    *,
    rows: Iterable[Mapping] | Any = None,
    limit: int | None = None,
    expand_template: bool = True,
    namespace: dict | None = None,
    extra_body: dict | None = None,
    fresh: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> Sweep:
    """The async twin of `sweep`."""
    variants, path = _path(
        template, rows, limit, expand_template, namespace, extra_body, fresh, settings, session, params
    )
    return await _with_view(path, variants, progress)


async def _with_view(path: RunPath, variants: list, progress: bool) -> Sweep:
    view = None
    if progress:
        cells = [Cell(v.variables) for v, p in zip(variants, path.plans) for _ in range(p.request.count)]
        view = RunView(cells, title=f"{len(path.plans)} requests", offline=all(p.endpoint.offline for p in path.plans))
    try:
        return await path.many(variants, on_run=view.add if view else None)
    finally:
        if view:
            view.close()


def sweep(
    template: str | list[str] | None,
    *,
    rows: Iterable[Mapping] | Any = None,
    limit: int | None = None,
    expand_template: bool = True,
    namespace: dict | None = None,
    extra_body: dict | None = None,
    fresh: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> Sweep:
    """Generate many images at once and return a Sweep (a list of runs; a contact sheet in a notebook).

    `template` is a prompt with `{name}`, `{expression}` or `$name` (filled from the grid, the row
    and `namespace`), or a list of prompts. Every name given (a keyword or a row column) is a request
    parameter or a variable the template uses (a typo is refused with "did you mean"; a variable the
    template uses is never sent as a parameter). Any list-valued parameter or template variable is a
    grid axis; `rows` (dicts or a pandas DataFrame) gives one request per row, crossed with the axes.
    Every request is checked before any is sent; a run of more than `sweep_limit` images needs `limit=`.
    Requests run up to `max_concurrency` at a time; identical earlier requests come from the cache
    (re-running an interrupted sweep generates only what is missing) unless `fresh=True`. After an
    answer no other request can get past (a bad key, an unknown model, no quota) nothing more is sent.
    Ctrl-C raises KeyboardInterrupt with the Sweep so far as its `.partial`.
    """
    variants, path = _path(
        template, rows, limit, expand_template, namespace, extra_body, fresh, settings, session or default(), params
    )
    return path.run_sync(_with_view(path, variants, progress))
