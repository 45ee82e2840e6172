"""Faults the client survives, each against a scripted server on loopback: retries, timeouts,
error bodies, broken streams, hostile images — and how the magic shows them (one line)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import random
import time

import pytest
from helpers.scripted import (
    completed_event,
    drop,
    event,
    ok_body,
    partial_event,
    png_b64,
    refused_url,
    reply,
    stall,
    stream,
)
from PIL import Image

from imagemagic import downloads as downloads_module
from imagemagic import retry as retry_module
from imagemagic.client import AsyncImagesClient, ImagesClient, Status
from imagemagic.endpoint import Endpoint
from imagemagic.errors import APIConnectionError, APIError, APITimeoutError, ImageDataError, TransportError
from imagemagic.request import ImageRequest

KEY = "canary-key-0123456789abcdefABCDEF"


_WAITS = []  # the retry waits of the running test, recorded by the sleep every client here is given


async def record_wait(delay):
    """The retry wait injected into the clients: recorded, never slept."""
    _WAITS.append(round(delay, 3))


@pytest.fixture
def waits(monkeypatch):
    """The retry waits of this test, recorded instead of slept; jitter pinned to none."""
    _WAITS.clear()
    monkeypatch.setattr(random, "random", lambda: 0.0)
    return _WAITS


def run(url, *, stream_=False, key=None, **options):
    """Generate one image from `url` (retry waits recorded, not slept); return (result or error, status lines)."""
    lines = []
    request = ImageRequest(prompt="a kite", model="gpt-image-2", stream=stream_ or None)
    client = ImagesClient(Endpoint(url, key), sleep=record_wait, **options)

    def on_event(item):
        if isinstance(item, Status):
            lines.append(item.message)

    try:
        return client.generate(request, on_event=on_event), lines
    except Exception as exc:  # the error is what the test looks at
        return exc, lines
    finally:
        client.close()


def test_429_honours_retry_after_ms(scripted, waits):
    server = scripted(
        reply(429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, {"retry-after-ms": "1000"})
    )
    result, lines = run(server.url)
    assert len(result) == 1 and len(server.requests) == 2
    assert lines == ["rate limited, retrying in 1.0 s"]
    assert waits == [1.0]


def test_429_honours_retry_after_seconds_and_dates(scripted, waits):
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    server = scripted(reply(429, headers={"Retry-After": "3"}), reply(429, headers={"Retry-After": date}))
    result, lines = run(server.url)
    assert len(result) == 1
    assert lines[0] == "rate limited, retrying in 3.0 s"
    assert 28 <= waits[1] <= 30


def test_retry_after_beyond_120_seconds_falls_back_to_backoff(scripted, waits):
    server = scripted(reply(429, headers={"Retry-After": "121"}), reply(429, headers={"retry-after-ms": "500000"}))
    _, lines = run(server.url)
    assert lines == ["rate limited, retrying in 0.5 s", "rate limited, retrying in 1.0 s"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (408, "request timed out"),
        (409, "conflict"),
        (500, "server error 500"),
        (502, "server error 502"),
        (503, "server error 503"),
        (504, "server error 504"),
    ],
)
def test_retryable_statuses_back_off_then_succeed(scripted, waits, status, reason):
    server = scripted(
        reply(status, {"error": {"message": "try again"}}), reply(status, {"error": {"message": "try again"}})
    )
    result, lines = run(server.url)
    assert len(result) == 1 and len(server.requests) == 3
    assert lines == [f"{reason}, retrying in 0.5 s", f"{reason}, retrying in 1.0 s"]


def test_retries_give_up_after_two_with_one_line(scripted, waits):
    fail = reply(503, {"error": {"message": "The engine is overloaded.", "type": "server_error"}})
    server = scripted(fail, fail, fail)
    error, _ = run(server.url)
    assert len(server.requests) == 3
    assert isinstance(error, APIError)
    assert str(error) == "HTTP 503 (type=server_error): The engine is overloaded. [request id req_test]"


def test_backoff_is_capped_and_jittered(waits, monkeypatch):
    _, lines = run(refused_url(), max_retries=6)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert lines[0] == "connection failed, retrying in 0.5 s"
    monkeypatch.setattr(random, "random", lambda: 0.999)
    assert 0.375 <= retry_module.backoff(0) < 0.376
    assert 6.0 <= retry_module.backoff(9) < 6.01


def test_connection_refused_is_retried_then_reported(waits):
    url = refused_url()
    error, lines = run(url)
    assert lines == ["connection failed, retrying in 0.5 s", "connection failed, retrying in 1.0 s"]
    assert isinstance(error, TransportError)
    assert str(error) == "could not connect to 127.0.0.1: All connection attempts failed"


def test_read_timeout_is_not_retried_by_default(scripted, waits):
    server = scripted(stall(3))
    error, lines = run(server.url, timeout=0.3)
    assert type(error) is APITimeoutError and lines == [] and len(server.requests) == 1
    assert str(error) == (
        "no answer from 127.0.0.1 within 0.3 s (the timeout); the request was sent "
        "and may have been billed, so it was not retried"
    )


def test_read_timeout_retried_when_asked(scripted, waits):
    server = scripted(stall(3))
    result, lines = run(server.url, timeout=0.3, retry_after_send=True)
    assert len(result) == 1 and len(server.requests) == 2
    assert lines == ["read timeout, retrying in 0.5 s"]


def test_dropped_connection_is_not_retried_by_default(scripted, waits):
    server = scripted(drop())
    error, lines = run(server.url)
    assert type(error) is APIConnectionError and lines == [] and len(server.requests) == 1
    assert str(error) == (
        "the connection to 127.0.0.1 broke off after the request was sent (Server disconnected "
        "without sending a response.); it may have been billed, so it was not retried"
    )


def test_dropped_connection_retried_when_asked(scripted, waits):
    server = scripted(drop())
    result, lines = run(server.url, retry_after_send=True)
    assert len(result) == 1 and lines == ["connection dropped, retrying in 0.5 s"]


def test_default_timeouts_fit_long_generations_and_connect_fast():
    async def timeout():
        client = AsyncImagesClient(Endpoint("http://127.0.0.1:9/v1"))
        try:
            return client._client().timeout
        finally:
            await client.aclose()

    value = asyncio.run(timeout())
    assert (value.read, value.write, value.connect) == (600.0, 600.0, 10.0)


@pytest.mark.parametrize(
    ("status", "body", "line"),
    [
        (
            400,
            {
                "error": {
                    "message": "Invalid size '7x7'.",
                    "type": "invalid_request_error",
                    "param": "size",
                    "code": "invalid_value",
                }
            },
            "HTTP 400 (type=invalid_request_error, param=size, code=invalid_value): "
            "Invalid size '7x7'. [request id req_test]",
        ),
        (
            401,
            {
                "error": {
                    "message": f"Incorrect API key provided: {KEY}.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "HTTP 401 (type=invalid_request_error, code=invalid_api_key): "
            "Incorrect API key provided: ***. [request id req_test]",
        ),
        (
            403,
            {
                "error": {
                    "message": "Your organization must be verified\nto use this model.",
                    "type": "invalid_request_error",
                }
            },
            "HTTP 403 (type=invalid_request_error): "
            "Your organization must be verified to use this model. [request id req_test]",
        ),
        (404, {"detail": "Not Found"}, "HTTP 404: Not Found [request id req_test]"),
        (404, ["not", "an", "object"], "HTTP 404: Not Found [request id req_test]"),
    ],
)
def test_error_bodies_become_one_line_without_json_or_key(scripted, status, body, line):
    server = scripted(reply(status, body))
    error, _ = run(server.url, key=KEY)
    assert isinstance(error, APIError) and error.status_code == status
    names = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError"}
    assert type(error).__name__ == names[status]  # the names users of the official SDK already catch
    assert str(error) == line


def test_html_error_page_is_summarised_by_its_reason(scripted):
    server = scripted(
        reply(502, raw=b"<html><body><h1>502 Bad Gateway</h1></body></html>", headers={"Content-Type": "text/html"})
    )
    error, _ = run(server.url, max_retries=0)
    assert str(error) == "HTTP 502: Bad Gateway [request id req_test]"


def test_plain_text_error_is_kept_on_one_line(scripted):
    server = scripted(reply(400, raw=b"upstream said\n  no", headers={"Content-Type": "text/plain"}))
    error, _ = run(server.url)
    assert str(error) == "HTTP 400: upstream said no [request id req_test]"


def _magic(ip, capsys, url, monkeypatch, flags="--stream --partial-images 1 --out pic"):
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    capsys.readouterr()
    ip.run_cell(f"%%imagegen --model gpt-image-2 {flags}\na red kite")
    return capsys.readouterr()


def test_magic_shows_an_api_error_as_one_usage_error_line(ip, capsys, monkeypatch, scripted):
    body = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    server = scripted(reply(401, body))
    out = _magic(ip, capsys, server.url, monkeypatch, flags="")
    assert out.err == (
        "UsageError: HTTP 401 (type=invalid_request_error, code=invalid_api_key): "
        "Incorrect API key provided: ***. [request id req_test]\n"
    )
    assert KEY not in out.out + out.err


BAD_PNG = base64.b64encode(b"GIF89a but not really an image").decode()


@pytest.mark.parametrize(
    ("tail", "line"),
    [
        (
            event("error", error={"message": "The server had an error.", "type": "server_error"}),
            "error in stream (type=server_error): The server had an error. [request id req_test]",
        ),
        (
            b"event: image_generation.completed\ndata: {not json}\n\n",
            "malformed JSON in a 'image_generation.completed' event of the stream",
        ),
        (completed_event()[:60], "the stream ended inside a 'image_generation.completed' event (truncated JSON)"),
        (
            event("image_generation.completed", b64_json="@@@not base64@@@"),
            "image 1: the base64 data is invalid (Only base64 data is allowed)",
        ),
        (
            event("image_generation.completed", b64_json=base64.b64encode(b"hello, not an image").decode()),
            "image 1: the data is not a PNG, JPEG, WebP, GIF or SVG image",
        ),
        (event("image_generation.completed", b64_json=BAD_PNG), "image 1: the data is not an image PIL can read"),
        (b"", "the stream ended without a completed image"),
    ],
)
def test_mid_stream_failures_keep_partials_bound_to_out(ip, capsys, monkeypatch, scripted, tail, line):
    server = scripted(stream(partial_event(), tail))
    out = _magic(ip, capsys, server.url, monkeypatch)
    assert out.err == f"UsageError: {line}; kept 1 image in pic (partial: True)\n"
    kept = ip.user_ns["pic"]
    assert kept.partial and kept[0].size == (8, 8)
    assert len(server.requests) == 1


def _bomb_b64():
    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_decompression_bomb_is_refused_before_storing(scripted, clean_env):
    server = scripted(reply(body=ok_body(_bomb_b64())))
    error, _ = run(server.url)
    assert type(error) is ImageDataError
    assert str(error) == "image 1: refused as a possible decompression bomb (9000x9000 is more than 67,108,864 pixels)"
    assert not list(clean_env.rglob("*.png"))


def test_url_download_accepts_http_only(scripted):
    server = scripted(reply(body={"created": 1, "data": [{"url": "file:///etc/passwd"}]}))
    error, _ = run(server.url)
    assert str(error) == "image 1: refused to download file: URL (only http and https)"


def test_url_download_is_size_limited(scripted, monkeypatch):
    monkeypatch.setattr(downloads_module, "URL_DOWNLOAD_LIMIT", 1000)
    big = base64.b64decode(png_b64((400, 400)))
    server = scripted()
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"http://127.0.0.1:{server.port}/files/a.png"}]}),
        reply(raw=big, headers={"Content-Type": "image/png"}),
    ]
    error, _ = run(server.url)
    assert str(error) == "image 1: download refused, larger than 1,000 bytes"


def test_url_download_times_out(scripted, monkeypatch):
    monkeypatch.setattr(downloads_module, "URL_DOWNLOAD_TIMEOUT", 0.3)
    server = scripted()
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"http://127.0.0.1:{server.port}/files/a.png"}]}),
        stall(3),
    ]
    error, _ = run(server.url)
    assert str(error) == "image 1: download failed (not complete within 0.3 s)"


def test_url_download_succeeds(scripted):
    server = scripted()
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"http://127.0.0.1:{server.port}/files/a.png"}]}),
        reply(raw=base64.b64decode(png_b64((16, 8))), headers={"Content-Type": "image/png"}),
    ]
    result, _ = run(server.url)
    assert result[0].size == (16, 8) and result.images[0].url.endswith("/files/a.png")


def test_a_malformed_usage_is_ignored_not_a_crash(scripted):
    server = scripted(reply(body={**ok_body(), "usage": "n/a"}))
    result, _ = run(server.url)
    assert len(result) == 1 and result.usage == {}


def test_a_redirected_url_download_is_followed(scripted):
    image = reply(raw=base64.b64decode(png_b64((12, 10))), headers={"Content-Type": "image/png"})
    server = scripted(image)
    mover = scripted(reply(302, raw=b"", headers={"Location": f"{server.url}/img.png"}))
    answer = scripted(reply(body={"created": 1, "data": [{"url": f"{mover.url}/img.png"}]}))
    result, _ = run(answer.url)
    assert result[0].size == (12, 10)


def test_one_client_serves_several_threads_at_once(server_url):
    import threading
    import warnings

    shared = ImagesClient(Endpoint(server_url))
    sizes = []

    def work():
        sizes.append(shared.generate(ImageRequest(prompt="a kite", size="64x64", n=2))[1].size)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sizes == [(64, 64)] * 4  # each thread's loop has its own pool: no call lands on another loop's
