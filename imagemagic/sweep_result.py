"""What a many-image run returns: a `Run` per request (files, usage, cost, thumbnails, or its error) and the
`Sweep` that lists them (a contact sheet in a notebook, `to_pandas()`, `save(folder)` with a metadata CSV).

Shared by sweeps and batch jobs; finished images live on disk, and a Run loads them from the
history when asked.
"""

from __future__ import annotations

import base64
import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from . import live
from .contact import Cell, refusal_card, render
from .errors import ContentPolicyViolationError, ImageMagicError
from .request import ImageRequest
from .result import ImageResult, save_images
from .spreadsheet import cell
from .store import HistoryEntry

if TYPE_CHECKING:
    from .frames import SweepFrame


def describe_spent(cost: float | None, offline: bool) -> str:
    """The cost so far as a short word: 'free' offline, '$0.0120', or 'price unknown'."""
    if offline:
        return "free"
    return "price unknown" if cost is None else f"${cost:.4f}"


def label(variables: dict) -> str:
    """'animal=fox, quality=low' (or 'the request' when there are no variables)."""
    return ", ".join(f"{k}={v}" for k, v in variables.items()) or "the request"


@dataclass(eq=False)
class Run:
    """One request of a sweep: its variables, request, files, usage, cost, and error if it failed."""

    variables: dict
    request: ImageRequest
    files: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    cost: float | None = None
    request_ids: list = field(default_factory=list)
    cached: bool = False
    error: ImageMagicError | None = None
    cost_source: str | None = None  # provider, tokens or estimate (usage.priced)
    thumbnails: list = field(default_factory=list, repr=False)
    _kept: ImageResult | None = field(default=None, repr=False)  # only when the history could not store them
    custom_id: str | None = None  # the request's line in a Batch API job (see batchjob.py)
    sent: bool = True  # False: a stop rule kept it from being sent (see run.py)

    def __post_init__(self) -> None:
        live.hold(self, self.files)  # the history cap spares this run's files while it lives

    def __repr__(self):
        state = f"failed: {self.error}" if self.error else f"{len(self.thumbnails)} image(s)"
        state = state if self.sent else "not sent"
        return f"<Run {label(self.variables)}: {state}{', cached' if self.cached else ''}>"

    @property
    def images(self) -> ImageResult:
        """The run's images as the usual ImageResult, read from the history (empty when it failed)."""
        if self._kept is not None or self.error is not None:
            return self._kept if self._kept is not None else ImageResult(request=self.request)
        result = ImageResult(
            [HistoryEntry(path).generated() for path in self.files],
            usage=self.usage,
            request_ids=self.request_ids,
            request=self.request,
        )
        result.files, result.cost, result.cached = list(self.files), self.cost, self.cached
        result.cost_source = self.cost_source
        return result

    @property
    def cost_per_image(self) -> float | None:
        """The run's cost shared by its images."""
        return None if self.cost is None else self.cost / max(1, len(self.thumbnails))


class Sweep(list):
    """The runs of one sweep, in order. `.images` lists every PIL image; `.to_pandas()`, `.save(folder)`.

    In a notebook it shows as a contact sheet labelled by its axes, with the cost per image and in total.
    """

    def __init__(
        self,
        runs: Iterable[Run] = (),
        *,
        id: str | None = None,
        offline: bool = False,
        elapsed: float | None = None,
        stopped: str | None = None,
        total: int | None = None,
    ) -> None:
        super().__init__(runs)
        self.total = total  # the requests the run had, when it did not finish (an interrupt)
        self.id = id
        self.offline = offline
        self.elapsed = elapsed
        self.stopped = stopped  # the line saying why the run stopped sending (see run.py), or None

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
        costs = [run.cost for run in self if run.error is None and run.sent]
        return None if any(c is None for c in costs) else sum(costs)

    def summary(self) -> str:
        """One line: images, cached, failed, cost, elapsed."""
        images = sum(len(run.thumbnails) for run in self)
        failed = sum(1 for run in self if run.error is not None)
        cached = sum(len(run.thumbnails) for run in self if run.cached)
        unsent = sum(1 for run in self if not run.sent)
        took = f" in {self.elapsed:.1f} s" if self.elapsed is not None else ""
        skipped = f", {unsent} not sent" if unsent else ""
        return (
            f"{images} image{'s' if images != 1 else ''} from {len(self)} requests{took}: {cached} from the cache, "
            f"{failed} failed{skipped} · est. cost {describe_spent(self.cost, self.offline)}"
        )

    def __repr__(self):
        return f"<Sweep {self.id}: {self.summary()}>"

    def cells(self) -> list:
        """One contact-sheet Cell per image (or per failed request)."""
        cells = []
        for run in self:
            if isinstance(run.error, ContentPolicyViolationError):  # its own card: nothing made, nothing billed
                cells.append(Cell(run.variables, refusal_card(), "refused (unbilled)", failed=True))
            elif run.error is not None or not run.sent:
                cells.append(Cell(run.variables, None, "failed" if run.sent else "not sent", failed=True))
            for index, thumb in enumerate(run.thumbnails):
                variables = {**run.variables, **({"#": index + 1} if len(run.thumbnails) > 1 else {})}
                cells.append(Cell(variables, thumb, describe_spent(run.cost_per_image, self.offline)))
        return cells

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The contact sheet (one PNG) and the one-line text form; no base64 in text."""
        png = render(self.cells(), f"{len(self)} requests · total {describe_spent(self.cost, self.offline)}")
        return {"text/plain": repr(self), "image/png": base64.b64encode(png).decode("ascii")}

    def rows(self) -> list[dict]:
        """One dict per image (and per failed request): variables, prompt, parameters, image, file, tokens,
        cost, cost source (provider, tokens or estimate), request id, error."""
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
                        "cost_source": run.cost_source,
                        "request_id": img.request_id,
                        "error": None,
                    }
                )
            if run.error is not None or not run.sent:
                error = str(run.error) if run.sent else "not sent"
                failed = {"image": None, "file": None, "tokens": None, "cost": None, "error": error}
                failed["cost_source"] = None
                rows.append({**base, **failed, "request_id": getattr(run.error, "request_id", None)})
        return rows

    def to_pandas(self) -> SweepFrame:
        """A pandas DataFrame, one row per image: the variables, the parameters, the PIL image, the file,
        tokens, cost, request id (and error for a failed request). In a notebook the images show as
        thumbnails; `to_csv`/`to_parquet` write the image column as the file path (frames.SweepFrame)."""
        try:
            from .frames import SweepFrame  # pandas is optional: only this method needs it
        except ImportError as exc:
            raise ImportError("Sweep.to_pandas() needs pandas: pip install pandas") from exc
        return SweepFrame(self.rows())

    def save(self, folder: str | PathLike[str]) -> list[Path]:
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
                    writer.writerows({k: cell(v) for k, v in row.items()} for row in records)
                break
            except FileExistsError:
                continue
        return [Path(row["saved"]) for row in records if row["saved"]]


def _stem(number, row, sweep):
    names = dict.fromkeys(k for run in sweep for k in run.variables)
    words = [re.sub(r"[^A-Za-z0-9._-]+", "_", str(row.get(k)))[:24] for k in names]
    return "-".join([f"{number:03d}", *words])
