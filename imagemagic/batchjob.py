"""Many images at half the price, past one kernel: jobs on the provider's Batch API.

    job = imagemagic.submit_batch("A {product} on a marble table", rows=df, size="1024x1024")
    job            # status, counts, estimated cost at batch price, created and due times
    job.wait()     # a progress bar until done; Ctrl-C stops waiting, not the job
    runs = job.results()

`submit_batch` takes what a sweep takes (expand.py), validates every request through
settings.prepare and every Batch API rule through batch_preflight (all problems at once, nothing
sent), writes the JSONL input files into the job's folder (batch_record: one model per file, within
the API's limits), uploads them and creates one provider batch per file (batch_remote). Submitting
the identical batch again returns the job already submitted (`force=True` submits a new one).

The parts, one job each: batch_record (the record on disk), batch_remote (the provider calls, with
the credentials bound to the job's endpoint), batch_collect (results into the history and back);
BatchJob ties them together for the user. (The module is `batchjob`: `imagemagic.batch` is the
function that brings a job back.)
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import batch_collect, budget  # refinement: registers ImageResult.refine
from .batch_io import DONE, STAGES
from .batch_preflight import URLS, capped, line, numbered, preflight
from .batch_record import BatchError, JobRecord, LostJob, UnknownJob, Unreadable, find, recorded, write_inputs
from .batch_remote import Remote, where
from .errors import ImageMagicError, ImageMagicWarning, ValidationError
from .expand import expand
from .inputs import collect
from .request import Problem
from .result import add_usage
from .run import warn
from .session import Session, default
from .settings import Settings, prepare
from .store import HistoryStore
from .sweep_result import Sweep
from .usage import cost, describe_cost, price_for

__all__ = ["BatchError", "BatchJob", "batch", "batches", "submit_batch"]


def _home(store: HistoryStore) -> Path:
    return store.home / "batches"


def _jsonable(value):
    """`value` as JSON data: numpy scalars by their value, anything else unknown as its text."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _plans(variants, settings, inputs) -> list:
    """One Plan per variant; ValidationError listing every problem of every request (numbered from 1),
    then every Batch API rule they break (batch_preflight)."""
    operation = "edit" if inputs else "generate"
    plans, problems = [], []
    for number, variant in enumerate(variants, 1):
        try:
            plans.append(prepare(variant.prompt, variant.params, settings=settings, operation=operation, **inputs))
        except ValidationError as exc:
            problems += numbered(number, exc.problems)
    if problems:
        raise ValidationError(capped(problems))
    problems = preflight(plans, operation)
    if problems:
        raise ValidationError(problems)
    return plans


def _unusable(home: Path, exc: OSError) -> BatchError:
    return BatchError(
        f"the history folder {home} cannot be used ({exc.strerror or exc}): a batch job is recorded there before "
        "anything is sent; set IMAGEMAGIC_HOME to a folder you can write; nothing was sent"
    )


def submit_batch(
    template_or_prompts: str | list[str],
    *,
    rows: Any = None,
    namespace: Mapping[str, Any] | None = None,
    image: Any = None,
    mask: Any = None,
    force: bool = False,
    settings: Settings | None = None,
    session: Session | None = None,
    **params: Any,
) -> BatchJob:
    """Send many requests to the provider's Batch API (half price, done within 24 h); return the BatchJob.

    Takes what a sweep takes: a template (`{name}` filled from `rows`, grid axes and `namespace`) or a
    list of prompts, `rows` (dicts or a DataFrame), and parameters where a list or tuple is a grid axis.
    With `image` (and `mask`: what imagemagic.edit takes) every request is an edit of those images,
    sent in the JSON edit form (images as data URLs), as the Batch API needs.
    Every request and every Batch API rule is checked first (ValidationError lists all problems; nothing
    is sent). The identical batch submitted again returns the earlier job (`force=True`: a new one).
    Without a key, the offline preview server runs the batch, keeping it in the history folder.
    """
    settings = settings or Settings.current()
    session = session or default()
    operation = "edit" if image is not None else "generate"
    variants = expand(template_or_prompts, rows=rows, namespace=namespace, operation=operation, **params)
    if not variants:
        raise ValidationError([Problem("prompt", "nothing to submit: give at least one prompt or row")])
    inputs = {}
    if image is not None:  # read once: every request shares the same bytes (no copy per row)
        inputs = {"image": collect(image), "mask": collect(mask, "mask") if mask is not None else None}
    plans = _plans(variants, settings, inputs)
    budget.check(plans, session=session, batch=True)
    for note in dict.fromkeys([*variants.notes, *(w for plan in plans for w in plan.warnings)]):
        warn(note)  # the run path's one warning channel, each note once
    store = HistoryStore(limit_mb=settings.history_limit_mb)
    home = _home(store)
    endpoint = session.run_sync(session.connect(plans[0].endpoint, lambda text: print(text, file=sys.stderr)))
    ids = [f"r{n:0{len(str(len(plans)))}d}" for n in range(1, len(plans) + 1)]
    try:
        record = JobRecord.create(home, where(endpoint), URLS[operation])
        lines = ((p.request.model, line(cid, p.request, operation)) for cid, p in zip(ids, plans))
        names, digest = write_inputs(record.folder, lines)
    except OSError as exc:
        raise _unusable(store.home, exc) from exc
    fingerprint = f"{'offline' if endpoint.offline else endpoint.base_url} {URLS[operation]} {digest}"
    earlier = None if force else _submitted(home, fingerprint)
    if earlier is not None:
        record.remove()
        labels = ", with this submission's labels" if _relabel(earlier, ids, variants) else ""
        job = BatchJob(earlier, store=store, settings=settings, session=session)
        warnings.warn(
            f"this batch was submitted before as {job.id} ({job.state}): returning that job{labels}; "
            "force=True (--force) submits a new one",
            ImageMagicWarning,
            stacklevel=2,
        )
        return job
    record.data.update(inputs=names, fingerprint=fingerprint)
    record.write_requests(
        {
            cid: {"body": p.request.body(), "variables": _jsonable(v.variables)}
            for cid, p, v in zip(ids, plans, variants)
        }
    )
    record.save()
    job = BatchJob(record, store=store, settings=settings, session=session)
    hold = budget.reserve(plans, session=session, batch=True)  # what is left is taken before it is sent
    try:
        job.send()
    except BaseException:
        hold.release()  # not sent
        raise
    for note in hold.settle(None):  # a batch counts at its estimate when sent (its bill comes within 24 h)
        warn(note)
    return job


def _interrupted(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C, alone or inside an exception group (as a task group in the HTTP stack raises it)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(KeyboardInterrupt) is not None
    return isinstance(exc, KeyboardInterrupt)


def _relabel(record: JobRecord, ids: list[str], variants) -> bool:
    """Give the earlier job `record` this submission's variables (its lines are identical, so only labels can
    differ: paying again to rename a column would be absurd); whether any changed."""
    requests = record.requests()
    wanted = {cid: {**requests[cid], "variables": _jsonable(v.variables)} for cid, v in zip(ids, variants)}
    if wanted == requests:
        return False
    record.write_requests(wanted)
    return True


def _submitted(home: Path, fingerprint: str) -> JobRecord | None:
    """The newest sent job with this input fingerprint, if any."""
    for record in recorded(home):
        if isinstance(record, JobRecord) and record.data.get("fingerprint") == fingerprint and record.data["parts"]:
            return record
    return None


class BatchJob:
    """A batch job: one or more provider batches (one per input file) recorded under one id.

    `status()` asks the server, `wait()` follows it with a progress bar, `cancel()` stops it,
    `results()` collects its images into the history. `repr` is one line; in a notebook it shows a
    small status table.
    """

    def __init__(
        self,
        record: JobRecord,
        *,
        store: HistoryStore | None = None,
        settings: Settings | None = None,
        session: Session | None = None,
    ) -> None:
        self.job = record
        self.settings = settings or Settings.current()
        self.store = store or HistoryStore(limit_mb=self.settings.history_limit_mb)
        self.session = session or default()
        self.remote = Remote(record.data, self.settings, self.session)
        self.problem: str | None = None  # the one line saying why the last refresh failed

    @property
    def record(self) -> dict:
        """The job's record (job.json) as last written."""
        return self.job.data

    @property
    def id(self) -> str:
        """The job's id (also the history's `run` of its images)."""
        return self.record["id"]

    @property
    def parts(self) -> list[dict]:
        """The provider's Batch objects of this job, as last retrieved."""
        return self.record["parts"]

    @property
    def folder(self) -> Path:
        return self.job.folder

    def requests(self) -> dict:
        """custom_id → {"body", "variables"} of every request, in the order submitted."""
        return self.job.requests()

    def send(self) -> None:
        """Upload each input file not sent yet and create its batch, recording each batch as it is created."""
        total = len(self.record["inputs"])

        def on_part(part):
            self.parts.append(part)
            self.job.save()

        try:
            self.remote.send(self.job.inputs(), on_part)
        except ImageMagicError as exc:
            self.record["unsent"] = f"{total - len(self.parts)} of {total} batches not sent: {exc}"
            self.job.save()
            raise
        for _, name in self.record["inputs"]:
            (self.folder / name).unlink(missing_ok=True)  # the provider holds them now

    # -- status -------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The job's status as last retrieved: that of its least advanced batch ("submitting" before any
        was created, "unsent" when submitting failed: `record["unsent"]` says why)."""
        if not self.parts:
            return "unsent" if self.record.get("unsent") else "submitting"
        statuses = [part["status"] for part in self.parts]
        if all(s in DONE for s in statuses):
            return "completed" if all(s == "completed" for s in statuses) else min(statuses, key=DONE.index)
        return min((s for s in statuses if s not in DONE), key=STAGES.index)

    @property
    def counts(self) -> dict:
        """{"total", "completed", "failed"} summed over the job's batches (total: requests submitted)."""
        found = {"total": 0, "completed": 0, "failed": 0}
        for part in self.parts:
            add_usage(found, part.get("request_counts"))
        return found

    @property
    def usage(self) -> dict:
        """Token usage the server reported for the job so far."""
        total: dict = {}
        for part in self.parts:
            add_usage(total, part.get("usage"))
        return total

    def estimated_cost(self) -> float | None:
        """USD at batch price (half) for the usage reported so far; 0 offline, None when the price is unknown."""
        if self.record["offline"]:
            return 0.0
        spent: float | None = 0.0
        models = [model for model, _ in self.record.get("inputs", ())]  # as submitted, whatever a server echoes
        for number, part in enumerate(self.parts):
            model = models[number] if number < len(models) else (part.get("metadata") or {}).get("model")
            price = price_for(model, self.settings.prices) if isinstance(model, str) else None
            amount = cost(part.get("usage"), price, batch=True)
            spent = None if amount is None or spent is None else spent + amount
        return spent

    def status(self) -> str:
        """Ask the server for every batch of the job; record and return the job's status.

        A job its server no longer knows (LostJob) is recorded as lost and never asked about again."""
        if self.record.get("lost"):
            raise LostJob(self.record["lost"])
        if self.state in DONE or not self.parts:
            return self.state
        try:
            self.record["parts"] = self.remote.refresh(self.parts, DONE)
        except LostJob as exc:
            self.record["lost"] = str(exc)
            self.job.save()
            raise
        self.job.save()
        return self.state

    def wait(self, poll: float = 5.0, timeout: float | None = None, progress: bool = True) -> str:
        """Follow the job until it is done (or `timeout` seconds), with a progress bar; return its status.

        The bar reads validating → in_progress n/total → finalizing → completed. Ctrl-C stops waiting,
        not the job: it says so in one line and raises KeyboardInterrupt (so "Run All" stops); the job stays
        recorded (imagemagic.batch(id) brings it back).
        """
        from tqdm.auto import tqdm

        bar = tqdm(total=self.counts["total"] or None, desc=self.state, unit="req", disable=not progress)
        began = time.monotonic()
        stopped = False
        try:
            while self.status() not in DONE and (timeout is None or time.monotonic() - began < timeout):
                self._show(bar)
                time.sleep(poll)
        except BaseException as exc:
            if not _interrupted(exc):
                raise
            stopped = True
        finally:
            self._show(bar)
            bar.close()
        if stopped:  # below the bar's last line, not inside it; then the interrupt goes on, so "Run All" stops
            print(f"stopped waiting; {self.id} goes on: imagemagic.batch({self.id!r})", file=sys.stderr)
            raise KeyboardInterrupt
        return self.state

    def _show(self, bar) -> None:
        counts = self.counts
        bar.total = counts["total"] or None
        bar.n = counts["completed"] + counts["failed"]
        bar.set_description(self.state, refresh=False)
        bar.refresh()

    def cancel(self) -> str:
        """Cancel every batch of the job that is still running; return the job's status."""
        self.record["parts"] = self.remote.cancel(self.parts, DONE)
        self.job.save()
        return self.state

    def results(self) -> Sweep:
        """Every request's images (stored in the history first) or error, in the order submitted.

        The first call downloads the output and error files as streams; later calls read the history.
        Answered requests that got fewer images than their `n` are said in one line, each call.
        Raises BatchError while the job is not done.
        """
        if not self.record["collected"]:
            status = self.status()
            if status not in DONE:
                raise BatchError(f"batch job {self.id} is {status}: its results come when it is done (job.wait())")
            batch_collect.collect(self.job, self.remote, self.store, status)
        runs = batch_collect.from_history(self.job, self.store, self.settings.prices)
        short = batch_collect.shortfall(runs)
        if short:
            warn(short)
        return runs

    # -- display ------------------------------------------------------------------------------

    def _times(self) -> tuple[str, str]:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.record["created"]))
        due = max((part.get("expires_at") or 0 for part in self.parts), default=0)
        return created, time.strftime("%Y-%m-%d %H:%M", time.localtime(due)) if due else "—"

    def line(self) -> str:
        """One line: id, status, counts, estimated cost, created and due times."""
        counts = self.counts
        done = counts["completed"] + counts["failed"]
        failed = f" ({counts['failed']} failed)" if counts["failed"] else ""
        amount = self.estimated_cost()
        money = describe_cost(amount, self.record["offline"]) if self.usage or amount is None else "cost when done"
        created, due = self._times()
        return (
            f"{self.id}  {self.state} {done}/{counts['total']}{failed}  {money} at batch price  "
            f"created {created}, due by {due}"
        )

    def __repr__(self) -> str:
        return f"<BatchJob {self.line()}>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        import html

        counts = self.counts
        created, due = self._times()
        amount = self.estimated_cost()
        rows = [
            ("job", self.id),
            ("status", self.state),
            ("requests", f"{counts['total']} ({counts['completed']} done, {counts['failed']} failed)"),
            ("est. cost (half price)", describe_cost(amount, self.record["offline"])),
            ("created", created),
            ("due by", due),
        ]
        cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return {"text/plain": repr(self), "text/html": f"<table>{cells}</table>"}


def batches(
    refresh: bool = True, *, settings: Settings | None = None, session: Session | None = None
) -> list[BatchJob | Unreadable]:
    """Every batch job submitted from this machine, newest first, with its status.

    `refresh` asks the server about the jobs not yet done, each with the credentials configured for its
    endpoint only; a job that cannot be asked keeps its last known status, and its `.problem` says why
    ("needs the key for <host>"). A record that cannot be read is listed as one line (Unreadable).
    """
    settings = settings or Settings.current()
    store = HistoryStore(limit_mb=settings.history_limit_mb)
    jobs: list[BatchJob | Unreadable] = [
        BatchJob(r, store=store, settings=settings, session=session) if isinstance(r, JobRecord) else r
        for r in recorded(_home(store))
    ]
    for job in jobs:
        if refresh and isinstance(job, BatchJob) and job.state not in DONE:
            try:
                job.status()
            except ImageMagicError as exc:
                job.problem = str(exc)
    return jobs


def batch(
    job_id: str, *, settings: Settings | None = None, session: Session | None = None, hint: str | None = None
) -> BatchJob:
    """The recorded batch job `job_id` (our id, or one of its provider batch ids); BatchError when none.

    `hint`: where the jobs are listed, said when there is no such job (the CLI names its own command)."""
    settings = settings or Settings.current()
    store = HistoryStore(limit_mb=settings.history_limit_mb)
    home = _home(store)
    try:
        record = find(home, job_id)
    except ValueError as exc:
        raise BatchError(f"the record of batch job {job_id!r} cannot be read: {exc}") from exc
    if record is None:
        raise UnknownJob(job_id, home, *([hint] if hint else []))
    return BatchJob(record, store=store, settings=settings, session=session)
