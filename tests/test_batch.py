"""Batch API jobs end to end against the real local server on 127.0.0.1: submit, follow, collect, restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from helpers.batch_files import output_line, parse_file, peak_growth, write_output
from helpers.kernels import kernel
from helpers.schemas import schema_errors

import imagemagic
from imagemagic import batch_io
from imagemagic.batch_io import OutputParser, request_line
from imagemagic.batch_record import write_inputs
from imagemagic.batchjob import BatchError, batch, batches, submit_batch
from imagemagic.server import embedded
from imagemagic.session import Session
from imagemagic.settings import Settings
from imagemagic.store import history

SIZES = ("256x256", "512x256", "256x512", "320x240")


def settings_for(url):
    return Settings(base_url=url)


def sizes_of(run):
    return [(pil.width, pil.height) for pil in run.images]


def test_500_requests_run_end_to_end_and_every_image_matches_its_request(start_server, clean_env):
    url = start_server(batch_delay=0)
    rows = [{"thing": f"kite {n}", "size": SIZES[n % len(SIZES)]} for n in range(500)]
    job = submit_batch("a {thing} over the sea", rows=rows, settings=settings_for(url))

    assert job.wait(poll=0.05, progress=False) == "completed"
    assert job.counts == {"total": 500, "completed": 500, "failed": 0}
    runs = job.results()
    assert [run.variables for run in runs] == rows
    for run, row in zip(runs, rows):
        assert run.error is None
        assert run.request.prompt == f"a {row['thing']} over the sea"
        assert sizes_of(run) == [tuple(int(side) for side in row["size"].split("x"))]
        assert run.usage["output_tokens"] > 0
    stored = history(None, run=job.id)
    assert len(stored) == 500
    by_id = {entry.meta["custom_id"]: entry for entry in stored}
    assert {run.custom_id: run.request.prompt for run in runs} == {k: e.prompt for k, e in by_id.items()}
    assert (clean_env / "batches" / job.id / "job.json").is_file()


def test_results_are_matched_by_custom_id_whatever_the_order(tmp_path):
    images = {f"r{n}": [bytes([n]) * (100 + n)] for n in range(6)}
    data = b"".join(output_line(cid, images[cid]) for cid in ("r4", "r0", "r5", "r2", "r1", "r3"))
    found = []
    parser = OutputParser(found.append)
    for start in range(0, len(data), 7):  # lines split at every odd place
        parser.feed(data[start : start + 7])
    parser.close()
    assert {line.custom_id: line.images for line in found} == images and len(found) == 6


def test_an_escaped_or_unterminated_line_is_still_read():
    found = []
    escaped = output_line("r1", [b"\xff\xd8\xff" * 50]).replace(b"/", b"\\/")
    assert b"\\/" in escaped
    OutputParser(found.append).feed(escaped)
    [line] = found
    assert line.images == [b"\xff\xd8\xff" * 50] and line.body["data"] == [{"b64_json": ""}]
    parser = OutputParser(found.append)
    parser.feed(output_line("r2", [b"abc"]).rstrip(b"\n"))
    assert len(found) == 1
    parser.close()
    assert (found[1].custom_id, found[1].images) == ("r2", [b"abc"])
    with pytest.raises(ValueError, match="^line 1 of the batch file is not a batch output record$"):
        OutputParser(found.append).feed(b'{"no": "custom id"}\n')


def test_parsing_grows_memory_by_at_most_three_times_the_largest_line(tmp_path):
    path = tmp_path / "output.jsonl"
    largest = write_output(path, count=12, size=300_000)
    found = {}
    growth = peak_growth(lambda: found.update(parse_file(path)))
    assert found == {f"r{n}": 300_000 for n in range(12)}
    assert growth <= 3 * largest, (growth, largest)


def test_requests_the_server_refuses_fail_one_by_one(start_server):
    url = start_server(batch_delay=0, models=("house-model",))  # served with the generic limits
    job = submit_batch("a {thing}", rows=[{"thing": "kite"}, {"thing": "moon"}], model="house-model",
                       size=["256x256", "4000x4000"], settings=settings_for(url))  # fmt: skip
    assert job.wait(poll=0.05, progress=False) == "completed"
    runs = job.results()
    assert [(run.variables["size"], run.error is None) for run in runs] == [
        ("256x256", True),
        ("4000x4000", False),
        ("256x256", True),
        ("4000x4000", False),
    ]
    assert str(runs[1].error) == (
        "HTTP 400: size=4000x4000 is larger than this server renders: at most 3840 pixels a side "
        "and 8294400 pixels in all (3840x2160)"
    )
    assert len(runs[1].images) == 0 and len(runs.failed) == 2
    assert isinstance(runs, imagemagic.Sweep) and runs.id == job.id  # the same type a sweep returns
    assert runs.summary().startswith("2 images from 4 requests: 0 from the cache, 2 failed")


def test_results_twice_read_the_history_not_the_server():
    url, server, thread = embedded.start(batch_delay=0)
    try:
        job = submit_batch(["a kite", "a boat"], size="256x256", settings=settings_for(url))
        job.wait(poll=0.05, progress=False)
        first = job.results()
    finally:
        server.should_exit = True
        thread.join(5)
    again = batch(job.id, settings=settings_for(url)).results()  # the server is gone: only the history answers
    assert [r.custom_id for r in again] == [r.custom_id for r in first] == ["r1", "r2"]
    assert [r.images.images[0].data for r in again] == [r.images.images[0].data for r in first]


def test_one_model_per_file_and_the_line_limit_split_a_job(start_server, monkeypatch):
    monkeypatch.setattr(batch_io, "MAX_LINES", 3)
    url = start_server(batch_delay=0)
    job = submit_batch("a {k} kites", rows=[{"k": k} for k in range(5)], model=["gpt-image-2", "gpt-image-1.5"],
                       size="1024x1024", settings=settings_for(url))  # fmt: skip
    assert [(p["metadata"]["model"], p["metadata"]["part"]) for p in job.parts] == [
        ("gpt-image-2", "1/4"),
        ("gpt-image-2", "2/4"),
        ("gpt-image-1.5", "3/4"),
        ("gpt-image-1.5", "4/4"),
    ]
    assert job.wait(poll=0.05, progress=False) == "completed"
    assert [p["request_counts"]["total"] for p in job.parts] == [3, 2, 3, 2]
    runs = job.results()
    assert [(run.request.model, run.variables["k"]) for run in runs] == [
        (model, k) for k in range(5) for model in ("gpt-image-2", "gpt-image-1.5")
    ]
    assert all(run.error is None for run in runs)


class Recording(httpx.AsyncHTTPTransport):
    """A real transport that keeps each request it sends."""

    def __init__(self):
        super().__init__()
        self.sent = []

    async def handle_async_request(self, request):
        await request.aread()
        self.sent.append(request)
        return await super().handle_async_request(request)


def test_what_is_sent_follows_the_official_schemas(start_server):
    url = start_server(batch_delay=0)
    transport = Recording()
    job = submit_batch(
        ["a kite", "a boat"], size="256x256", settings=settings_for(url), session=Session(transport=transport)
    )
    upload, create = transport.sent
    assert (upload.method, upload.url.path, create.method, create.url.path) == (
        "POST",
        "/v1/files",
        "POST",
        "/v1/batches",
    )
    assert b'name="purpose"\r\n\r\nbatch\r\n' in upload.content
    assert schema_errors(json.loads(create.content), "CreateBatchRequest") == []
    [part] = job.parts
    assert schema_errors(part, "Batch") == []
    lines = httpx.get(f"{url}/files/{part['input_file_id']}/content").content.splitlines()
    assert [json.loads(line)["custom_id"] for line in lines] == ["r1", "r2"]
    for line in lines:
        assert schema_errors(json.loads(line), "BatchRequestInput") == []


def test_input_files_keep_within_the_byte_limit_one_model_each(tmp_path, monkeypatch):
    lines = [
        (model, request_line(f"r{n}", {"model": model, "prompt": "x" * 50})) for n, model in enumerate("mkmmmmmmmm")
    ]
    monkeypatch.setattr(batch_io, "MAX_BYTES", 3 * len(lines[0][1]))
    names, _ = write_inputs(tmp_path, iter(lines))
    files = [(model, (tmp_path / name).read_bytes().splitlines(keepends=True)) for model, name in names]
    assert [(model, len(group)) for model, group in files] == [("m", 3), ("m", 3), ("m", 3), ("k", 1)]
    for wanted in "mk":
        assert b"".join(b"".join(group) for model, group in files if model == wanted) == b"".join(
            line for model, line in lines if model == wanted
        )


def test_every_problem_of_every_request_is_listed_and_nothing_is_sent(clean_env):
    with pytest.raises(imagemagic.ValidationError) as caught:
        submit_batch(["a kite", "a boat"], size=["999x999", "1024x1024"], quality="ultra",
                     settings=settings_for("http://127.0.0.1:9/v1"))  # fmt: skip
    ultra = "quality='ultra' is not allowed for gpt-image-2: use low, medium, high, auto"
    odd = "size=999x999 does not fit gpt-image-2: both sides must be divisible by 16 — did you mean 992x992?"
    assert str(caught.value) == (
        f"request 1: {odd}; request 1: {ultra}; request 2: {ultra}; request 3: {odd}; request 3: {ultra}; "
        f"request 4: {ultra}"
    )
    with pytest.raises(imagemagic.ValidationError, match=r"^request 1: n=2 is out of range for dall-e-3: use 1$"):
        submit_batch(["a kite"], model="dall-e-3", n=2, settings=settings_for("http://127.0.0.1:9/v1"))
    assert not (clean_env / "batches").exists()


def test_the_key_is_sent_but_never_written_or_shown(start_server, clean_env):
    key = "canary-key-batch-0123456789"
    url = start_server(batch_delay=0, api_key=key)
    with pytest.raises(imagemagic.AuthenticationError) as refused:
        submit_batch(["a kite"], settings=Settings(base_url=url, api_key="sk-wrong-key-987654321"))
    assert "sk-wrong-key-987654321" not in str(refused.value)
    [unsent] = batches(settings=settings_for(url))
    assert unsent.state == "unsent" and unsent.record["unsent"].startswith("1 of 1 batches not sent: HTTP 401")
    job = submit_batch(["a kite"], size="256x256", settings=Settings(base_url=url, api_key=key))
    assert job.wait(poll=0.05, progress=False) == "completed" and job.results()[0].error is None
    assert key not in repr(job) + str(job._repr_mimebundle_())
    written = [path.read_bytes() for path in clean_env.rglob("*") if path.is_file()]
    assert len(written) > 4 and not any(key.encode() in data for data in written)


def test_cancel_stops_the_job_and_unanswered_requests_say_so(start_server):
    url = start_server(batch_delay=0.2)
    job = submit_batch([f"kite {n}" for n in range(30)], size="256x256", settings=settings_for(url))
    assert job.wait(poll=0.05, timeout=0.6, progress=False) == "in_progress"
    with pytest.raises(BatchError) as early:
        job.results()
    assert str(early.value) == f"batch job {job.id} is in_progress: its results come when it is done (job.wait())"
    job.cancel()
    assert job.wait(poll=0.05, progress=False) == "cancelled"
    runs = job.results()
    done = [run for run in runs if run.error is None]
    assert 0 < len(done) < 30
    assert {str(run.error) for run in runs.failed} == {"no answer in the batch's files (the batch is cancelled)"}


def test_an_unknown_job_is_one_line():
    with pytest.raises(BatchError) as caught:
        batch("imb-nope")
    assert str(caught.value).startswith("no batch job 'imb-nope' in ")
    assert str(caught.value).endswith("batches: imagemagic.batches() lists them")


def test_a_job_shows_one_line_and_a_small_table(start_server):
    url = start_server(batch_delay=0)
    job = submit_batch(["a kite"], size="256x256", settings=settings_for(url))
    job.wait(poll=0.05, progress=False)
    text = repr(job)
    assert text.startswith(f"<BatchJob {job.id}  completed 1/1  $0.0010 at batch price  created ")
    bundle = job._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert "<th>status</th><td>completed</td>" in bundle["text/html"] and "b64" not in bundle["text/html"]
    assert [j.id for j in batches(settings=settings_for(url))] == [job.id]


def test_a_restarted_kernel_finds_the_job_mid_run_and_collects_it(start_server, clean_env):
    url = start_server(batch_delay=0.2)
    with kernel(OPENAI_BASE_URL=url, IMAGEMAGIC_HOME=str(clean_env)) as first:
        job_id = first.output(
            "import imagemagic\n"
            "job = imagemagic.submit_batch('a {k} on a table', rows=[{'k': k} for k in range(30)], size='256x256')\n"
            "print(job.id)"
        ).strip()
        waiting = first.execute("job.wait(poll=0.1)")
        time.sleep(0.5)
        first.manager.interrupt_kernel()
        replies = list(first.messages(waiting))
        said = "".join(c["text"] for t, c in replies if t == "stream" and c["name"] == "stderr")
        assert f"stopped waiting; {job_id} goes on: imagemagic.batch({job_id!r})\n" in said
        assert [c["ename"] for t, c in replies if t == "error"] == ["KeyboardInterrupt"]  # "Run All" stops here
    with kernel(OPENAI_BASE_URL=url, IMAGEMAGIC_HOME=str(clean_env)) as second:
        found = second.output("import imagemagic\n[job] = imagemagic.batches()\nprint(job.id, job.state)")
        assert found.split()[0] == job_id and found.split()[1] in ("validating", "in_progress")
        done = second.output(
            "print(job.wait(poll=0.1, progress=False))\n"
            "runs = job.results()\n"
            "print(len(runs), sum(len(r.images) for r in runs if r.images), len(runs.failed))"
        )
    assert done.split() == ["completed", "30", "30", "0"]
    assert len(history(None, run=job_id)) == 30


def test_the_magic_lists_jobs(ip, capsys, server_url):
    ip.run_line_magic("imagegen_batch", "")
    assert capsys.readouterr().out == "no batch jobs yet\n"
    job = submit_batch(["a kite"], size="256x256")
    job.wait(poll=0.05, progress=False)
    ip.run_line_magic("imagegen_batch", "")
    assert capsys.readouterr().out == job.line() + "\n"


def _cli(*args, home, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "imagemagic", "batch", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**env, "IMAGEMAGIC_HOME": str(home)})  # fmt: skip


def test_cli_submit_wait_results_list(start_server, tmp_path, clean_env):
    url = start_server(batch_delay=0)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite\n\na blue boat\n")
    submitted = _cli("submit", str(prompts), "--size", "256x256", "--base-url", url, home=clean_env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[0]
    assert submitted.stdout.startswith(f"{job_id}  validating 0/0  ")
    waited = _cli("wait", job_id, "--poll", "0.05", home=clean_env)
    assert waited.returncode == 0 and waited.stdout.startswith(f"{job_id}  completed 2/2  $0.0020 at batch price")
    got = _cli("results", job_id, "--output-dir", str(tmp_path / "out"), home=clean_env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == [str(tmp_path / "out" / f"{job_id}-r{n}-1.png") for n in (1, 2)]
    listed = _cli("list", home=clean_env)
    assert listed.returncode == 0 and listed.stdout.startswith(f"{job_id}  completed 2/2")


def test_cli_wait_stops_on_ctrl_c_below_its_bar_and_exits_130(start_server, tmp_path, clean_env):
    """Before: the line was printed inside the bar (which then drew its last state after it), and exit was 0."""
    import signal

    url = start_server(batch_delay=0.5)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a kite {n}\n" for n in range(20)))
    job_id = _cli("submit", str(prompts), "--size", "256x256", "--base-url", url, home=clean_env).stdout.split()[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    proc = subprocess.Popen([sys.executable, "-m", "imagemagic", "batch", "wait", job_id, "--poll", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**env, "IMAGEMAGIC_HOME": str(clean_env)})  # fmt: skip
    first = proc.stderr.read(1)  # the bar is drawn: the wait has begun
    time.sleep(0.5)  # well inside the polling loop (the job takes 10 s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert (first + err).endswith(f"]\nstopped waiting; {job_id} goes on: imagemagic.batch({job_id!r})\n")
    assert out.startswith(f"{job_id}  ") and out.count("\n") == 1


def test_cli_bad_input_exits_2_with_one_line(tmp_path, clean_env):
    unknown = _cli("status", "imb-nope", home=clean_env)
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == (
        f"imagemagic: error: no batch job 'imb-nope' in {clean_env / 'batches'}: `imagemagic batch list` lists them\n"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    done = _cli("submit", str(empty), home=clean_env)
    assert (done.returncode, done.stderr) == (
        2,
        f"imagemagic: error: {empty} has no prompts (one per line); nothing was sent\n",
    )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a kite\n")
    local = _cli("submit", str(prompts), home=clean_env)
    assert (local.returncode, local.stderr) == (
        2,
        "imagemagic: error: a batch needs a server that outlives this command: run `imagemagic serve` and pass "
        "--base-url http://127.0.0.1:8000/v1, or set OPENAI_API_KEY; nothing was sent\n",
    )
    bad = _cli("submit", str(prompts), "--quality", "ultra", "--base-url", "http://127.0.0.1:9/v1", home=clean_env)
    assert (bad.returncode, bad.stderr) == (
        2,
        "imagemagic: error: request 1: quality='ultra' is not allowed for gpt-image-2: use low, medium, high, auto\n",
    )
    assert not (clean_env / "batches").exists()


def test_submit_help_offers_only_what_a_batch_takes(clean_env):
    shown = _cli("submit", "--help", home=clean_env)
    assert shown.returncode == 0 and "--quality" in shown.stdout and "--force" in shown.stdout
    assert "--stream" not in shown.stdout and "--partial-images" not in shown.stdout


def test_a_batch_of_edits_goes_in_the_json_edit_form_and_comes_back_matched(start_server, clean_env):
    from helpers.images import image_bytes

    url = start_server(batch_delay=0)
    photo = image_bytes((1024, 1024), (30, 90, 160))
    job = submit_batch("the same scene, {season}", season=["winter", "summer"], image=photo, settings=settings_for(url))
    assert job.wait(poll=0.05, progress=False) == "completed"
    uploaded = job.session.run_sync(_input_lines(url, job))
    assert [line["url"] for line in uploaded] == ["/v1/images/edits"] * 2
    for line in uploaded:
        assert schema_errors(line, "BatchRequestInput") == []
        assert line["body"]["images"][0]["image_url"].startswith("data:image/png;base64,")
    runs = job.results()
    assert [run.request.prompt for run in runs] == ["the same scene, winter", "the same scene, summer"]
    assert [run.error for run in runs] == [None, None] and [sizes_of(run) for run in runs] == [[(1024, 1024)]] * 2


async def _input_lines(url, job):
    """The JSON lines of the job's uploaded input file, read back from the server's Files API."""
    async with httpx.AsyncClient() as client:
        part = job.parts[0]
        batch_object = (await client.get(f"{url}/batches/{part['id']}")).json()
        content = await client.get(f"{url}/files/{batch_object['input_file_id']}/content")
    return [json.loads(line) for line in content.text.splitlines() if line.strip()]
