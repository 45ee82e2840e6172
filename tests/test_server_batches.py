"""The local server's Files and Batch APIs, driven by the official `openai` SDK over real HTTP on 127.0.0.1.

Every object is checked against the official schemas as the raw JSON the server sent.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest
from helpers.schemas import schema_errors
from PIL import Image

from imagemagic.server import batches, embedded

GENERATIONS = "/v1/images/generations"
DONE = ("completed", "failed", "cancelled", "expired")
EXPIRED = "This request could not be executed before the completion window expired."


def line(custom_id, url=GENERATIONS, method="POST", **body):
    """One input line of a batch file, for gpt-image-2 unless the body says otherwise."""
    return json.dumps({"custom_id": custom_id, "method": method, "url": url, "body": {"model": "gpt-image-2", **body}})


def jsonl(*lines):
    return ("\n".join(lines) + "\n").encode()


def valid(raw_response, definition):
    """The SDK's parsed object of a raw response, once its JSON is checked against the official schema."""
    assert schema_errors(json.loads(raw_response.text), definition) == []
    return raw_response.parse()


def upload(client, data, name="requests.jsonl"):
    return valid(client.files.with_raw_response.create(file=(name, data), purpose="batch"), "OpenAIFile")


def submit(client, data, **options):
    """Upload `data` and start a batch of image generations over it; return the new batch."""
    source = upload(client, data)
    created = client.batches.with_raw_response.create(
        input_file_id=source.id, endpoint=GENERATIONS, completion_window="24h", **options
    )
    return valid(created, "Batch")


def wait(client, batch_id, until=lambda batch: batch.status in DONE, timeout=60):
    """Poll as a client does, checking every answer against the schema, until `until(batch)`."""
    deadline = time.monotonic() + timeout
    while True:
        batch = valid(client.batches.with_raw_response.retrieve(batch_id), "Batch")
        if until(batch):
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.02)


def records(client, file_id):
    """The lines of an output or error file, each checked against the official BatchRequestOutput schema."""
    found = [json.loads(text) for text in client.files.content(file_id).text.splitlines()]
    for record in found:
        assert schema_errors(record, "BatchRequestOutput") == []
    return found


def image_sizes(body):
    return [Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))).size for item in body["data"]]


@pytest.fixture
def client(start_server):
    """The official SDK against a fresh local server."""
    return openai.OpenAI(base_url=start_server(), api_key="test-endpoint-key-batches", max_retries=0)


def test_sdk_round_trip_images_matched_by_custom_id(client):
    wanted = {"kite": "256x256", "wide": "512x256", "tall": "256x512", "sea": "320x240", "big": "1024x1024"}
    good = [line(name, prompt=f"a {name} at dawn", size=size) for name, size in wanted.items()]
    pair = line("pair", prompt="two boats", size="256x256", n=2)
    bad_body = {"model": "gpt-image-2", "prompt": "an odd size", "size": "999x999"}
    data = jsonl(*good, pair, json.dumps({"custom_id": "bad", "method": "POST", "url": GENERATIONS, "body": bad_body}))
    source = upload(client, data)
    assert (source.bytes, source.purpose, source.filename, source.status) == (
        len(data),
        "batch",
        "requests.jsonl",
        "processed",
    )
    assert client.files.content(source.id).content == data

    created = client.batches.create(
        input_file_id=source.id, endpoint=GENERATIONS, completion_window="24h", metadata={"job": "round trip"}
    )
    assert (created.status, created.metadata) == ("validating", {"job": "round trip"})
    batch = wait(client, created.id)

    assert batch.status == "completed" and batch.model == "gpt-image-2"
    assert batch.request_counts.model_dump() == {"total": 7, "completed": 6, "failed": 1}
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    assert batch.usage.output_tokens > 0
    output = valid(client.files.with_raw_response.retrieve(batch.output_file_id), "OpenAIFile")
    assert output.purpose == "batch_output"
    lines = records(client, batch.output_file_id)
    assert [r["custom_id"] for r in lines] != [*wanted, "pair"]  # shuffled on purpose: clients match by custom_id
    by_id = {r["custom_id"]: r["response"] for r in lines}
    assert set(by_id) == {*wanted, "pair"}
    for name, size in wanted.items():
        assert by_id[name]["status_code"] == 200
        lagging = ("size: ",)  # the schema's size enum predates gpt-image-2's free sizes
        assert [e for e in schema_errors(by_id[name]["body"], "ImagesResponse") if not e.startswith(lagging)] == []
        assert image_sizes(by_id[name]["body"]) == [tuple(int(side) for side in size.split("x"))]
    assert image_sizes(by_id["pair"]["body"]) == [(256, 256), (256, 256)]

    [failure] = records(client, batch.error_file_id)
    direct = httpx.post(f"{client.base_url}images/generations", json=bad_body)
    assert failure["custom_id"] == "bad" and failure["error"] is None
    assert (failure["response"]["status_code"], failure["response"]["body"]) == (400, direct.json())


def test_invalid_input_file_fails_with_the_errors_the_api_lists(client):
    data = jsonl(
        line("a", prompt="fine"),
        "not json",
        line("a", prompt="again"),
        line("b", url="/v1/images/edits", prompt="elsewhere"),
        line("c", prompt="other model", model="gpt-image-1.5"),
        line("d", method="GET", prompt="wrong method"),
        json.dumps({"custom_id": "e", "method": "POST", "url": GENERATIONS}),
        "",
    )
    batch = wait(client, submit(client, data).id)
    assert batch.status == "failed" and batch.failed_at >= batch.created_at
    assert batch.output_file_id is None and batch.error_file_id is None
    mismatch = "The line's url '/v1/images/edits' differs from the batch endpoint '/v1/images/generations'."
    assert [e.model_dump() for e in batch.errors.data] == [
        {
            "code": "invalid_json_line",
            "line": 2,
            "param": None,
            "message": "This line is not parseable as a JSON object.",
        },
        {
            "code": "duplicate_custom_id",
            "line": 3,
            "param": "custom_id",
            "message": "The custom_id 'a' is used by an earlier line.",
        },
        {"code": "url_mismatch", "line": 4, "param": "url", "message": mismatch},
        {
            "code": "model_mismatch",
            "line": 5,
            "param": "body.model",
            "message": "This line's model differs from the first line's: a batch takes one model.",
        },
        {"code": "invalid_value", "line": 6, "param": "method", "message": "'method' must be 'POST'."},
        {
            "code": "missing_required_parameter",
            "line": 7,
            "param": "body",
            "message": "Missing required parameter: 'body'.",
        },
    ]
    empty = wait(client, submit(client, b"\n").id)
    assert [(e.code, e.line, e.message) for e in empty.errors.data] == [
        ("empty_file", None, "The input file has no requests.")
    ]


def test_an_edits_line_without_images_fails_as_the_api_does(client):
    source = upload(client, jsonl(line("e1", url="/v1/images/edits", prompt="add a hat", images=[])))
    batch = wait(
        client, client.batches.create(input_file_id=source.id, endpoint="/v1/images/edits", completion_window="24h").id
    )
    assert batch.status == "completed" and batch.request_counts.failed == 1 and batch.output_file_id is None
    [record] = records(client, batch.error_file_id)
    assert record["response"]["status_code"] == 400
    assert record["response"]["body"]["error"]["message"] == (
        "an edit needs at least one input image: give image= (or --image NAME)"
    )


def test_create_refusals_are_api_errors(client):
    url = f"{client.base_url}batches"
    source = upload(client, jsonl(line("a", prompt="x")))
    cases = [
        ({"endpoint": GENERATIONS, "completion_window": "24h"}, 400, "Missing required parameter: 'input_file_id'."),
        (
            {"input_file_id": source.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            400,
            "Invalid 'endpoint': this server runs batches of /v1/images/generations or /v1/images/edits.",
        ),
        (
            {"input_file_id": source.id, "endpoint": GENERATIONS, "completion_window": "1h"},
            400,
            "Invalid 'completion_window': only '24h' is supported.",
        ),
        (
            {"input_file_id": source.id, "endpoint": GENERATIONS, "completion_window": "24h", "metadata": {"k": 1}},
            400,
            "Invalid 'metadata': at most 16 keys of up to 64 characters, with string values of up to 512.",
        ),
        (
            {"input_file_id": "file-nope", "endpoint": GENERATIONS, "completion_window": "24h"},
            404,
            "No such File object: file-nope",
        ),
    ]
    for body, status, message in cases:
        answer = httpx.post(url, json=body)
        assert (answer.status_code, answer.json()["error"]["message"]) == (status, message)
        assert schema_errors(answer.json(), "ErrorResponse") == []
    done = wait(
        client, client.batches.create(input_file_id=source.id, endpoint=GENERATIONS, completion_window="24h").id
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(input_file_id=done.output_file_id, endpoint=GENERATIONS, completion_window="24h")
    assert refused.value.body["message"] == (
        f"Invalid 'input_file_id': {done.output_file_id} has purpose 'batch_output', not 'batch'."
    )
    with pytest.raises(openai.BadRequestError) as late:
        client.batches.cancel(done.id)
    assert late.value.body["message"] == "Cannot cancel a batch with status 'completed'."
    with pytest.raises(openai.NotFoundError) as missing:
        client.batches.retrieve("batch_nope")
    assert missing.value.body["message"] == "No batch found with id 'batch_nope'."


def test_cancel_stops_between_requests_and_keeps_what_was_done(start_server):
    client = openai.OpenAI(base_url=start_server(batch_delay=0.05), api_key="k", max_retries=0)
    batch = submit(client, jsonl(*(line(f"r{i}", prompt=f"kite {i}", size="256x256") for i in range(100))))
    wait(client, batch.id, until=lambda b: b.request_counts.completed >= 2)
    cancelling = valid(client.batches.with_raw_response.cancel(batch.id), "Batch")
    assert cancelling.status == "cancelling" and cancelling.cancelling_at >= batch.created_at
    cancelled = wait(client, batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at >= cancelled.cancelling_at
    counts = cancelled.request_counts
    assert counts.total == 100 and 2 <= counts.completed < 100 and counts.failed == 0
    assert len(records(client, cancelled.output_file_id)) == counts.completed
    assert client.batches.cancel(batch.id).status == "cancelled"  # cancelling twice is harmless


def test_lists_page_as_the_sdk_expects(client):
    made = [submit(client, jsonl(line("only", prompt=f"boat {i}", size="256x256"))).id for i in range(3)]
    first = valid(client.batches.with_raw_response.list(limit=2), "ListBatchesResponse")
    assert [b.id for b in first.data] == made[:0:-1] and first.has_more
    assert (first.first_id, first.last_id) == (made[2], made[1])
    second = valid(client.batches.with_raw_response.list(limit=2, after=first.last_id), "ListBatchesResponse")
    assert [b.id for b in second.data] == [made[0]] and not second.has_more
    assert [b.id for b in client.batches.list(limit=2)] == made[::-1]  # the SDK's auto-paging follows after=
    for query, message in (
        ({"limit": 0}, "Invalid 'limit': an integer from 1 to 100."),
        ({"after": "batch_nope"}, "Invalid 'after': no object with id 'batch_nope'."),
    ):
        answer = httpx.get(f"{client.base_url}batches", params=query)
        assert (answer.status_code, answer.json()["error"]["message"]) == (400, message)

    inputs = [f.id for f in client.files.list(purpose="batch")]
    assert len(inputs) == 3 and inputs == [f.id for f in client.files.list(purpose="batch", order="asc")][::-1]
    deleted = client.files.with_raw_response.delete(inputs[0])
    assert json.loads(deleted.text) == {"id": inputs[0], "object": "file", "deleted": True}
    with pytest.raises(openai.NotFoundError) as gone:
        client.files.content(inputs[0])
    assert gone.value.status_code == 404
    assert [f.id for f in client.files.list(purpose="batch")] == inputs[1:]


def test_files_have_a_total_disk_cap(start_server, monkeypatch):
    monkeypatch.setattr(batches, "MAX_STORED", 5000, raising=False)  # raising=False: absent before the cap
    url = f"{start_server()}/files"

    def upload(size):
        return httpx.post(url, files={"file": ("a.jsonl", b"x" * size)}, data={"purpose": "batch"})

    assert upload(3000).status_code == 200
    refused = upload(3000)
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        413,
        "File storage is full: 2000 of 5000 bytes left; delete files (DELETE /v1/files/{file_id}) first.",
    )
    assert [f["bytes"] for f in httpx.get(url).json()["data"]] == [3000]


def test_a_slow_upload_is_answered_408_once_it_falls_behind(start_server):
    host, port = start_server(idle_timeout=0.5).split("/")[2].split(":")
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 100000\r\n\r\n--b\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        began, answer = time.monotonic(), b""
        for _ in range(600):  # one byte every 0.05 s: 100000 bytes would take 5000 s
            try:
                sock.sendall(b"x")
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not answer or b"\r\n\r\n" in answer:
                break
        took = time.monotonic() - began
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"The upload fell behind 262144 bytes per second after the first 0.5 seconds." in answer
    assert took < 600 * 0.05 / 4  # answered long before the trickle would have ended


def test_uploads_are_bounded_and_refused_with_one_line(client, monkeypatch):
    url = f"{client.base_url}files"
    monkeypatch.setattr(batches, "MAX_UPLOAD", 1000)
    too_large = "File too large: the limit is 1000 bytes."
    for content in (b"x" * 5000, b"x" * 100_000):  # judged after the upload, and from Content-Length before it
        answer = httpx.post(url, files={"file": ("big.jsonl", content)}, data={"purpose": "batch"})
        assert (answer.status_code, answer.json()["error"]["message"]) == (413, too_large)

    def chunks():  # no Content-Length: the server stops reading past the bound
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1000

    answer = httpx.post(url, content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert (answer.status_code, answer.json()["error"]["message"]) == (413, too_large)
    answer = httpx.post(url, files={"file": ("a.jsonl", b"{}")}, data={"purpose": "fine-tune"})
    assert answer.json()["error"]["message"] == (
        "Invalid value for 'purpose': this server keeps files for the Batch API only ('batch')."
    )
    answer = httpx.post(url, files={"purpose": (None, "batch")})  # multipart, without the file
    assert (answer.status_code, answer.json()["error"]["message"]) == (400, "Missing required parameter: 'file'.")
    assert client.files.list().data == []


def test_every_route_needs_the_key_when_one_is_set(start_server):
    key = "test-endpoint-key-batch-guard"
    url = start_server(api_key=key)
    routes = [
        ("POST", "/files"),
        ("GET", "/files"),
        ("GET", "/files/file-x"),
        ("DELETE", "/files/file-x"),
        ("GET", "/files/file-x/content"),
        ("POST", "/batches"),
        ("GET", "/batches"),
        ("GET", "/batches/batch_x"),
        ("POST", "/batches/batch_x/cancel"),
    ]
    for method, path in routes:
        answer = httpx.request(method, url + path, headers={"Authorization": "Bearer wrong"})
        assert (answer.status_code, answer.json()["error"]["message"]) == (401, "Incorrect API key provided.")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="test-endpoint-key-other", max_retries=0).files.list()
    keyed = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
    batch = wait(keyed, submit(keyed, jsonl(line("k", prompt="a locked kite", size="256x256"))).id)
    assert batch.status == "completed" and key not in keyed.files.content(batch.output_file_id).text


def test_expired_requests_go_to_the_error_file(start_server, monkeypatch):
    monkeypatch.setattr(batches, "COMPLETION_WINDOW", 1)
    client = openai.OpenAI(base_url=start_server(batch_delay=0.2), api_key="k", max_retries=0)
    batch = wait(client, submit(client, jsonl(*(line(f"r{i}", prompt="dusk", size="256x256") for i in range(20)))).id)
    assert batch.status == "expired" and batch.expired_at >= batch.expires_at
    counts = batch.request_counts
    assert counts.completed < 20 and counts.completed + counts.failed == 20
    expired = records(client, batch.error_file_id)
    assert len(expired) == counts.failed
    assert {(r["response"], json.dumps(r["error"])) for r in expired} == {
        (None, json.dumps({"code": "batch_expired", "message": EXPIRED}))
    }


def test_five_hundred_requests_end_to_end(client, capsys):
    data = jsonl(*(line(f"req-{i:03}", prompt=f"kite number {i}", size="256x256") for i in range(500)))
    started = time.perf_counter()
    batch = wait(client, submit(client, data).id, timeout=300)
    elapsed = time.perf_counter() - started
    assert batch.status == "completed" and batch.request_counts.completed == 500
    lines = records(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in lines) == [f"req-{i:03}" for i in range(500)]
    assert {size for r in lines for size in image_sizes(r["response"]["body"])} == {(256, 256)}
    size = client.files.retrieve(batch.output_file_id).bytes
    with capsys.disabled():
        print(f"\n500-request batch: {elapsed:.1f} s from upload to completed, output file {size / 1e6:.1f} MB")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_paces_batches_by_flag_or_environment(how):
    port = _free_port()
    command = [sys.executable, "-m", "imagemagic", "serve", "--port", str(port)]
    env = {**os.environ, batches.DELAY_ENV: "0.3"} if how == "environment" else os.environ
    server = subprocess.Popen(command + (["--batch-delay", "0.3"] if how == "flag" else []), env=env)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.05)
        batch = submit(client, jsonl(*(line(f"r{i}", prompt="slow", size="256x256") for i in range(3))))
        midway = wait(client, batch.id, until=lambda b: b.request_counts.completed == 1 or b.status in DONE)
        assert (midway.status, midway.request_counts.completed) == ("in_progress", 1)
        assert wait(client, batch.id).status == "completed"
    finally:
        server.terminate()
        server.wait(10)


def test_two_servers_on_one_folder_share_batches_and_the_survivor_finishes_them(tmp_path):
    lines = [json.dumps({"custom_id": f"r{n}", "method": "POST", "url": GENERATIONS,
                         "body": {"prompt": f"kite {n}", "size": "256x256"}}) for n in range(12)]  # fmt: skip
    first_url, first, first_thread = embedded.start(batch_folder=tmp_path, batch_delay=0.1)
    second_url, second, second_thread = embedded.start(batch_folder=tmp_path, batch_delay=0)
    try:
        uploaded = httpx.post(f"{first_url}/files", files={"file": ("in.jsonl", "\n".join(lines).encode())},
                              data={"purpose": "batch"}).json()  # fmt: skip
        body = {"input_file_id": uploaded["id"], "endpoint": GENERATIONS, "completion_window": "24h"}
        made = httpx.post(f"{first_url}/batches", json=body).json()
        time.sleep(0.3)
        seen = httpx.get(f"{second_url}/batches/{made['id']}").json()  # written by the first, read by the second
        assert seen["status"] == "in_progress" and 0 < seen["request_counts"]["completed"] < 12
        first.should_exit = True
        first_thread.join(5)
        for _ in range(200):
            done = httpx.get(f"{second_url}/batches/{made['id']}").json()
            if done["status"] == "completed":
                break
            time.sleep(0.05)
        assert done["status"] == "completed" and done["request_counts"] == {"total": 12, "completed": 12, "failed": 0}
        output = httpx.get(f"{second_url}/files/{done['output_file_id']}/content").content.splitlines()
        assert sorted(json.loads(line)["custom_id"] for line in output) == sorted(f"r{n}" for n in range(12))
    finally:
        for server, thread in ((first, first_thread), (second, second_thread)):
            server.should_exit = True
            thread.join(5)
