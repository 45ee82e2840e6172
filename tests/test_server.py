"""The local server as other clients see it: the official openai SDK against `imagemagic serve`
(a real subprocess), and raw HTTP answers checked against the official JSON schemas."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest
from helpers.schemas import schema_errors
from helpers.sse_events import SSEDecoder
from PIL import Image


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    """`python -m imagemagic serve` on a free loopback port; yields its base URL (with /v1)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagemagic", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"imagemagic serve did not start: {proc.stderr.read().decode()}")
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(5)


def _pil(b64):
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_sdk_generates_two_images(served):
    client = openai.OpenAI(base_url=served, api_key="sk-test")
    resp = client.images.generate(model="gpt-image-2", prompt="a red kite over the sea", n=2, size="1536x1024")
    assert len(resp.data) == 2
    assert [_pil(item.b64_json).size for item in resp.data] == [(1536, 1024), (1536, 1024)]
    assert resp.data[0].b64_json != resp.data[1].b64_json  # each index is its own image
    assert isinstance(resp.created, int) and resp.created > 0
    assert (resp.size, resp.quality, resp.background, resp.output_format) == ("1536x1024", "medium", "opaque", "png")
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens > 0
    assert resp.usage.input_tokens_details.text_tokens == resp.usage.input_tokens


def test_sdk_streams_partials_then_the_final_image(served):
    client = openai.OpenAI(base_url=served, api_key="sk-test")
    events = list(
        client.images.generate(
            model="gpt-image-2", prompt="a lighthouse at dawn", size="1024x1024", stream=True, partial_images=2
        )
    )
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert all(_pil(e.b64_json).size == (1024, 1024) for e in events)
    final = events[-1]
    assert final.usage.total_tokens > 0 and final.size == "1024x1024" and final.output_format == "png"
    # partials converge on the final image: each is closer to it than the one before
    pixels = [_pil(e.b64_json).convert("L").resize((64, 64)).tobytes() for e in events]
    distance = [sum(abs(a - b) for a, b in zip(p, pixels[-1])) for p in pixels[:-1]]
    assert distance[0] > distance[1] > 0


def test_sdk_gets_a_url_that_serves_the_image(served):
    client = openai.OpenAI(base_url=served, api_key="sk-test")
    resp = client.images.generate(model="dall-e-2", prompt="a kite", size="256x256", response_format="url")
    image = httpx.get(resp.data[0].url)
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (256, 256)


def test_sdk_sees_an_api_error_with_param(served):
    client = openai.OpenAI(base_url=served, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="a kite", size="512x512")
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "size"
    assert (
        caught.value.body["message"]
        == "size=512x512 is not allowed for dall-e-3: use 1024x1024, 1792x1024, 1024x1792 — did you mean 1024x1024?"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a kite", "model": "gpt-image-2", "n": 2, "size": "1024x1536", "quality": "high"},
        {
            "prompt": "a kite",
            "model": "gpt-image-1",
            "background": "transparent",
            "output_format": "webp",
            "output_compression": 50,
        },
        {"prompt": "a kite", "model": "dall-e-3", "style": "natural", "quality": "hd", "response_format": "b64_json"},
    ],
)
def test_json_answers_match_the_official_schema(server_url, body):
    resp = httpx.post(f"{server_url}/images/generations", json=body)
    assert resp.status_code == 200 and resp.headers["x-request-id"].startswith("req_")
    assert schema_errors(resp.json(), "ImagesResponse") == []


def test_stream_events_match_the_official_schema(server_url):
    body = {"prompt": "a kite", "model": "gpt-image-2", "stream": True, "partial_images": 3, "size": "1536x1024"}
    with httpx.stream("POST", f"{server_url}/images/generations", json=body) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        decoder, events = SSEDecoder(), []
        for chunk in resp.iter_bytes():
            events += decoder.feed(chunk)
        events += decoder.close()
    assert [e.event for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    for event in events:
        payload = json.loads(event.data)
        assert payload["type"] == event.event
        assert schema_errors(payload, "ImageGenStreamEvent") == []


def test_stream_is_decided_by_the_body_not_the_accept_header(server_url):
    body = {"prompt": "a kite", "stream": True}
    resp = httpx.post(f"{server_url}/images/generations", json=body, headers={"Accept": "application/json"})
    assert resp.headers["content-type"].startswith("text/event-stream")
    resp = httpx.post(
        f"{server_url}/images/generations", json={"prompt": "a kite"}, headers={"Accept": "text/event-stream"}
    )
    assert resp.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "gpt-image-2"}, "prompt", "Missing required parameter: 'prompt'."),
        ({"prompt": "a kite", "colour": "red"}, "colour", "Unknown parameter: 'colour'."),
        ({"prompt": "a kite", "model": "dall-e-3", "n": 2}, "n", "n=2 is out of range for dall-e-3: use 1"),
        (
            {"prompt": "a kite", "output_compression": 50},
            "output_compression",
            "output_compression=50 needs output_format jpeg or webp (it is png)",
        ),
    ],
)
def test_errors_are_openai_shaped_with_the_culprit_named(server_url, body, param, message):
    resp = httpx.post(f"{server_url}/images/generations", json=body)
    assert resp.status_code == 400
    assert schema_errors(resp.json(), "ErrorResponse") == []
    assert resp.json()["error"]["param"] == param
    assert resp.json()["error"]["message"] == message


def test_models_lists_what_it_accepts(server_url):
    ids = [m["id"] for m in httpx.get(f"{server_url}/models").json()["data"]]
    assert "gpt-image-2" in ids and "dall-e-3" in ids


def test_expired_or_unknown_file_is_a_404(server_url):
    resp = httpx.get(f"{server_url}/images/files/nothing.png")
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "No such file, or its URL has expired (URLs are valid for 60 minutes)."


def test_binds_loopback_by_default(served):
    host = served.split("//")[1].split(":")[0]
    assert host == "127.0.0.1"


def test_an_answer_nobody_waits_for_is_not_rendered(start_server, rendered):
    """Before: a client that gave up during the pace (an interrupt, a timeout) still had its first image rendered
    when the pace ran out, long after, in whatever came next; now the pace watches for the client leaving."""
    url = start_server(delay=1.5)
    body = {"prompt": "a kite", "size": "256x256", "n": 2}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/images/generations", json=body, timeout=0.3)
    # a client that waits gets its two images at the same pace; by then (3 s) the first request's pace ran out
    # twice over, so its image 0 would have been rendered too
    assert httpx.post(f"{url}/images/generations", json=body, timeout=30).status_code == 200
    assert rendered == [0, 1]
