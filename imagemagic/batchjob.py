"""Many images at half the price, past one kernel: jobs on the provider's Batch API.

    job = imagemagic.submit_batch("A {product} on a marble table", rows=df, size="1024x1024")
    job            # status, counts, estimated cost at batch price, created and due times
    job.wait()     # a progress bar until done; Ctrl-C stops waiting, not the job
    runs = job.results()

`submit_batch` takes what a sweep takes (expand.py), validates every request through
settings.prepare (all problems at once, nothing sent), writes the JSONL input (batch_io: one model
per file, within the API's limits), uploads it and creates one provider batch per file (files.py).
Each job is recorded at once in `<home>/batches/<job id>/` (job.json: its provider batches and
last known status; requests.json: custom_id → request body and variables), so `batches()` lists
every job submitted from this machine after any restart, and `batch(job_id)` brings one back.

`results()` streams the output and error files, matches lines to requests by custom_id, stores
every image in the history (run = the job id) before returning, and records each failure; a
second call reads the history, not the network. (The module is `batchjob`: `imagemagic.batch` is
the function that brings a job back.)
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import time
import warnings
from pathlib import Path

from .batch_io import GENERATIONS, OutputParser, request_line, split_files
from .contact import thumbnail
from .errors import ImageDataError, ImageMagicError, ImageMagicWarning, TransportError, ValidationError
from .expand import expand
from .request import EditRequest, ImageRequest, Problem
from .result import GeneratedImage, ImageResult, add_usage
from .session import default
from .settings import Settings, prepare
from .store import HistoryStore, atomic_write
from .sweep_result import Run, Sweep
from .usage import cost, describe_cost, price_for

DONE = ("completed", "failed", "expired", "cancelled")
STAGES = ("validating", "in_progress", "finalizing", "cancelling", *DONE)  # a job is at its least advanced part's
URLS = {"generate": GENERATIONS, "edit": "/v1/images/edits"}  # operation → batch endpoint
MAX_SHOWN_PROBLEMS = 20


class BatchError(ImageMagicError):
    """A batch job cannot do what was asked: no such job, not done yet, or its server is unreachable."""


def _home(store):
    return store.home / "batches"


def _jsonable(value):
    """`value` as JSON data: numpy scalars by their value, anything else unknown as its text."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _write(path, data):
    atomic_write(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def _plans(variants, settings, inputs):
    """One Plan per variant; ValidationError listing every problem of every request (numbered from 1).

    `inputs` ({"image": ..., "mask": ...} for edits, else empty) go with every request."""
    operation = "edit" if inputs else "generate"
    plans, problems = [], []
    for number, variant in enumerate(variants, 1):
        try:
            plan = prepare(variant.prompt, variant.params, settings=settings, operation=operation, **inputs)
            found = plan.request.wire_problems()  # a batch line is sent as is: no fan-out of n
        except ValidationError as exc:
            found = exc.problems
        else:
            plans.append(plan)
        problems += [Problem(p.param, f"request {number}: {p.message}") for p in found]
    if len(problems) > MAX_SHOWN_PROBLEMS:
        hidden = len(problems) - MAX_SHOWN_PROBLEMS
        problems = [*problems[:MAX_SHOWN_PROBLEMS], Problem("batch", f"and {hidden} more problems")]
    if problems:
        raise ValidationError(problems)
    return plans


def _line_body(request):
    """The body a batch line sends: the request's JSON body; an edit's in the JSON edit form."""
    if isinstance(request, EditRequest):
        from .edits import json_body

        return json_body(request)
    return request.body()


def submit_batch(
    template_or_prompts,
    *,
    rows=None,
    namespace=None,
    image=None,
    mask=None,
    settings: Settings | None = None,
    session=None,
    **params,
) -> BatchJob:
    """Send many requests to the provider's Batch API (half price, done within 24 h); return the BatchJob.

    Takes what a sweep takes: a template (`{name}` filled from `rows`, grid axes and `namespace`) or a
    list of prompts, `rows` (dicts or a DataFrame), and parameters where a list or tuple is a grid axis.
    With `image` (and `mask`: what imagemagic.edit takes) every request is an edit of those images,
    sent in the JSON edit form (images as data URLs), as the Batch API needs.
    Every request is validated first (ValidationError lists all problems; nothing is sent). Without a
    key, the offline preview server runs the batch (in this process: it ends with the process).
    """
    settings = settings or Settings.current()
    session = session or default()
    operation = "edit" if image is not None else "generate"
    variants = expand(template_or_prompts, rows=rows, namespace=namespace, operation=operation, **params)
    if not variants:
        raise ValidationError([Problem("prompt", "nothing to submit: give at least one prompt or row")])
    inputs = {"image": image, "mask": mask} if image is not None else {}
    plans = _plans(variants, settings, inputs)
    for note in dict.fromkeys(w for plan in plans for w in plan.warnings):
        warnings.warn(note, ImageMagicWarning, stacklevel=2)
    endpoint = session.run_sync(session.connect(plans[0].endpoint, lambda line: print(line, file=sys.stderr)))
    ids = [f"r{n:0{len(str(len(plans)))}d}" for n in range(1, len(plans) + 1)]
    job = BatchJob.new(endpoint, operation, settings=settings, session=session)
    job.write_requests(
        {
            cid: {"body": p.request.body(), "variables": _jsonable(v.variables)}
            for cid, p, v in zip(ids, plans, variants)
        }
    )
    lines = [(p.request.model, request_line(cid, _line_body(p.request), URLS[operation])) for cid, p in zip(ids, plans)]
    job.send(split_files(lines))
    return job


class BatchJob:
    """A batch job: one or more provider batches (one per input file) recorded under one id.

    `status()` asks the server, `wait()` follows it with a progress bar, `cancel()` stops it,
    `results()` collects its images into the history. `repr` is one line; in a notebook it shows a
    small status table.
    """

    def __init__(self, record: dict, *, store=None, settings=None, session=None):
        self.record = record
        self.settings = settings or Settings.current()
        self.store = store or HistoryStore(limit_mb=self.settings.history_limit_mb)
        self.session = session or default()
        self.problem = None  # the one line saying why the last refresh failed

    @classmethod
    def new(cls, endpoint, operation, **options) -> BatchJob:
        """A job recorded (with no provider batch yet) before anything is uploaded."""
        job_id = f"imb-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        record = {
            "id": job_id,
            "created": time.time(),
            "base_url": endpoint.base_url,
            "offline": endpoint.offline,
            "url": URLS[operation],
            "parts": [],
            "collected": False,
            "failures": {},
        }
        job = cls(record, **options)
        job.save()
        return job

    @classmethod
    def load(cls, job_id: str, *, store=None, **options) -> BatchJob:
        """The recorded job `job_id` (or the one holding provider batch `job_id`); BatchError when none."""
        store = store or HistoryStore()
        path = _home(store) / job_id / "job.json"
        if path.is_file():
            return cls(json.loads(path.read_bytes()), store=store, **options)
        for job in _recorded(store, **options):
            if any(part["id"] == job_id for part in job.parts):
                return job
        raise BatchError(f"no batch job {job_id!r} in {_home(store)}: imagemagic.batches() lists them")

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
        return _home(self.store) / self.id

    def save(self):
        """Write the job's record (atomically)."""
        _write(self.folder / "job.json", self.record)

    def write_requests(self, requests: dict):
        """Record custom_id → {"body", "variables"} for every request of the job."""
        _write(self.folder / "requests.json", requests)

    def requests(self) -> dict:
        """custom_id → {"body", "variables"} of every request, in the order submitted."""
        return json.loads((self.folder / "requests.json").read_bytes())

    def endpoint(self):
        """Where the job runs: its recorded base URL, with today's credentials for it."""
        from .endpoint import Endpoint, resolve

        if self.record["offline"]:
            return Endpoint(self.record["base_url"], offline=True, reason="offline")
        return resolve(api_key=self.settings.api_key, base_url=self.record["base_url"])

    def _api(self):
        from .files import BatchAPI

        return BatchAPI(
            self.endpoint(),
            timeout=self.settings.timeout,
            max_retries=self.settings.max_retries,
            sleep=self.session.sleep,
            transport=self.session.transport,
        )

    def _run(self, work):
        """Run `work(api)` (a coroutine function) with a fresh Files/Batch client."""

        async def go():
            async with self._api() as api:
                return await work(api)

        return self.session.run_sync(go())

    def send(self, files: list[tuple[str, list[bytes]]]):
        """Upload each (model, lines) input file and create its batch, recording each batch as it is created."""
        total = len(files)

        async def work(api):
            for number, (model, lines) in enumerate(files, 1):
                name = f"{self.id}-{number}.jsonl"
                uploaded = await api.upload(b"".join(lines), name)
                metadata = {"imagemagic_job": self.id, "part": f"{number}/{total}", "model": str(model)}
                self.parts.append(await api.create(uploaded["id"], self.record["url"], metadata))
                self.save()

        try:
            self._run(work)
        except ImageMagicError as exc:
            self.record["unsent"] = f"{total - len(self.parts)} of {total} batches not sent: {exc}"
            self.save()
            raise

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
        total = {}
        for part in self.parts:
            add_usage(total, part.get("usage"))
        return total

    def estimated_cost(self) -> float | None:
        """USD at batch price (half) for the usage reported so far; 0 offline, None when the price is unknown."""
        if self.record["offline"]:
            return 0.0
        spent = 0.0
        for part in self.parts:
            model = (part.get("metadata") or {}).get("model") or part.get("model")
            amount = cost(part.get("usage"), price_for(model, self.settings.prices), batch=True)
            spent = None if amount is None or spent is None else spent + amount
        return spent

    def status(self) -> str:
        """Ask the server for every batch of the job; record and return the job's status."""
        if self.state in DONE:
            return self.state

        async def work(api):
            return [part if part["status"] in DONE else await api.retrieve(part["id"]) for part in self.parts]

        self.record["parts"] = self._run(work)
        self.save()
        return self.state

    def wait(self, poll: float = 5.0, timeout: float | None = None, progress: bool = True) -> str:
        """Follow the job until it is done (or `timeout` seconds), with a progress bar; return its status.

        The bar reads validating → in_progress n/total → finalizing → completed. Ctrl-C stops waiting,
        not the job: it stays recorded (imagemagic.batch(id) brings it back).
        """
        from tqdm.auto import tqdm

        bar = tqdm(total=self.counts["total"] or None, desc=self.state, unit="req", disable=not progress)
        began = time.monotonic()
        try:
            while self.status() not in DONE and (timeout is None or time.monotonic() - began < timeout):
                self._show(bar)
                time.sleep(poll)
        except KeyboardInterrupt:
            print(f"stopped waiting; {self.id} goes on: imagemagic.batch({self.id!r})", file=sys.stderr)
        finally:
            self._show(bar)
            bar.close()
        return self.state

    def _show(self, bar):
        counts = self.counts
        bar.total = counts["total"] or None
        bar.n = counts["completed"] + counts["failed"]
        bar.set_description(self.state, refresh=False)
        bar.refresh()

    def cancel(self) -> str:
        """Cancel every batch of the job that is still running; return the job's status."""

        async def work(api):
            return [part if part["status"] in DONE else await api.cancel(part["id"]) for part in self.parts]

        self.record["parts"] = self._run(work)
        self.save()
        return self.state

    # -- results ------------------------------------------------------------------------------

    def results(self) -> Sweep:
        """Every request's images (stored in the history first) or error, in the order submitted.

        The first call downloads the output and error files as streams; later calls read the history.
        Raises BatchError while the job is not done.
        """
        if not self.record["collected"]:
            status = self.status()
            if status not in DONE:
                raise BatchError(f"batch job {self.id} is {status}: its results come when it is done (job.wait())")
            self._collect()
        return self._from_history()

    def _stored(self):
        return self.store.entries(None, run=self.id)

    def _collect(self):
        requests = self.requests()
        stored = {entry.meta.get("custom_id") for entry in self._stored()}
        failures, paths = self.record["failures"], []
        endpoint = self.endpoint()

        def take(line):
            wanted = requests.get(line.custom_id)
            if wanted is None or line.custom_id in stored:
                return  # not ours, or stored by an earlier, interrupted collection
            failures.pop(line.custom_id, None)
            if line.message is not None:
                failures[line.custom_id] = line.message
                return
            problem = self._store(line, wanted, endpoint, paths)
            if problem:
                failures[line.custom_id] = problem

        async def work(api):
            for part in self.parts:
                for key in ("output_file_id", "error_file_id"):
                    if part.get(key):
                        parser = OutputParser(take)
                        try:
                            async with api.content(part[key]) as chunks:
                                async for chunk in chunks:
                                    parser.feed(chunk)
                            parser.close()
                        except ValueError as exc:
                            raise TransportError(f"{part[key]} of batch {part['id']}: {exc}") from exc

        try:
            self._run(work)
        finally:
            if paths:
                self.store.prune(keep=paths)
            self.save()
        stored = {entry.meta.get("custom_id") for entry in self._stored()}
        for custom_id in requests:
            if custom_id not in stored and custom_id not in failures:
                failures[custom_id] = f"no answer in the batch's files (the batch is {self.state})"
        self.record["collected"] = True
        self.save()

    def _store(self, line, wanted, endpoint, paths):
        """Store one answer's images with their request; return None, or the line saying what went wrong."""
        request = ImageRequest.from_body(wanted["body"])
        meta = {"run": self.id, "custom_id": line.custom_id, "variables": wanted["variables"]}
        saver = self.store.saver(request, endpoint, meta=meta)
        saver.meta["count"] = len(line.images)
        items = [item for item in (line.body or {}).get("data") or () if isinstance(item, dict)]
        usage = (line.body or {}).get("usage")
        for index, (data, item) in enumerate(zip(line.images, items)):
            image = GeneratedImage.from_bytes(
                data, index=index, request_id=line.request_id, usage=usage, revised_prompt=item.get("revised_prompt")
            )
            try:
                image.format  # noqa: B018 - refuse what is not an image before storing it
            except ImageDataError as exc:
                return str(exc)
            saver(image)
        paths += saver.paths
        return saver.failure

    def _from_history(self) -> Sweep:
        by_id = {}
        for entry in self._stored():
            by_id.setdefault(entry.meta.get("custom_id"), []).append(entry)
        runs = []
        for custom_id, wanted in self.requests().items():
            entries = sorted(by_id.get(custom_id, ()), key=lambda e: e.meta["index"])
            error = self.record["failures"].get(custom_id)
            images, usage = None, {}
            try:
                if entries:
                    images = ImageResult([e.generated() for e in entries], created=entries[0].meta.get("created"))
                    usage = entries[0].meta.get("usage") or {}
            except (OSError, ImageMagicError) as exc:
                error = f"the stored images cannot be read: {exc}"
            if images is None and error is None:
                error = "no stored images (pruned from the history?)"
            request = ImageRequest.from_body(wanted["body"])
            spent = (
                0.0
                if self.record["offline"]
                else cost(usage, price_for(request.model, self.settings.prices), batch=True)
            )
            runs.append(
                Run(
                    wanted["variables"],
                    request,
                    files=[entry.path for entry in entries] if images is not None else [],
                    usage=usage,
                    cost=spent if error is None else None,
                    request_ids=list(
                        dict.fromkeys(e.meta.get("request_id") for e in entries if e.meta.get("request_id"))
                    ),
                    error=BatchError(error) if error is not None else None,
                    thumbnails=[thumbnail(pil) for pil in images] if images is not None and error is None else [],
                    custom_id=custom_id,
                )
            )
        return Sweep(runs, id=self.id, offline=self.record["offline"])

    # -- display ------------------------------------------------------------------------------

    def _times(self):
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

    def __repr__(self):
        return f"<BatchJob {self.line()}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
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


def _recorded(store, **options):
    jobs = []
    for path in _home(store).glob("*/job.json"):
        with contextlib.suppress(OSError, ValueError):
            jobs.append(BatchJob(json.loads(path.read_bytes()), store=store, **options))
    return sorted(jobs, key=lambda job: job.record["created"], reverse=True)


def batches(refresh: bool = True, *, settings: Settings | None = None, session=None) -> list[BatchJob]:
    """Every batch job submitted from this machine, newest first, with its status.

    `refresh` asks the server about the jobs not yet done; a job whose server cannot be reached keeps
    its last known status, and its `.problem` says why.
    """
    settings = settings or Settings.current()
    store = HistoryStore(limit_mb=settings.history_limit_mb)
    jobs = _recorded(store, settings=settings, session=session)
    for job in jobs:
        if refresh and job.state not in DONE:
            try:
                job.status()
            except ImageMagicError as exc:
                job.problem = str(exc)
    return jobs


def batch(job_id: str, *, settings: Settings | None = None, session=None) -> BatchJob:
    """The recorded batch job `job_id` (our id, or one of its provider batch ids); BatchError when none."""
    settings = settings or Settings.current()
    return BatchJob.load(
        job_id, store=HistoryStore(limit_mb=settings.history_limit_mb), settings=settings, session=session
    )
