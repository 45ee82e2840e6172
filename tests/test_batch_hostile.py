"""Batch jobs against a hostile Files/Batch server (helpers.batch_server) and odd local state: every
Batch API rule checked before anything is sent, keys bound to their endpoint and masked, odd answers
as one line, collection idempotent and bounded, identical submissions found again."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.batch_files import output_line, peak_growth
from helpers.batch_server import BatchServer
from helpers.images import image_bytes
from helpers.scripted import trickle
from helpers.warned import said as warned
from PIL import Image

import imagemagic
from imagemagic.batch_preflight import preflight
from imagemagic.batchjob import BatchError, batch, batches, submit_batch
from imagemagic.errors import APITimeoutError, TransportError
from imagemagic.session import Session
from imagemagic.settings import Settings, prepare
from imagemagic.store import history

GATEWAY_KEY = "gw-canary-0123456789abcdef"
OPENAI_KEY = "canary-key-openai-9876543210"
PNG = image_bytes((32, 32), (10, 200, 30))


@pytest.fixture
def server():
    started = []

    def start(*lines, **fields):
        started.append(BatchServer(lines, **fields))
        return started[-1]

    yield start
    for one in started:
        one.close()


def at(url, key=GATEWAY_KEY, **options):
    return Settings(base_url=url, api_key=key, **options)


def submit(url, prompts=("a kite",), **options):
    return submit_batch(list(prompts), size="1024x1024", settings=at(url, **options))


# -- every Batch API rule before anything is uploaded --------------------------------------------------------------


def test_stream_and_partial_images_are_refused_in_one_line_before_anything_is_sent(server):
    srv = server()
    with pytest.raises(imagemagic.ValidationError) as caught:
        submit_batch(["a kite"], stream=True, settings=at(srv.url))
    assert str(caught.value) == (
        "request 1: stream=True cannot be sent in a batch (its answers come whole, later): leave it out"
    )
    with pytest.raises(imagemagic.ValidationError) as caught:
        submit_batch(["a kite", "a boat"], stream=True, partial_images=2, settings=at(srv.url))
    assert str(caught.value).count("partial_images=2 cannot be sent in a batch") == 2
    assert srv.requests == []


def test_preflight_is_a_plain_function_over_plans():
    plans = [prepare("a kite", {"stream": True}, settings=Settings(base_url="http://127.0.0.1:9/v1"))]
    assert [p.param for p in preflight(plans)] == ["stream"]
    assert preflight([prepare("a kite", {}, settings=Settings(base_url="http://127.0.0.1:9/v1"))]) == []


def test_azure_batches_are_refused_in_one_line_before_anything_is_sent(server, monkeypatch):
    srv = server()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", srv.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", GATEWAY_KEY)
    with pytest.raises(imagemagic.ValidationError) as caught:
        submit_batch(["a kite"], size="1024x1024")
    assert str(caught.value) == (
        "Azure OpenAI's Batch API runs chat, responses and embeddings requests, not image generations or edits: "
        "use imagemagic.sweep() for many images on Azure; nothing was sent"
    )
    assert srv.requests == []


def test_an_unusable_history_folder_is_one_line_and_nothing_is_sent(server, tmp_path, monkeypatch):
    srv = server()
    home = tmp_path / "a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(home))
    with pytest.raises(BatchError) as caught:
        submit(srv.url)
    assert str(caught.value) == (
        f"the history folder {home} cannot be used (Not a directory): a batch job is recorded there before "
        "anything is sent; set IMAGEMAGIC_HOME to a folder you can write; nothing was sent"
    )
    assert srv.requests == []


# -- credentials bound to their endpoint ---------------------------------------------------------------------------


def test_listing_never_sends_todays_openai_or_azure_key_to_a_jobs_gateway(server, monkeypatch):
    srv = server(output_line("r1", [PNG]))
    srv.retrieve = lambda b: dict(b, status="in_progress")
    job = submit(srv.url)
    assert srv.authorizations == [f"Bearer {GATEWAY_KEY}"] * 2
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-canary-key-123")
    sent = len(srv.requests)
    [listed] = batches()
    host = srv.url.split("/")[2]
    assert (listed.id, listed.problem) == (job.id, f"needs the key for {host}")
    with pytest.raises(BatchError, match=f"^needs the key for {host}$"):
        batch(job.id).results()
    assert len(srv.requests) == sent  # nothing was sent without the gateway's own key
    [listed] = batches(settings=at(srv.url))  # the gateway's key, given for the gateway
    assert listed.problem is None and listed.state == "in_progress"
    assert srv.authorizations[sent:] == [f"Bearer {GATEWAY_KEY}"]
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)  # OPENAI_API_KEY configured for this gateway now
    [listed] = batches()
    assert listed.problem is None and srv.authorizations[-1] == f"Bearer {OPENAI_KEY}"


# -- odd answers: checked before they are kept ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("odd", "said"),
    [
        (lambda b: dict(b, status="exploded"), "has status 'exploded': not one of validating, in_progress"),
        (lambda b: {k: v for k, v in b.items() if k != "status"}, "has status 'None': not one of"),
        (lambda b: [b], "answered batch batch_hostile1 with a JSON list, not a Batch object"),
        (lambda b: dict(b, id="batch_other"), "answered batch batch_hostile1 with another batch's object"),
        (lambda b: dict(b, request_counts=[1, 2]), "has a request_counts that is not a JSON object"),
        (lambda b: dict(b, usage={"input_tokens": "9"}), "has a usage.input_tokens that is not a number"),
    ],
)
def test_an_odd_batch_object_is_one_line_and_never_stored(server, odd, said):
    srv = server(output_line("r1", [PNG]))
    job = submit(srv.url)
    before = (job.folder / "job.json").read_bytes()
    srv.retrieve = odd
    [listed] = batches(settings=at(srv.url))
    assert said in listed.problem and "\n" not in listed.problem
    assert listed.state == "validating" and (job.folder / "job.json").read_bytes() == before
    with pytest.raises(TransportError):
        batch(job.id, settings=at(srv.url)).status()
    srv.retrieve = lambda b: b
    assert batch(job.id, settings=at(srv.url)).status() == "completed"


def test_a_damaged_record_is_one_line_and_the_other_jobs_are_listed(server):
    srv = server(output_line("r1", [PNG]))
    first, second = submit(srv.url, ["a kite"]), submit(srv.url, ["a boat"])
    record = json.loads((first.folder / "job.json").read_bytes())
    record["parts"][0]["status"] = ["completed"]
    (first.folder / "job.json").write_text(json.dumps(record))
    listed = batches(settings=at(srv.url))
    assert [job.id for job in listed] == [second.id, first.id]
    assert listed[1].line() == (
        f"{first.id}  unreadable: the server's Batch object batch_hostile1 has status \"['completed']\": "
        "not one of validating, in_progress, finalizing, cancelling, completed, failed, expired, cancelled"
    )
    assert listed[0].line().startswith(f"{second.id}  completed 1/1")


def test_odd_output_lines_are_one_line(server):
    body_text = json.dumps(
        {"custom_id": "r1", "response": {"status_code": 200, "request_id": "req_1", "body": "surprise"}}
    )
    srv = server(body_text.encode() + b"\n", output_line("r2", [PNG]))
    job = submit(srv.url, ["a kite", "a boat"])
    runs = job.results()
    assert str(runs[0].error) == "invalid_answer: its body is not what the API answers"
    assert runs[1].error is None and len(runs[1].images) == 1
    srv = server(json.dumps({"custom_id": ["r1"], "response": None}).encode() + b"\n")
    with pytest.raises(TransportError) as caught:
        submit(srv.url).results()
    assert str(caught.value) == "file-out1 of batch batch_hostile1: line 1 of the batch file has no usable custom_id"


def test_fewer_images_than_n_are_said_in_one_line_from_python_and_the_cli(server, clean_env, recwarn):
    srv = server(output_line("r1", [PNG]), output_line("r2", [PNG] * 3), output_line("r3", [PNG] * 2))
    job = submit_batch(["a kite", "a boat", "a cat"], n=3, size="1024x1024", settings=at(srv.url))
    line = f"batch job {job.id}: 6 of 9 images arrived (2 of 3 answered requests got fewer than their n: r1, r3)"
    runs = job.results()
    assert ([len(run.images) for run in runs], warned(recwarn)) == ([1, 3, 2], [line])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(IMAGEMAGIC_HOME=str(clean_env), OPENAI_BASE_URL=srv.url, OPENAI_API_KEY=GATEWAY_KEY)
    cli = [sys.executable, "-m", "imagemagic", "batch", "results", job.id, "--output-dir", str(clean_env / "out")]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode, done.stderr.splitlines()) == (0, [f"warning: {line}"])
    assert len(done.stdout.splitlines()) == 6


def test_ids_from_a_server_are_refused_or_escaped_never_a_path(server):
    srv = server(batch_id="batch_x")
    srv.created = dict(srv.created, id="../files/file-in1")
    with pytest.raises(TransportError, match="^the server's Batch object for a new batch has no usable id$"):
        submit(srv.url)
    assert [path for _, path in srv.requests] == ["/v1/files", "/v1/batches"]


# -- keys echoed back are masked -----------------------------------------------------------------------------------


def test_a_key_echoed_in_batch_answers_is_masked_everywhere(server, clean_env):
    echo = f"invalid key {GATEWAY_KEY} for this project"
    failed = output_line("r2", [], status_code=401, error=echo)
    srv = server(output_line("r1", [PNG]), failed, metadata={"note": echo}, errors={"data": [{"message": echo}]})
    srv.output = srv.output.replace(b'"request_id":"req_r1"', f'"request_id":"req {GATEWAY_KEY}"'.encode())
    job = submit(srv.url, ["a kite", "a boat"])
    runs = job.results()
    assert str(runs[1].error) == "HTTP 401: invalid key *** for this project"
    written = b"".join(p.read_bytes() for p in clean_env.rglob("*") if p.is_file())
    assert GATEWAY_KEY.encode() not in written and b"invalid key ***" in written
    assert GATEWAY_KEY not in repr(job.record) + repr(runs[0].images.images[0].request_id)


# -- collection: idempotent per image, complete, bounded -----------------------------------------------------------


KILLED_AFTER_ONE_IMAGE = """
import os, sys
import imagemagic.store
from imagemagic.batchjob import batch
from imagemagic.settings import Settings
real = imagemagic.store.HistoryStore.save
def save(self, img, meta, stem):
    path = real(self, img, meta, stem)
    os._exit(9)  # killed right after the answer's first image is stored
imagemagic.store.HistoryStore.save = save
batch(sys.argv[1], settings=Settings(base_url=sys.argv[2], api_key=sys.argv[3])).results()
"""


def test_a_kill_between_the_images_of_one_answer_loses_nothing_on_rerun(server):
    pngs = [image_bytes((16, 16), (n * 60, 0, 0)) for n in range(3)]
    srv = server(output_line("r1", pngs))
    job = submit(srv.url)
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_ONE_IMAGE, job.id, srv.url, GATEWAY_KEY], timeout=60)
    assert killed.returncode == 9 and len(history(None, run=job.id)) == 1
    runs = batch(job.id, settings=at(srv.url)).results()
    assert [img.data for img in runs[0].images.images] == pngs
    assert sorted(e.meta["index"] for e in history(None, run=job.id)) == [0, 1, 2]


def test_a_repeated_line_or_a_second_collector_stores_each_image_once(server):
    srv = server(output_line("r1", [PNG]), output_line("r1", [PNG]))
    srv.content = trickle(srv.output, every=0.001, content_type="application/octet-stream")  # both collect at once
    job = submit(srv.url)
    collectors = [threading.Thread(target=batch(job.id, settings=at(srv.url)).results) for _ in range(2)]
    for thread in collectors:
        thread.start()
    for thread in collectors:
        thread.join(60)
    assert len(history(None, run=job.id)) == 1
    assert len(job.results()[0].images) == 1


def test_an_output_line_larger_than_max_answer_mb_is_skipped_in_one_line(server):
    noise = Image.frombytes("RGB", (600, 600), random.Random(5).randbytes(600 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    big = out.getvalue()  # about 1 MiB: noise does not compress
    srv = server(output_line("r1", [big]), output_line("r2", [PNG]))
    job = submit(srv.url, ["a kite", "a boat"], max_answer_mb=0.5)
    runs = job.results()
    assert str(runs[0].error) == "its answer is larger than max_answer_mb=0.5 MiB: not read"
    assert runs[1].error is None


def test_a_download_has_an_overall_deadline(server):
    data = output_line("r1", [PNG])
    srv = server()
    srv.content = trickle(data, every=0.05, content_type="application/octet-stream")
    job = submit(srv.url, timeout=0.5)
    began = time.monotonic()
    with pytest.raises(APITimeoutError) as caught:
        job.results()
    took = time.monotonic() - began
    assert str(caught.value) == (
        "the download of file-out1 from 127.0.0.1 took longer than 0.5 s (timeout): "
        "results() again continues where it stopped"
    )
    assert took < len(data) * 0.05 / 4  # far less than the trickle would take


# -- the identical batch again ------------------------------------------------------------------------------------


def test_resubmitting_the_identical_batch_returns_the_job_force_submits_a_new_one(server):
    srv = server(output_line("r1", [PNG]))
    first = submit(srv.url)
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        again = submit(srv.url)
    assert again.id == first.id
    assert str(said[-1].message) == (
        f"this batch was submitted before as {first.id} (validating): returning that job; "
        "force=True (--force) submits a new one"
    )
    assert [p for _, p in srv.requests] == ["/v1/files", "/v1/batches"]
    forced = submit_batch(["a kite"], size="1024x1024", force=True, settings=at(srv.url))
    assert forced.id != first.id and len(srv.requests) == 4
    other = submit(srv.url, ["a boat"])
    assert other.id not in (first.id, forced.id)


# -- the offline server keeps its batches in the history folder ---------------------------------------------------


def test_an_offline_job_outlives_its_server_and_a_lost_one_says_why(clean_env, monkeypatch):
    monkeypatch.setenv("IMAGEMAGIC_BATCH_DELAY", "0.05")
    first = Session()
    job = submit_batch([f"kite {n}" for n in range(20)], size="256x256", session=first)
    assert job.record["offline"] and job.wait(poll=0.05, timeout=0.3, progress=False) == "in_progress"
    first.close()  # the kernel (and its server) is gone mid-job
    second = Session()
    try:
        again = batch(job.id, session=second)
        assert again.wait(poll=0.05, progress=False) == "completed"
        runs = again.results()
        assert len(runs) == 20 and not runs.failed
        assert sorted(e.meta["custom_id"] for e in history(None, run=job.id)) == [f"r{n:02d}" for n in range(1, 21)]
        lost = submit_batch(["a lost kite"], size="256x256", session=second)
    finally:
        second.close()
    shutil.rmtree(clean_env / "server")
    third = Session()
    try:
        [listed, done] = batches(session=third)
        assert listed.id == lost.id and done.id == job.id
        assert listed.problem == (
            f"the offline server no longer has batch {lost.parts[0]['id']}: its state in {clean_env / 'server'} is gone"
        )
    finally:
        third.close()


SERVER_PROCESS = (
    "import sys, time; from helpers.batch_server import BatchServer; s = BatchServer(); print(s.url, flush=True); "
    "time.sleep(300)"
)


def test_a_batch_of_edits_holds_no_copy_of_the_image_per_row(tmp_path):
    photo = tmp_path / "photo.png"
    Image.frombytes("RGB", (512, 512), random.Random(1).randbytes(512 * 512 * 3)).save(photo)
    tests = str(Path(__file__).parent)
    process = subprocess.Popen([sys.executable, "-c", SERVER_PROCESS], stdout=subprocess.PIPE, text=True, cwd=tests,
                               env={**os.environ, "PYTHONPATH": tests})  # fmt: skip
    try:
        url = process.stdout.readline().strip()  # a server in its own process: its memory is not counted

        def peak(rows):
            settings = at(url)
            return peak_growth(
                lambda: submit_batch("the scene, {k}", k=list(range(rows)), image=photo, settings=settings)
            )

        few, many = peak(4), peak(16)
    finally:
        process.kill()
    assert many < 1.3 * few, (few, many)  # before: 6 copies of the image per row


def _nullable_paths(schema, defs, path=()):
    """Every place the official schema lets an answer hold null: a field typed `anyOf [..., null]`, and
    a field of an object it does not describe (no `additionalProperties: false`); recursively."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    options = schema.get("anyOf", [schema])
    if any(option.get("type") == "null" for option in options):
        yield path
    for option in options:
        if option.get("type") == "object" and "properties" in option:
            if option.get("additionalProperties", True) is not False:
                yield (*path, "not_described_by_the_api")
            for name, sub in option["properties"].items():
                yield from _nullable_paths(sub, defs, (*path, name))
        if option.get("type") == "array":
            yield from _nullable_paths(option["items"], defs, (*path, 0))


def test_every_null_the_official_batch_schema_accepts_is_accepted():
    from helpers.schemas import SCHEMA, schema_errors

    from imagemagic.batch_io import checked_batch

    usage = {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 272}
    full = {
        "id": "batch_1", "object": "batch", "endpoint": "/v1/images/generations", "input_file_id": "file_1",
        "completion_window": "24h", "status": "completed", "created_at": 1, "metadata": {"a": "b"},
        "request_counts": {"total": 1, "completed": 1, "failed": 0},
        "errors": {"object": "list", "data": [{"code": "x", "line": 1, "message": "m", "param": "p"}]},
        "usage": dict(usage, output_tokens_details={"reasoning_tokens": 0}, total_tokens=281),
    }  # fmt: skip
    paths = list(_nullable_paths(SCHEMA["$defs"]["Batch"], SCHEMA["$defs"]))
    assert {("usage", "not_described_by_the_api"), ("metadata",), ("errors", "data", 0, "line")} <= set(paths)
    for path in paths:  # ("usage", "not_described_by_the_api"): LiteLLM's "prompt_tokens_details": null
        answer = json.loads(json.dumps(full))
        place = answer
        for name in path[:-1]:
            place = place[name]
        place[path[-1]] = None
        assert schema_errors(answer, "Batch") == [], path
        assert checked_batch(answer, "batch_1")["id"] == "batch_1", path
