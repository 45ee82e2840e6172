"""The local server against web pages: a page can send a text/plain or form POST without asking (CSRF),
and a page whose name resolves to 127.0.0.1 (DNS rebinding) can read what it answers. Each is refused over
real HTTP with nothing done (no image rendered, no file kept); the session's embedded server takes only
its own secret key, which is never shown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest
from helpers.schemas import schema_errors

import imagemagic
from imagemagic.session import Session
from imagemagic.settings import Settings
from imagemagic.store import default_home

EVIL = "https://evil.example"
JSON_BODY = json.dumps({"prompt": "a kite", "model": "gpt-image-2", "size": "256x256"})


@pytest.fixture
def served(start_server, tmp_path):
    """(base URL, port, batch folder) of a fresh local server keeping its files in a temporary folder."""
    folder = tmp_path / "server"
    url = start_server(batch_folder=folder)
    return url, url.rsplit(":", 1)[1].split("/")[0], folder


def _error(resp):
    body = resp.json()
    assert schema_errors(body, "ErrorResponse") == []
    assert "access-control-allow-origin" not in resp.headers
    return resp.status_code, body["error"]["code"], body["error"]["message"]


def _takes(path, got, takes="application/json", method="POST"):
    return (415, "unsupported_content_type", f"Unsupported Content-Type {got!r} for {method} {path}: it takes {takes}.")


def _host_line(host, port):
    return (
        403,
        "host_not_allowed",
        f"Host {host!r} is not allowed: this server answers to 127.0.0.1, localhost or [::1] at port {port} "
        "(imagemagic serve --allow-host NAME adds a name).",
    )


ORIGIN_LINE = "is not allowed: this server answers programs on this machine, not web pages from elsewhere."
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PLAIN = {"Content-Type": "text/plain;charset=UTF-8"}
MULTIPART_PROMPT = {"files": {"prompt": (None, "a kite")}}


@pytest.mark.parametrize(
    ("method", "path", "options", "expected"),
    [
        ("POST", "/images/generations", {"content": JSON_BODY, "headers": PLAIN},
         _takes("/v1/images/generations", "text/plain;charset=UTF-8")),
        ("POST", "/images/generations", {"content": "prompt=a+kite", "headers": FORM},
         _takes("/v1/images/generations", "application/x-www-form-urlencoded")),
        ("POST", "/images/generations", MULTIPART_PROMPT, "multipart"),
        ("POST", "/responses", MULTIPART_PROMPT, "multipart"),
        ("POST", "/batches", {"content": "{}", "headers": PLAIN}, _takes("/v1/batches", "text/plain;charset=UTF-8")),
        ("POST", "/images/edits", {"content": JSON_BODY, "headers": PLAIN},
         _takes("/v1/images/edits", "text/plain;charset=UTF-8", "multipart/form-data or application/json")),
        ("POST", "/files", {"content": "purpose=batch", "headers": FORM},
         _takes("/v1/files", "application/x-www-form-urlencoded", "multipart/form-data")),
        ("POST", "/images/generations", {"content": JSON_BODY, "headers": {"Content-Type": "application/json",
                                                                             "Origin": EVIL}},
         (403, "origin_not_allowed", f"Origin {EVIL!r} {ORIGIN_LINE}")),
        ("POST", "/images/generations", {"content": JSON_BODY, "headers": {**PLAIN, "Origin": "null"}},
         (403, "origin_not_allowed", f"Origin 'null' {ORIGIN_LINE}")),
        ("OPTIONS", "/images/generations", {"headers": {"Origin": EVIL, "Access-Control-Request-Method": "POST"}},
         (403, "origin_not_allowed", f"Origin {EVIL!r} {ORIGIN_LINE}")),
        ("GET", "/files", {"headers": {"Host": "evil.example:{port}"}}, "host"),
        ("GET", "/models", {"headers": {"Host": "evil.example"}}, "host"),
        ("POST", "/images/generations", {"content": JSON_BODY, "headers": {"Content-Type": "application/json",
                                                                             "Host": "evil.example:{port}"}}, "host"),
        ("POST", "/images/generations", {"content": JSON_BODY, "headers": {"Content-Type": "application/json",
                                                                             "Host": "127.0.0.1:1"}}, "host"),
    ],
)  # fmt: skip
def test_a_web_page_cannot_drive_the_local_server(served, rendered, method, path, options, expected):
    url, port, folder = served
    httpx.post(f"{url}/files", files={"file": ("in.jsonl", b"{}\n")}, data={"purpose": "batch"})  # another client's
    kept = sorted(folder.rglob("*"))
    headers = {k: v.format(port=port) for k, v in options.get("headers", {}).items()}
    resp = httpx.request(method, f"{url}{path}", **{**options, "headers": headers}, timeout=30)
    if expected == "multipart":
        got = resp.request.headers["content-type"]
        expected = _takes(f"/v1{path}", got)
    elif expected == "host":
        expected = _host_line(headers["Host"], port)
    assert _error(resp) == expected
    assert "file-" not in resp.text
    assert (rendered, sorted(folder.rglob("*"))) == ([], kept)


def test_this_machines_names_and_allowed_names_still_work(start_server, rendered):
    url = start_server(allow_hosts=("studio.lan",))
    port = url.rsplit(":", 1)[1].split("/")[0]
    body = {"prompt": "a kite", "size": "256x256"}
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"127.0.0.2:{port}", f"[::1]:{port}", "studio.lan:443"):
        resp = httpx.post(f"{url}/images/generations", json=body, headers={"Host": host}, timeout=30)
        assert resp.status_code == 200, host
    local_page = {"Origin": "http://localhost:3000"}
    assert httpx.post(f"{url}/images/generations", json=body, headers=local_page, timeout=30).status_code == 200
    cancel = httpx.post(f"{url}/batches/batch_nope/cancel")  # no body, no content type: as our client cancels
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (404, "not_found")
    assert len(rendered) == 6


def test_the_embedded_server_takes_only_its_sessions_secret_key(rendered, capsys, recwarn):
    session = Session()
    try:
        result = imagemagic.generate("a kite", size="256x256", settings=Settings(offline=True), session=session)
        assert len(rendered) == 1
        url, key = session.local_server_url()[0], session._server_key
        assert len(key) >= 40
        for auth in ({}, {"Authorization": "Bearer guessed-key"}, {"Authorization": "Basic a2V5"}):
            resp = httpx.post(f"{url}/images/generations", json={"prompt": "a kite"}, headers=auth, timeout=30)
            assert _error(resp) == (401, "invalid_api_key", "Incorrect API key provided.")
        assert httpx.get(f"{url}/files").status_code == 401
        assert len(rendered) == 1
        with pytest.raises(imagemagic.NotFoundError) as caught:  # a server echoing the key back: masked
            imagemagic.generate("a kite", model=f"ghost-{key}", settings=Settings(offline=True), session=session)
        job = imagemagic.submit_batch(["a kite"], size="256x256", settings=Settings(offline=True), session=session)
        assert job.wait(poll=0.05, timeout=60, progress=False) == "completed"
        shown = [
            repr(session), repr(session.ledger), repr(result), repr(result[0]), str(caught.value), repr(job),
            *capsys.readouterr(), *(str(w.message) for w in recwarn),
        ]  # fmt: skip
        assert "ghost-***" in str(caught.value)
        assert [text for text in shown if key in text] == []
        home = default_home()
        assert [p for p in home.rglob("*") if p.is_file() and key.encode() in p.read_bytes()] == []
    finally:
        session.close()


def test_imagemagic_serve_takes_any_key_allowed_hosts_and_the_models_it_is_given():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["serve", "--port", str(port), "--allow-host", "studio.lan", "--model", "house-model"]
    proc = subprocess.Popen([sys.executable, "-m", "imagemagic", *command], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                models = httpx.get(f"{url}/models", headers={"Authorization": "Bearer whatever-key"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert "house-model" in {m["id"] for m in models.json()["data"]}
        body = {"prompt": "a kite", "model": "house-model", "size": "64x64"}
        assert httpx.post(f"{url}/images/generations", json=body, headers={"Host": "studio.lan"}).status_code == 200
        assert _error(httpx.get(f"{url}/files", headers={"Host": f"evil.example:{port}"})) == (
            403,
            "host_not_allowed",
            f"Host 'evil.example:{port}' is not allowed: this server answers to 127.0.0.1, localhost or [::1] at "
            f"port {port}, or studio.lan at any port (imagemagic serve --allow-host NAME adds a name).",
        )
    finally:
        proc.terminate()
        proc.wait(10)
