"""The local server under abuse and load: body and prompt limits, loopback by default with a warning
elsewhere, an optional required key, and 200 concurrent requests on loopback all answered."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from imagemagic.errors import APIError
from imagemagic.server.shared import MAX_BODY

KEY = "canary-key-0123456789abcdefABCDEF"


def _post(url, **kwargs):
    return httpx.post(f"{url}/images/generations", timeout=30, **kwargs)


def _error(resp):
    return resp.status_code, resp.json()["error"]


def test_body_over_the_limit_is_refused_with_413(server_url):
    expected = (
        413,
        {
            "message": f"Request body too large: the limit is {MAX_BODY} bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        },
    )
    big = json.dumps({"prompt": "x", "user": "u" * MAX_BODY}).encode()
    assert _error(_post(server_url, content=big, headers={"Content-Type": "application/json"})) == expected

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(3):
            yield b" " * (MAX_BODY // 2)

    assert _error(_post(server_url, content=chunks(), headers={"Content-Type": "application/json"})) == expected


@pytest.mark.parametrize(
    ("model", "limit", "message", "code"),
    [
        ("gpt-image-2", 32000, "prompt is 32001 characters; gpt-image-2 takes at most 32000", "invalid_value"),
        ("dall-e-3", 4000, "prompt is 4001 characters; dall-e-3 takes at most 4000", "invalid_value"),
        (
            "acme/painter-9",
            32000,
            "prompt is 32001 characters; this server takes at most 32000",
            "string_above_max_length",
        ),
    ],
)
def test_prompt_limits_are_enforced(start_server, model, limit, message, code):
    resp = _post(start_server(models=("acme/painter-9",)), json={"model": model, "prompt": "p" * (limit + 1)})
    assert _error(resp) == (400, {"message": message, "type": "invalid_request_error", "param": "prompt", "code": code})


def test_loopback_by_default_and_a_warning_elsewhere(start_server, capsys):
    assert start_server().startswith("http://127.0.0.1:")
    assert capsys.readouterr().err == ""
    url = start_server(host="0.0.0.0")
    assert (
        capsys.readouterr().err
        == "warning: listening on 0.0.0.0, reachable from other machines; pass --api-key to require a key\n"
    )
    assert _post(url.replace("0.0.0.0", "127.0.0.1"), json={"prompt": "a kite"}).status_code == 200


def test_required_key(start_server):
    url = start_server(api_key=KEY)
    refused = (
        401,
        {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
    )
    assert _error(_post(url, json={"prompt": "a kite"})) == refused
    assert _error(_post(url, json={"prompt": "a kite"}, headers={"Authorization": f"Bearer {KEY}x"})) == refused
    assert _post(url, json={"prompt": "a kite"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_client_reports_a_missing_key_in_one_line(start_server):
    import imagemagic

    url = start_server(api_key=KEY)
    with pytest.raises(APIError) as caught:
        imagemagic.generate("a kite", base_url=url, api_key="sk-wrong")
    assert str(caught.value) == (
        "HTTP 401 (type=invalid_request_error, code=invalid_api_key): Incorrect API key provided. "
        f"[request id {caught.value.request_id}]"
    )
    assert len(imagemagic.generate("a kite", base_url=url, api_key=KEY)) == 1


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_requires_its_key_and_warns_off_loopback():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagemagic", "serve", "--host", "0.0.0.0", "--port", str(port), "--api-key", KEY],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr.readline() == "warning: listening on 0.0.0.0, reachable from other machines\n"
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = _post(url, json={"prompt": "a kite"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert resp.status_code == 401
        assert _post(url, json={"prompt": "a kite"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


CONCURRENT = 200


async def _one(http, url, i):
    """Send request i (every other one streamed); return (request id, size of the image it got)."""
    size = f"256x{256 + 16 * (i % 8)}"
    body = {"prompt": f"kite number {i}", "model": "gpt-image-2", "size": size}
    if i % 2:
        body.update(stream=True, partial_images=1)
    resp = await http.post(f"{url}/images/generations", json=body)
    assert resp.status_code == 200
    if i % 2:
        events = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
        assert [e["type"] for e in events] == ["image_generation.partial_image", "image_generation.completed"]
        b64 = events[-1]["b64_json"]
    else:
        (item,) = resp.json()["data"]
        b64 = item["b64_json"]
    width, height = Image.open(io.BytesIO(base64.b64decode(b64))).size
    assert f"{width}x{height}" == size
    return resp.headers["x-request-id"], size


def test_200_concurrent_requests_all_answered(start_server, capsys):
    url = start_server()

    async def burst():
        limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
        async with httpx.AsyncClient(limits=limits, timeout=120) as http:
            started = time.perf_counter()
            answers = await asyncio.gather(*(_one(http, url, i) for i in range(CONCURRENT)))
            return answers, time.perf_counter() - started

    async def alone():
        async with httpx.AsyncClient(timeout=120) as http:
            started = time.perf_counter()
            for i in range(4):
                await _one(http, url, i)
            return (time.perf_counter() - started) / 4

    one = asyncio.run(alone())  # the baseline: one request at a time, measured in this run
    answers, elapsed = asyncio.run(burst())
    assert len({request_id for request_id, _ in answers}) == CONCURRENT
    assert elapsed < 2 * CONCURRENT * one  # under load each request costs at most twice what it costs alone
    with capsys.disabled():
        print(
            f"\nload: {CONCURRENT} concurrent requests (half streamed) answered in {elapsed:.2f} s, "
            f"{CONCURRENT / elapsed:.0f} req/s"
        )
