"""Collecting a batch job's results into the history, and reading them back as a Sweep.

Collection is idempotent per image: each image is stored once under (custom_id, index), whatever
happens — a process killed between the images of one answer stores the rest on the next run, two
processes collecting one job take turns (the job's lock) and the second stores nothing again, a
server repeating a line stores nothing twice. Output lines are bounded (`max_answer_mb`: a longer
line is skipped as it streams by and its request fails in one line), and every string a server sent
has the key masked out before it is stored or shown.
"""

from __future__ import annotations

from .batch_io import BadAnswer, OutputLine, OutputParser
from .batch_record import BatchError, JobRecord
from .batch_remote import Remote
from .contact import thumbnail
from .errors import ImageDataError, ImageMagicError, TransportError, masked
from .request import ImageRequest
from .result import GeneratedImage, ImageResult
from .store import HistoryStore
from .sweep_result import Run, Sweep
from .usage import cost, price_for

SHORT_NAMED = 3  # the custom_ids a shortfall line names


def _stored(store: HistoryStore, job_id: str) -> set[tuple[str, int]]:
    return {(entry.meta.get("custom_id"), entry.meta.get("index")) for entry in store.entries(None, run=job_id)}


def collect(record: JobRecord, remote: Remote, store: HistoryStore, state: str) -> None:
    """Store every image of the job's output files not stored yet, and record each request's failure.

    `state`: the job's status (said for requests without an answer). Holds the job's lock throughout."""
    with record.lock():
        record.data.update(JobRecord.load(record.folder).data)  # as another process may have left it
        data = record.data
        if data["collected"]:
            return  # another process collected it while this one waited
        requests = record.requests()
        failures: dict = data["failures"]
        paths: list = []
        endpoint = remote.endpoint()
        key = endpoint.api_key
        stored = _stored(store, data["id"])
        max_line = int(remote.settings.max_answer_mb * 1024 * 1024 * 4 / 3) + 64 * 1024  # base64 and framing
        oversized: list[str | None] = []

        def take(line: OutputLine) -> None:
            wanted = requests.get(line.custom_id)
            if wanted is None:
                return  # not ours
            if line.message is not None:
                if not any(cid == line.custom_id for cid, _ in stored):
                    failures[line.custom_id] = masked(line.message, key)
                return
            failures.pop(line.custom_id, None)
            problem = _store(store, data["id"], line, wanted, endpoint, stored, paths, key)
            if problem:
                failures[line.custom_id] = problem

        async def work(api):
            for part in data["parts"]:
                for name in ("output_file_id", "error_file_id"):
                    if part.get(name):
                        parser = OutputParser(take, max_line=max_line)
                        try:
                            await remote.download(api, part[name], parser.feed)
                            parser.close()
                        except BadAnswer as exc:
                            raise TransportError(
                                f"{part[name]} of batch {part['id']}: {masked(str(exc), key)}"
                            ) from exc
                        oversized.extend(parser.oversized)

        try:
            remote.run(work, endpoint)
        finally:
            if paths:
                store.prune(keep=paths)
            record.save()
        too_long = f"its answer is larger than max_answer_mb={remote.settings.max_answer_mb:g} MiB: not read"
        for custom_id in oversized:
            if custom_id in requests:
                failures[custom_id] = too_long
        stored_ids = {cid for cid, _ in _stored(store, data["id"])}
        unnamed = sum(1 for cid in oversized if cid is None)
        for custom_id in requests:
            if custom_id not in stored_ids and custom_id not in failures:
                extra = f"; {unnamed} answer(s) larger than max_answer_mb were skipped" if unnamed else ""
                failures[custom_id] = f"no answer in the batch's files (the batch is {state}){extra}"
        data["collected"] = True
        record.save()


def _store(store, job_id, line, wanted, endpoint, stored, paths, key) -> str | None:
    """Store the answer's images not stored yet; return None, or the line saying what went wrong."""
    request = ImageRequest.from_body(wanted["body"])
    meta = {"run": job_id, "custom_id": line.custom_id, "variables": wanted["variables"]}
    saver = store.saver(request, endpoint, meta=meta)
    saver.meta["count"] = len(line.images)
    body = masked(line.body or {}, key)
    items = [item for item in body.get("data") or () if isinstance(item, dict)]
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    for index, (data, item) in enumerate(zip(line.images, items)):
        if (line.custom_id, index) in stored:
            continue  # stored by an earlier (interrupted or concurrent) collection, or a repeated line
        revised = item.get("revised_prompt") if isinstance(item.get("revised_prompt"), str) else None
        image = GeneratedImage.from_bytes(
            data, index=index, request_id=masked(line.request_id, key), usage=usage, revised_prompt=revised
        )
        try:
            image.format  # noqa: B018 - refuse what is not an image before storing it
        except ImageDataError as exc:
            return str(exc)
        saver(image)
        if index in saver.by_slot:
            stored.add((line.custom_id, index))
    paths += saver.paths
    return saver.failure


def from_history(record: JobRecord, store: HistoryStore, prices: dict | None) -> Sweep:
    """Every request's images (read from the history) or error, in the order submitted."""
    data = record.data
    by_id: dict = {}
    for entry in store.entries(None, run=data["id"]):
        by_id.setdefault(entry.meta.get("custom_id"), {}).setdefault(entry.meta.get("index"), entry)
    runs = []
    for custom_id, wanted in record.requests().items():
        entries = [e for _, e in sorted(by_id.get(custom_id, {}).items())]
        error = data["failures"].get(custom_id)
        images: ImageResult | None = None
        usage: dict = {}
        try:
            if entries:
                images = ImageResult([e.generated() for e in entries], created=entries[0].meta.get("created"))
                usage = entries[0].meta.get("usage") or {}
        except (OSError, ImageMagicError) as exc:
            error = f"the stored images cannot be read: {exc}"
        if images is None and error is None:
            error = "no stored images (pruned from the history?)"
        request = ImageRequest.from_body(wanted["body"])
        spent = 0.0 if data["offline"] else cost(usage, price_for(request.model, prices), batch=True)
        runs.append(
            Run(
                wanted["variables"],
                request,
                files=[entry.path for entry in entries] if images is not None else [],
                usage=usage,
                cost=spent if error is None else None,
                request_ids=list(dict.fromkeys(e.meta.get("request_id") for e in entries if e.meta.get("request_id"))),
                error=BatchError(error) if error is not None else None,
                thumbnails=[thumbnail(pil) for pil in images] if images is not None and error is None else [],
                custom_id=custom_id,
            )
        )
    return Sweep(runs, id=data["id"], offline=data["offline"])


def shortfall(runs: Sweep) -> str | None:
    """The line saying how many images of the answered requests arrived, when some got fewer than their `n`."""
    answered = [run for run in runs if run.error is None]
    short = [run.custom_id for run in answered if len(run.files) < run.request.count]
    if not short:
        return None
    kept, asked = sum(len(run.files) for run in answered), sum(run.request.count for run in answered)
    named = ", ".join(map(str, short[:SHORT_NAMED])) + (", …" if len(short) > SHORT_NAMED else "")
    return (
        f"batch job {runs.id}: {kept} of {asked} images arrived "
        f"({len(short)} of {len(answered)} answered requests got fewer than their n: {named})"
    )
