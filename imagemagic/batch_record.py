"""A batch job's record on disk: `<home>/batches/<job id>/`.

    job.json       the job: id, created, where it runs (base URL, Azure or not, whether a key was used,
                   never the key), its input's fingerprint, its provider batches as last retrieved
                   (each checked before it is kept), collected, failures
    requests.json  custom_id → {"body", "variables"} of every request, in the order submitted
    input-<n>.jsonl  the input files, written before anything is uploaded (one line in memory at a time)

Writes are atomic. A record that cannot be read is one line in a listing (`Unreadable`), never an
exception that hides the other jobs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import batch_io
from .batch_io import BadAnswer, checked_batch
from .errors import ImageMagicError
from .store import atomic_write


class BatchError(ImageMagicError):
    """A batch job cannot do what was asked: no such job, not done yet, or its server is unreachable."""


class LostJob(BatchError):
    """The server that ran the job no longer knows it (an offline job whose state is gone): it cannot finish."""


class UnknownJob(BatchError):
    """No recorded job has this id; `hint` names where they are listed (the CLI says `imagemagic batch list`)."""

    def __init__(self, job_id: str, home: Path, hint: str = "imagemagic.batches() lists them"):
        self.job_id, self.home = job_id, home
        super().__init__(f"no batch job {job_id!r} in {home}: {hint}")


def _write(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass
class Unreadable:
    """A job folder whose record cannot be used: listed as one line saying why."""

    folder: Path
    reason: str
    problem: str | None = None
    state: str = "unreadable"

    @property
    def id(self) -> str:
        return self.folder.name

    def line(self) -> str:
        return f"{self.folder.name}  unreadable: {self.reason}"


class JobRecord:
    """The record of one job (`data`, the job.json content) in its folder; `save()` writes it back."""

    def __init__(self, data: dict, folder: Path):
        self.data = data
        self.folder = folder

    @classmethod
    def create(cls, home: Path, where: dict, url: str) -> JobRecord:
        """A new job's folder (nothing recorded in it yet: `save()` records it). `where`: see Remote.where."""
        job_id = f"imb-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        data = {
            "id": job_id,
            "created": time.time(),
            **where,
            "url": url,
            "parts": [],
            "collected": False,
            "failures": {},
        }
        folder = home / job_id
        folder.mkdir(parents=True)
        return cls(data, folder)

    @classmethod
    def load(cls, folder: Path) -> JobRecord:
        """The record in `folder`; BadAnswer (one line) when job.json is not a usable record."""
        try:
            data = json.loads((folder / "job.json").read_bytes())
        except ValueError as exc:
            raise BadAnswer("job.json is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
            raise BadAnswer("job.json is not a job record")
        for name, kind in (("id", str), ("created", (int, float)), ("url", str), ("failures", dict)):
            if not isinstance(data.get(name), kind):
                raise BadAnswer(f"job.json has no usable {name}")
        for part in data["parts"]:
            checked_batch(part)
        return cls(data, folder)

    @property
    def id(self) -> str:
        return self.data["id"]

    def save(self) -> None:
        """Write job.json (atomically)."""
        _write(self.folder / "job.json", self.data)

    def write_requests(self, requests: dict) -> None:
        """Record custom_id → {"body", "variables"} for every request of the job."""
        _write(self.folder / "requests.json", requests)

    def requests(self) -> dict:
        """custom_id → {"body", "variables"} of every request, in the order submitted."""
        return json.loads((self.folder / "requests.json").read_bytes())

    def inputs(self) -> list[tuple[str, Path]]:
        """(model, path) of each input file not yet sent as a batch, in order."""
        return [(model, self.folder / name) for model, name in self.data.get("inputs", [])][len(self.data["parts"]) :]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the job's lock (another process collecting the same job waits for it)."""
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove(self) -> None:
        """Delete the job's folder (a job that was never recorded)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def write_inputs(folder: Path, lines: Iterable[tuple[str, bytes]]) -> tuple[list[tuple[str, str]], str]:
    """Write (model, line) pairs as input files in `folder`: one model per file, within batch_io's MAX_LINES
    and MAX_BYTES; one line in memory at a time. Returns ([(model, file name)], the input's fingerprint)."""
    names: list[tuple[str, str]] = []
    open_files: dict[str, tuple[Any, int, int]] = {}  # model → (handle, lines, bytes)
    digest = hashlib.sha256()
    try:
        for model, line in lines:
            digest.update(len(line).to_bytes(8, "big") + line)
            handle, count, size = open_files.get(model, (None, 0, 0))
            if handle is None or count >= batch_io.MAX_LINES or size + len(line) > batch_io.MAX_BYTES:
                if handle is not None:
                    handle.close()
                names.append((model, f"input-{len(names) + 1}.jsonl"))
                handle, count, size = open(folder / names[-1][1], "wb"), 0, 0
            handle.write(line)
            open_files[model] = (handle, count + 1, size + len(line))
    finally:
        for handle, _, _ in open_files.values():
            handle.close()
    by_model = {model: [n for m, n in names if m == model] for model, _ in names}  # one model's files together
    return [(model, name) for model, group in by_model.items() for name in group], digest.hexdigest()


def recorded(home: Path) -> list[JobRecord | Unreadable]:
    """Every job recorded under `home`, newest first; then each unusable record, as Unreadable."""
    found: list[JobRecord | Unreadable] = []
    for path in home.glob("*/job.json"):
        try:
            found.append(JobRecord.load(path.parent))
        except (OSError, BadAnswer) as exc:
            found.append(Unreadable(path.parent, str(exc) if isinstance(exc, BadAnswer) else exc.strerror or str(exc)))
    return sorted(found, key=lambda r: r.data["created"] if isinstance(r, JobRecord) else -1.0, reverse=True)


def find(home: Path, job_id: str) -> JobRecord | None:
    """The record of job `job_id`, or of the job holding provider batch `job_id`; None when none."""
    if batch_io.safe_id(job_id) and (home / job_id / "job.json").is_file():
        return JobRecord.load(home / job_id)
    for record in recorded(home):
        if isinstance(record, JobRecord) and any(part["id"] == job_id for part in record.data["parts"]):
            return record
    return None
