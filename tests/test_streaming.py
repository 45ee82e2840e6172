"""Streaming through real loopback HTTP: in-place display in a real kernel, fan-out, and the streams
real servers send (gateways answering JSON, truncated streams, error events, `[DONE]`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from helpers.images import png_width
from helpers.kernels import kernel

from imagemagic.client import AsyncImagesClient, ImagesClient
from imagemagic.display import PLACEHOLDER_WIDTH
from imagemagic.endpoint import resolve
from imagemagic.errors import APIError, TransportError
from imagemagic.request import ImageRequest
from imagemagic.server import preview

PNG = preview.encode(preview.render_final("tiny", width=64, height=48, model="gpt-image-2"), "png", None)
B64 = base64.b64encode(PNG).decode("ascii")


def sse(kind, **payload):
    """One event as a server writes it."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


PARTIAL = sse("image_generation.partial_image", b64_json=B64, partial_image_index=0)
COMPLETED = sse(
    "image_generation.completed", b64_json=B64, usage={"total_tokens": 7, "input_tokens": 2, "output_tokens": 5}
)


@contextlib.contextmanager
def scripted(content_type, *chunks):
    """A raw HTTP server on 127.0.0.1 that answers every POST with these chunks, then closes."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("x-request-id", "req_scripted")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def generate(url, **params):
    """One call of the sync client against `url`, with the events it reported."""
    events = []
    client = ImagesClient(resolve(base_url=url))
    try:
        return client.generate(ImageRequest(prompt="a kite", **params), on_event=events.append), events
    finally:
        client.close()


class Recording(httpx.AsyncHTTPTransport):
    """The real HTTP transport, noting each request body it sends."""

    def __init__(self):
        super().__init__()
        self.bodies = []

    async def handle_async_request(self, request):
        self.bodies.append(json.loads(request.content))
        return await super().handle_async_request(request)


def fan_out(url, **params):
    """(result, request bodies sent, seconds) for one call through a recording transport."""
    transport = Recording()

    async def call():
        async with AsyncImagesClient(resolve(base_url=url), transport=transport, max_concurrency=8) as client:
            return await client.generate(ImageRequest(prompt="a kite", **params))

    started = time.monotonic()
    result = asyncio.run(call())
    return result, transport.bodies, time.monotonic() - started


def test_notebook_sees_placeholders_then_updates_in_place(start_server, tmp_path):
    url = start_server(delay=1.5)
    with kernel(OPENAI_BASE_URL=url, IMAGEMAGIC_HOME=str(tmp_path)) as k:
        messages = k.run("%%imagegen --stream --partial-images 2 -n 2 --size 1024x1024 --out hero\na lighthouse")
        finals = json.loads(k.output("import json; print(json.dumps([i.wire_b64 for i in hero.images]))"))

    shown = [(kind, c) for kind, c in messages if kind in ("display_data", "update_display_data")]
    opened = [c["transient"]["display_id"] for kind, c in shown[:2]]
    assert [kind for kind, _ in shown[:2]] == ["display_data", "display_data"]
    assert all(kind == "update_display_data" for kind, _ in shown[2:])
    assert {c["transient"]["display_id"] for _, c in shown} == set(opened)
    for slot, display_id in enumerate(opened):
        texts = {c["data"]["text/plain"] for _, c in shown if c["transient"]["display_id"] == display_id}
        assert texts == {f"<image {slot + 1} of 2 · gpt-image-2 · 1024x1024>"}
        images = [c["data"]["image/png"] for _, c in shown if c["transient"]["display_id"] == display_id]
        assert png_width(images[0]) == PLACEHOLDER_WIDTH
        pixels = [b64 for b64 in images if png_width(b64) == 1024]
        assert pixels[-1] == finals[slot]
        assert len(set(pixels)) >= 2, "a partial should have shown before the final"
    stdout = "".join(c["text"] for kind, c in messages if kind == "stream")
    assert re.match(
        r"\[1\] 1024x1024 png\n\[2\] 1024x1024 png\n2 images in \d+\.\d s · 2,118 tokens \(input 6, output 2,112\)\n",
        stdout,
    )
    assert not any(kind == "error" for kind, _ in messages)


def test_three_streams_run_concurrently_and_fill_their_slots_in_order(start_server):
    url = start_server(delay=1.0)
    one = fan_out(url, n=1, stream=True, partial_images=1)[2]  # the baseline: one stream, same server
    result, bodies, seconds = fan_out(url, n=3, stream=True, partial_images=1)
    assert bodies == [{"prompt": "a kite", "model": "gpt-image-2", "n": 1, "stream": True, "partial_images": 1}] * 3
    assert seconds < 2 * one, f"three streams took {seconds / one:.1f}x one stream: not concurrent (3x)"
    assert [img.index for img in result.images] == [0, 1, 2]
    assert not result.partial and len(result.request_ids) == 3


def test_dall_e_3_fans_out_to_requests_of_one_image(start_server):
    url = start_server(delay=1.0)
    one = fan_out(url, model="dall-e-3", n=1)[2]  # the baseline: one request of one image, same server
    result, bodies, seconds = fan_out(url, model="dall-e-3", n=4)
    assert [body["n"] for body in bodies] == [1, 1, 1, 1]
    assert seconds < 2 * one, f"four requests took {seconds / one:.1f}x one: not concurrent (4x)"
    assert [(img.index, img.revised_prompt) for img in result.images] == [(i, "a kite") for i in range(4)]


def test_a_gateway_that_ignores_stream_still_returns_the_images():
    answer = json.dumps({"created": 1, "data": [{"b64_json": B64}], "usage": {"total_tokens": 7}}).encode()
    with scripted("application/json", answer) as url:
        result, events = generate(url, stream=True, partial_images=2)
    assert len(result) == 1 and result.images[0].data == PNG and not result.partial
    assert result.usage == {"total_tokens": 7}
    assert events == result.images


def test_a_stream_without_completed_event_fails_keeping_the_last_partial():
    later = sse("image_generation.partial_image", b64_json=B64, partial_image_index=1)
    with scripted("text/event-stream", PARTIAL, later) as url:
        with pytest.raises(TransportError) as caught:
            generate(url, stream=True, partial_images=2)
    assert str(caught.value) == "the stream ended without a completed image"
    kept = caught.value.partial
    assert kept.partial and [img.partial_index for img in kept.images] == [1]
    assert kept[0].size == (64, 48)


def test_an_error_event_raises_the_api_error_with_its_message():
    error = sse(
        "error",
        error={
            "message": "Your request was rejected by the safety system.",
            "type": "image_generation_user_error",
            "code": "moderation_blocked",
            "param": None,
        },
    )
    with scripted("text/event-stream", PARTIAL, error) as url:
        with pytest.raises(APIError) as caught:
            generate(url, stream=True, partial_images=1)
    assert str(caught.value) == (
        "error in stream (type=image_generation_user_error, code=moderation_blocked): "
        "Your request was rejected by the safety system. [request id req_scripted]"
    )
    assert caught.value.partial.partial


def test_done_marker_and_a_last_event_without_blank_line_are_taken():
    with scripted("text/event-stream", PARTIAL, b"data: [DONE]\n\n", COMPLETED.rstrip(b"\n")) as url:
        result, events = generate(url, stream=True, partial_images=1)
    assert [img.partial for img in events] == [True, False]
    assert len(result) == 1 and not result.partial and result.usage["total_tokens"] == 7
    assert result.request_ids == ["req_scripted"]


def test_stream_split_into_tiny_chunks_over_the_wire():
    stream = PARTIAL + COMPLETED
    with scripted("text/event-stream", *(stream[i : i + 7] for i in range(0, len(stream), 7))) as url:
        result, events = generate(url, stream=True, partial_images=1)
    assert [img.partial for img in events] == [True, False] and result.images[0].data == PNG
