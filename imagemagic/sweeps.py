"""Many images at once: a template, grid axes and rows run concurrently, with progress, resume and a contact sheet.

`sweep(template, rows=..., **params)` expands the input (expand.py), prepares EVERY request
before sending any (all problems at once, one line per variant), refuses a run larger than
`sweep_limit` unless allowed, then runs the requests up to `max_concurrency` at a time. Each goes
through the usual Call with the cache on and `meta={"run": <id>}`, so every finished image is in
the history and re-running an interrupted sweep only generates what is missing. One RateGate is
shared by the run's requests: a 429 slows them all. A failed request is recorded and the run goes
on. Finished images live on disk: a `Run` keeps its files, usage, cost and a thumbnail, and
loads its images from the history when asked.
"""

from __future__ import annotations

import asyncio
import csv
import re
import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .contact import DECODERS
from .errors import ImageMagicError, ImageMagicWarning, ValidationError
from .expand import Variant, expand
from .request import Problem
from .result import ImageResult, save_images
from .settings import Settings, prepare


class SweepValidationError(ValidationError):
    """Problems of many variants: one line per variant, naming its variables."""

    def __init__(self, problems):
        super().__init__(problems)
        self.args = ("\n".join(p.message for p in self.problems),)


def label(variables: dict) -> str:
    """'animal=fox, quality=low' (or 'the request' when there are no variables)."""
    return ", ".join(f"{k}={v}" for k, v in variables.items()) or "the request"


@dataclass(eq=False)
class Run:
    """One request of a sweep: its variables, request, files, usage, cost, and error if it failed."""

    variables: dict
    request: object
    files: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    cost: float | None = None
    request_ids: list = field(default_factory=list)
    cached: bool = False
    error: ImageMagicError | None = None
    thumbnails: list = field(default_factory=list, repr=False)
    _kept: ImageResult | None = field(default=None, repr=False)  # only when the history could not store them
    custom_id: str | None = None  # the request's line in a Batch API job (see batchjob.py)

    def __repr__(self):
        state = f"failed: {self.error}" if self.error else f"{len(self.thumbnails)} image(s)"
        return f"<Run {label(self.variables)}: {state}{', cached' if self.cached else ''}>"

    @property
    def images(self) -> ImageResult:
        """The run's images as the usual ImageResult, read from the history (empty when it failed)."""
        if self._kept is not None or self.error is not None:
            return self._kept if self._kept is not None else ImageResult(request=self.request)
        from .store import HistoryEntry

        result = ImageResult(
            [HistoryEntry(path).generated() for path in self.files],
            usage=self.usage,
            request_ids=self.request_ids,
            request=self.request,
        )
        result.files, result.cost, result.cached = list(self.files), self.cost, self.cached
        return result

    @property
    def cost_per_image(self) -> float | None:
        """The run's cost shared by its images."""
        return None if self.cost is None else self.cost / max(1, len(self.thumbnails))


class Sweep(list):
    """The runs of one sweep, in order. `.images` lists every PIL image; `.to_pandas()`, `.save(folder)`.

    In a notebook it shows as a contact sheet labelled by its axes, with the cost per image and in total.
    """

    def __init__(self, runs=(), *, id=None, offline=False, elapsed=None):
        super().__init__(runs)
        self.id = id
        self.offline = offline
        self.elapsed = elapsed

    @property
    def images(self) -> list:
        """All images (PIL) of the runs that succeeded, in order."""
        return [pil for run in self for pil in run.images]

    @property
    def failed(self) -> list:
        """The runs that ended with an error instead of images."""
        return [run for run in self if run.error is not None]

    @property
    def cost(self) -> float | None:
        """Estimated USD of the whole run (0 offline or cached; None when a price is unknown)."""
        costs = [run.cost for run in self if run.error is None]
        return None if any(c is None for c in costs) else sum(costs)

    def summary(self) -> str:
        """One line: images, cached, failed, cost, elapsed."""
        from .sweep_display import describe_spent

        images = sum(len(run.thumbnails) for run in self)
        failed = sum(1 for run in self if run.error is not None)
        cached = sum(len(run.thumbnails) for run in self if run.cached)
        took = f" in {self.elapsed:.1f} s" if self.elapsed is not None else ""
        return (
            f"{images} image{'s' if images != 1 else ''} from {len(self)} requests{took}: {cached} from the cache, "
            f"{failed} failed · est. cost {describe_spent(self.cost, self.offline)}"
        )

    def __repr__(self):
        return f"<Sweep {self.id}: {self.summary()}>"

    def cells(self) -> list:
        """One contact-sheet Cell per image (or per failed request)."""
        from .contact import Cell
        from .sweep_display import describe_spent

        cells = []
        for run in self:
            if run.error is not None:
                cells.append(Cell(run.variables, None, "failed", failed=True))
            for index, thumb in enumerate(run.thumbnails):
                variables = {**run.variables, **({"#": index + 1} if len(run.thumbnails) > 1 else {})}
                cells.append(Cell(variables, thumb, describe_spent(run.cost_per_image, self.offline)))
        return cells

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The contact sheet (one PNG) and the one-line text form; no base64 in text."""
        import base64

        from .contact import render
        from .sweep_display import describe_spent

        png = render(self.cells(), f"{len(self)} requests · total {describe_spent(self.cost, self.offline)}")
        return {"text/plain": repr(self), "image/png": base64.b64encode(png).decode("ascii")}

    def rows(self) -> list[dict]:
        """One dict per image (and per failed request): variables, prompt, parameters, image, file, tokens,
        cost, request id, error."""
        rows = []
        for run in self:
            params = {k: v for k, v in run.request.body().items() if k != "prompt"}
            base = {**run.variables, "prompt": run.request.prompt, **params}
            images = run.images
            share = max(1, len(images))
            tokens = run.usage.get("total_tokens")
            for pil, img, path in zip(images, images.images, images.files or [None] * len(images)):
                rows.append(
                    {
                        **base,
                        "image": pil,
                        "file": str(path) if path else None,
                        "tokens": None if tokens is None else tokens / share,
                        "cost": run.cost_per_image,
                        "request_id": img.request_id,
                        "error": None,
                    }
                )
            if run.error is not None:
                failed = {"image": None, "file": None, "tokens": None, "cost": None, "error": str(run.error)}
                rows.append({**base, **failed, "request_id": getattr(run.error, "request_id", None)})
        return rows

    def to_pandas(self):
        """A pandas DataFrame, one row per image: the variables, the parameters, the PIL image, the file,
        tokens, cost, request id (and error for a failed request)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Sweep.to_pandas() needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.rows())

    def save(self, folder) -> list[Path]:
        """Write every image (original bytes) and a metadata CSV (`sweep.csv`) into `folder`, never
        overwriting; return the image paths."""
        folder = Path(folder).expanduser()
        named, records = [], []
        for number, row in enumerate(self.rows(), 1):
            if row["image"] is not None:
                named.append((_stem(number, row, self), row["image"].info["imagemagic"]))
            records.append(row)
        paths = iter(save_images(named, folder))
        for row in records:
            row["saved"] = str(next(paths)) if row.pop("image") is not None else None
        columns = list(dict.fromkeys(k for row in records for k in row))
        for attempt in range(1, 10_000):
            target = folder / ("sweep.csv" if attempt == 1 else f"sweep-{attempt}.csv")
            try:
                with open(target, "x", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, columns)
                    writer.writeheader()
                    writer.writerows(records)
                break
            except FileExistsError:
                continue
        return [Path(row["saved"]) for row in records if row["saved"]]


def _stem(number, row, sweep):
    names = dict.fromkeys(k for run in sweep for k in run.variables)
    words = [re.sub(r"[^A-Za-z0-9._-]+", "_", str(row.get(k)))[:24] for k in names]
    return "-".join([f"{number:03d}", *words])


def plan_all(variants: list[Variant], *, settings: Settings, extra_body=None) -> list:
    """One Plan per variant; every problem of every variant at once (one line each, naming its variables)."""
    plans, problems = [], []
    for variant in variants:
        try:
            plans.append(prepare(variant.prompt, variant.params, settings=settings, extra_body=extra_body))
        except ValidationError as exc:
            problems += [Problem(p.param, f"{label(variant.variables)}: {p.message}") for p in exc.problems]
    if problems:
        raise SweepValidationError(problems)
    return plans


def check_budget(plans, limit: int) -> None:
    """Refuse (nothing sent) a run of more images than `limit`, naming the count and the estimated cost."""
    count = sum(plan.request.count for plan in plans)
    if count <= limit:
        return
    from .usage import estimate

    if all(plan.endpoint.offline for plan in plans):
        cost = "offline preview: free"
    else:
        costs = [
            estimate(p.request.model, p.request.size, p.request.quality, p.request.count, p.settings.prices)
            for p in plans
        ]
        cost = "price unknown" if None in costs else f"${sum(costs):.2f}"
    raise ValidationError(
        [
            Problem(
                "limit",
                f"this run makes {count} images, more than the sweep limit of {limit} (est. cost {cost}); "
                f"nothing was sent. To go ahead: --limit {count} (limit={count} in Python)",
            )
        ]
    )


def _thumbnails(result):
    from .contact import thumbnail

    return [thumbnail(pil) for pil in result]


async def _one(plan, variant, *, gate, run_id, session, cache, semaphore):
    async with semaphore:
        call = plan.call(cache=cache, session=session, meta={"run": run_id}, gate=gate)
        try:
            result = await call.run()
        except ImageMagicError as exc:
            return Run(variant.variables, plan.request, error=exc)
        kept = result.unsaved is not None or len(result.files) != len(result)
        run = Run(
            variant.variables,
            plan.request,
            files=list(result.files),
            usage=dict(result.usage),
            cost=result.cost,
            request_ids=list(result.request_ids),
            cached=result.cached,
            thumbnails=await asyncio.get_running_loop().run_in_executor(DECODERS, _thumbnails, result),
            _kept=result if kept else None,
        )
        if not kept:
            _let_go(result)
        return run


def _let_go(result):
    """Break each image's PIL <-> GeneratedImage cycle, so its bytes and pixels are freed as soon as the result
    is dropped (they are on disk) rather than whenever the cycle collector next runs."""
    for img in result.images:
        if img._pil is not None:
            img._pil.info.pop("imagemagic", None)


async def run_plans(plans, variants, *, settings, session=None, cache=True, on_run=None) -> Sweep:
    """Carry out prepared plans concurrently (up to settings.max_concurrency); `on_run(run, first_slot)`
    hears each finished (or failed) run, so an interrupted run's finished part is known."""
    from .ratelimit import RateGate
    from .session import default

    session = session or default()
    gate = RateGate(sleep=session.sleep, clock=session.clock)
    run_id = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    semaphore = asyncio.Semaphore(max(1, settings.max_concurrency))
    firsts = [sum(p.request.count for p in plans[:i]) for i in range(len(plans))]
    runs = [None] * len(plans)
    started = time.monotonic()
    offline = all(plan.endpoint.offline for plan in plans)

    async def one(i):
        runs[i] = await _one(
            plans[i], variants[i], gate=gate, run_id=run_id, session=session, cache=cache, semaphore=semaphore
        )
        if on_run:
            on_run(runs[i], firsts[i])

    await asyncio.gather(*(one(i) for i in range(len(plans))))
    return Sweep(runs, id=run_id, offline=offline, elapsed=time.monotonic() - started)


def _prepared(template, rows, limit, expand_template, namespace, settings, extra_body, params):
    variants = expand(template, rows=rows, namespace=namespace, expand_template=expand_template, **params)
    plans = plan_all(variants, settings=settings, extra_body=extra_body)
    check_budget(plans, settings.sweep_limit if limit is None else limit)
    return variants, plans


async def asweep(
    template,
    *,
    rows=None,
    limit: int | None = None,
    expand_template: bool = True,
    namespace: dict | None = None,
    extra_body: dict | None = None,
    fresh: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
    session=None,
    **params,
) -> Sweep:
    """The async twin of `sweep`."""
    settings = settings or Settings.current()
    variants, plans = _prepared(template, rows, limit, expand_template, namespace, settings, extra_body, params)
    for note in dict.fromkeys(note for plan in plans for note in plan.warnings):
        warnings.warn(note, ImageMagicWarning, stacklevel=3)
    view = None
    if progress:
        from .contact import Cell
        from .sweep_display import RunView

        cells = [Cell(v.variables) for v, p in zip(variants, plans) for _ in range(p.request.count)]
        view = RunView(cells, title=f"{len(plans)} requests", offline=all(p.endpoint.offline for p in plans))
    try:
        return await run_plans(
            plans, variants, settings=settings, session=session, cache=settings.cache and not fresh,
            on_run=view.add if view else None,
        )  # fmt: skip
    finally:
        if view:
            view.close()


def sweep(
    template,
    *,
    rows=None,
    limit: int | None = None,
    expand_template: bool = True,
    namespace: dict | None = None,
    extra_body: dict | None = None,
    fresh: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
    session=None,
    **params,
) -> Sweep:
    """Generate many images at once and return a Sweep (a list of runs; a contact sheet in a notebook).

    `template` is a prompt with `{name}`, `{expression}` or `$name` (filled from the grid, the row
    and `namespace`), or a list of prompts. Any list-valued parameter or template variable is a grid
    axis; `rows` (dicts or a pandas DataFrame) gives one request per row, crossed with the axes. Every
    request is checked before any is sent; a run of more than `sweep_limit` images needs `limit=`.
    Requests run up to `max_concurrency` at a time; identical earlier requests come from the cache
    (re-running an interrupted sweep generates only what is missing) unless `fresh=True`.
    """
    from .session import default

    coro = asweep(
        template, rows=rows, limit=limit, expand_template=expand_template, namespace=namespace,
        extra_body=extra_body, fresh=fresh, progress=progress, settings=settings, session=session, **params,
    )  # fmt: skip
    return (session or default()).run_sync(coro, on_interrupt=None)


def grid_axes(specs, namespace, operation="generate") -> dict:
    """`--grid NAME=V1,V2,…` or `--grid NAME=variable` (a list in `namespace`) as {NAME: [values]};
    values of an int or float parameter are converted. Raises ValueError with the line to show."""
    from .params import BY_NAME

    axes = {}
    for spec in specs or ():
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not text.strip():
            raise ValueError(f"--grid {spec!r} must look like NAME=V1,V2,… or NAME=variable (a list)")
        if text.strip().isidentifier() and text.strip() in namespace:
            values = namespace[text.strip()]
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise ValueError(f"--grid {spec!r}: {text.strip()} is a {type(values).__name__}, not a list of values")
            values = list(values)
        else:
            values = [v.strip() for v in text.split(",")]
        kind = BY_NAME[name].type if name in BY_NAME else str
        if kind in (int, float):
            try:
                values = [kind(v) for v in values]
            except (TypeError, ValueError):
                raise ValueError(f"--grid {name}: the values must be {kind.__name__} numbers (got {text!r})") from None
        axes[name] = values
    return axes


def run_in_notebook(magics, variants, args, settings, extra_body) -> None:
    """The magic's sweep: check everything, show the bar and the live contact sheet, bind `--out`, print
    the summary line. Problems become one UsageError (a line per variant)."""
    from IPython.core.error import UsageError

    from .contact import Cell
    from .display import is_notebook
    from .session import default
    from .sweep_display import RunView

    try:
        plans = plan_all(variants, settings=settings, extra_body=extra_body)
        check_budget(plans, settings.sweep_limit if args.limit is None else args.limit)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    offline = all(p.endpoint.offline for p in plans)
    inline = settings.display == "inline" or (settings.display == "auto" and is_notebook(magics.shell))
    cells = [Cell(v.variables) for v, p in zip(variants, plans) for _ in range(p.request.count)]
    view = RunView(cells, title=f"{len(plans)} requests", offline=offline, sheet=inline)
    done = []

    def on_run(run, first):
        done.append(run)
        view.add(run, first)

    for note in dict.fromkeys(note for plan in plans for note in plan.warnings):  # each advice once, not per image
        print(f"warning: {note}")
    view.open()
    coro = run_plans(plans, variants, settings=settings, cache=settings.cache and not args.fresh, on_run=on_run)
    try:
        result = default().run_sync(coro)
    except KeyboardInterrupt:
        partial = Sweep(done, offline=offline)
        if args.out:
            magics.shell.user_ns[args.out] = partial
        where = f" (kept in {args.out})" if args.out else ""
        print(f"interrupted: {len(done)} of {len(plans)} requests done{where}; run the cell again to finish the rest")
        return
    finally:
        view.close()
    if args.out:
        magics.shell.user_ns[args.out] = result
    for run in result:
        if run.error is not None:
            print(f"failed: {label(run.variables)}: {run.error}")
    print(result.summary())
