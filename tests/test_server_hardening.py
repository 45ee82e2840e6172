"""The local server against hostile clients: every route behind the key, the server's own size and
concurrency limits whatever the model, inputs that used to crash it, slow clients cut off, a URL store
bounded by bytes that says why an image is gone, and `imagemagic serve` on a busy port."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
import pytest
from helpers.schemas import schema_errors

KEY = "canary-key-0123456789abcdefABCDEF"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOO_LARGE = "is larger than this server renders: at most 3840 pixels a side and 8294400 pixels in all (3840x2160)"


def _post(url, **kwargs):
    return httpx.post(f"{url}/images/generations", timeout=30, **kwargs)


def _error(resp):
    body = resp.json()
    assert schema_errors(body, "ErrorResponse") == []
    return resp.status_code, body["error"]["param"], body["error"]["message"]


def test_the_key_guards_every_route_but_the_image_urls(start_server):
    url = start_server(api_key=KEY)
    refused = (401, None, "Incorrect API key provided.")
    assert _error(httpx.get(f"{url}/models")) == refused
    assert _error(httpx.get(f"{url}/no-such-route")) == refused
    assert _error(_post(url, json={"prompt": "a kite"})) == refused
    assert httpx.get(f"{url}/models", headers=AUTH).status_code == 200
    assert _error(httpx.get(f"{url}/no-such-route", headers=AUTH)) == (404, None, "Not Found (GET /v1/no-such-route)")
    resp = _post(url, json={"prompt": "a kite", "model": "dall-e-3", "response_format": "url"}, headers=AUTH)
    (item,) = resp.json()["data"]
    assert item["url"].startswith(f"{url}/images/files/")
    image = httpx.get(item["url"])  # the unguessable token is the credential
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "my-model", "size": "25000x25000"}, "size", f"size=25000x25000 {TOO_LARGE}"),
        ({"model": "my-model", "size": "3856x16"}, "size", f"size=3856x16 {TOO_LARGE}"),
        ({"model": "my-model", "size": "3840x2176"}, "size", f"size=3840x2176 {TOO_LARGE}"),
        ({"model": "my-model", "size": "123456789012345x16"}, "size", f"size=123456789012345x16 {TOO_LARGE}"),
        ({"model": "my-model", "size": "9" * 5000 + "x1"}, "size", f"size={'9' * 5000}x1 {TOO_LARGE}"),
        ({"model": "my-model", "n": 11}, "n", "n=11 is out of range: use 1 to 10"),
        (
            {"model": "my-model", "stream": True, "partial_images": 4},
            "partial_images",
            "partial_images=4 is not one this server takes: use 0 to 3",
        ),
        (
            {"model": "my-model", "stream": True, "partial_images": -1},
            "partial_images",
            "partial_images=-1 is not one this server takes: use 0 to 3",
        ),
        (
            {"model": "my-model", "output_format": "bmp"},
            "output_format",
            "output_format='bmp' is not one this server takes: use png, jpeg, webp, gif, svg",
        ),
        (
            {"model": "my-model", "output_format": "gif", "frame_count": 17},
            "frame_count",
            "frame_count=17 is not one this server takes: use 2 to 16",
        ),
        (
            {"model": "my-model", "output_format": "gif", "frame_count": 1},
            "frame_count",
            "frame_count=1 is not one this server takes: use 2 to 16",
        ),
        (
            {"model": "my-model", "output_format": "gif", "frame_duration_ms": 19},
            "frame_duration_ms",
            "frame_duration_ms=19 is not one this server takes: use 20 or more",
        ),
        (
            {"model": "my-model", "output_format": "gif", "size": "3840x2160", "frame_count": 5},
            "size",
            "size=3840x2160 with 5 GIF frames is more than this server renders at once: "
            "at most 33,177,600 pixels over all frames",
        ),
        (
            {"model": "my-model", "output_format": "jpeg", "output_compression": -5},
            "output_compression",
            "output_compression=-5 is not one this server takes: use 0 to 100",
        ),
        (
            {"model": "my-model", "response_format": "xml"},
            "response_format",
            "response_format='xml' is not one this server takes: use url, b64_json",
        ),
        ({"model": "m" * 257}, "model", "model is 257 characters; this server takes names of at most 256"),
    ],
)
def test_the_server_has_its_own_limits_whatever_the_model(start_server, body, param, message):
    url = start_server(
        delay=0.01, models=("my-model",)
    )  # a delay, so that a negative partial_images once divided by zero
    assert _error(_post(url, json={"prompt": "a kite", **body})) == (400, param, message)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"prompt": "a kite \\ud800"}',
            "The JSON body has a lone surrogate escape (such as \\ud800), which is not valid Unicode.",
        ),
        (
            b'{"prompt": "kite", "\\udfff": 1}',
            "The JSON body has a lone surrogate escape (such as \\ud800), which is not valid Unicode.",
        ),
        (
            b'{"prompt": "kite", "user": ' + b"[" * 33 + b"]" * 33 + b"}",
            "The JSON body is nested too deeply: at most 32 levels.",
        ),
        (
            b'{"prompt": "kite", "user": ' + b"[" * 100000 + b"]" * 100000 + b"}",
            "The JSON body is nested too deeply: at most 32 levels.",
        ),
        (b"\xff\xfe{}", "We could not parse the JSON body of your request."),
        (b'{"prompt": "kite", "n": 1' + b"0" * 5000 + b"}", "We could not parse the JSON body of your request."),
    ],
)
def test_odd_bodies_get_a_400_not_a_traceback(server_url, raw, message):
    resp = _post(server_url, content=raw, headers={"Content-Type": "application/json"})
    assert _error(resp) == (400, None, message)


def test_pixels_in_flight_are_bounded_with_a_503(start_server):
    url = start_server(delay=1.0, pixel_budget=3 * 1024 * 1024, models=("my-model",))
    body = {"prompt": "a kite", "model": "my-model", "size": "1024x1024"}

    async def burst():
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(*(http.post(f"{url}/images/generations", json=body) for _ in range(5)))

    answers = asyncio.run(burst())
    assert sorted(resp.status_code for resp in answers) == [200, 200, 200, 503, 503]
    busy = [resp for resp in answers if resp.status_code == 503]
    assert [_error(resp) for resp in busy] == [
        (503, None, "The server is busy rendering other images; retry shortly.")
    ] * 2
    assert [resp.headers["retry-after"] for resp in busy] == ["1", "1"]
    assert _post(url, json=body).status_code == 200  # the budget came back


def test_url_store_is_bounded_by_bytes_and_says_why_an_image_is_gone(start_server):
    url = start_server(stash_bytes=60_000)
    body = {"prompt": "a kite", "model": "dall-e-3", "response_format": "url"}
    urls = [_post(url, json=body).json()["data"][0]["url"] for _ in range(8)]
    sizes = [len(httpx.get(u).content) if httpx.get(u).status_code == 200 else None for u in urls]
    kept = [s for s in sizes if s is not None]
    assert sizes[-1] is not None and sum(kept) <= 60_000 and None in sizes
    gone = urls[sizes.index(None)]
    assert _error(httpx.get(gone)) == (
        404,
        None,
        "This image was removed before its URL expired, to keep the server's image store within its size limit; "
        "generate it again, or ask for b64_json.",
    )
    assert _error(httpx.get(f"{url}/images/files/never-issued.png")) == (
        404,
        None,
        "No such file, or its URL has expired (URLs are valid for 60 minutes).",
    )


STALLED = 100
IDLE = 1.0
HANG = 60 * IDLE  # only so that a connection the server never closes fails the test instead of hanging it


def _timed_generation(url):
    started = time.perf_counter()
    assert _post(url, json={"prompt": "a kite", "size": "1024x1024"}).status_code == 200
    return time.perf_counter() - started


def _closed_by_server(sock, limit=HANG):
    """Seconds until the server closed `sock` (EOF or reset), or None if it is still open after `limit`."""
    started = time.perf_counter()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.perf_counter() - started


def test_slow_clients_are_cut_off_and_others_still_answered(start_server, capsys):
    url = start_server(idle_timeout=IDLE)
    baseline = statistics.median(_timed_generation(url) for _ in range(5))
    port = int(url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)) as alone:  # the baseline cut-off: one stalled connection
        alone.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-")
        one = _closed_by_server(alone)
    assert one is not None and one >= 0.9 * IDLE
    stalled = []
    opened = time.perf_counter()
    for i in range(STALLED):
        sock = socket.create_connection(("127.0.0.1", port))
        head = b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-"  # half a request, then nothing
        body = b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"  # half a body
        sock.sendall(body if i % 2 else head)
        stalled.append(sock)
    loaded = statistics.median(_timed_generation(url) for _ in range(5))
    assert loaded < 3 * baseline
    trickle = socket.create_connection(("127.0.0.1", port))  # a byte at a time never resets the deadline
    for byte in b"GET /v1/models HTTP/1.1\r\nHost: x\r\n":
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(IDLE / 10)
    cut = [_closed_by_server(sock) for sock in [*stalled, trickle]]
    assert None not in cut
    waited = time.perf_counter() - opened
    assert waited < 4 * one + 1.5 * (loaded * 5)  # within a few single cut-offs, plus the generations timed meanwhile
    with capsys.disabled():
        print(
            f"\nslowloris: {STALLED} stalled connections all cut off {waited:.2f} s after opening (idle limit {IDLE} s)"
        )
    for sock in [*stalled, trickle]:
        sock.close()


def test_a_body_that_stalls_gets_408_then_the_connection_closes(start_server):
    url = start_server(idle_timeout=IDLE)
    port = int(url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = f"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        sock.sendall(head.encode() + b"Content-Length: 100\r\n\r\n{")
        sock.settimeout(HANG)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    assert body == (
        b'{"error":{"message":"The request body did not arrive within 1 seconds.",'
        b'"type":"invalid_request_error","param":null,"code":"timeout"}}'
    )


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_on_a_busy_port_fails_in_one_line_before_printing_a_url():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "imagemagic", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"imagemagic: error: port {port} on 127.0.0.1 is in use: stop what uses it, or choose another with --port\n"
    )


def test_a_client_leaving_mid_stream_leaves_no_traceback():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagemagic", "serve", "--port", str(port), "--delay", "0.5"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr.readline() == f"imagemagic preview server at http://127.0.0.1:{port}/v1 (Ctrl-C to stop)\n"
        url = f"http://127.0.0.1:{port}/v1"
        body = {"prompt": "a kite", "size": "256x256", "stream": True, "partial_images": 3, "n": 3}
        with httpx.stream("POST", f"{url}/images/generations", json=body, timeout=30) as resp:
            first = next(resp.iter_lines())
        assert first == "event: image_generation.partial_image"
        with pytest.raises(httpx.TimeoutException):  # and one that gives up on a JSON answer
            httpx.post(f"{url}/images/generations", json={"prompt": "a kite", "n": 3}, timeout=0.2)
        time.sleep(2)
        assert _post(url, json={"prompt": "a kite"}).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and "ERROR" not in err, err
