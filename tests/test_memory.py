"""Memory bounds as ratios to one image's payload (never absolute figures): a sweep of large images, and a
stream of full-size partials, are decoded as they arrive, never held as answer text or twice.

Each run is measured in a fresh process (tracemalloc's peak over the run: every Python object, bytes and
text included) against a loopback server in this one, so the server's own buffers are not counted.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import subprocess
import sys

import pytest
from helpers.servers import serve_in_thread
from PIL import Image

CONCURRENCY, IMAGES = 4, 12

WORKER = """
import sys, tracemalloc, imagemagic
from imagemagic.settings import Settings
url, kind, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
settings = Settings(base_url=url, max_concurrency=concurrency, cache=False)
def run(n):
    if kind == "sweep":
        done = imagemagic.sweep("photo {i}", i=list(range(n)), settings=settings, progress=False)
        return sum(len(r.files) for r in done)
    if kind.startswith("responses"):
        stream = {"stream": True, "partial_images": 2} if kind == "responses-stream" else {}
        return len(imagemagic.generate("photo", api="responses", settings=settings, **stream).files)
    if kind.startswith("chat"):
        stream = {"stream": True} if kind == "chat-stream" else {}
        return len(imagemagic.generate("photo", model="gemini-2.5-flash-image", settings=settings, **stream).files)
    if kind == "images":
        return len(imagemagic.generate("photo", settings=settings).files)
    return len(imagemagic.generate("photo", stream=True, partial_images=3, settings=settings).files)
run(1)  # imports and first-use caches, outside the measure
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
stored = run(count)
print(tracemalloc.get_traced_memory()[1] - base, stored)
"""


def photo_png(side=1024, seed=7):
    """A PNG that does not compress (noise): its base64 is 4/3 of it, as with a real photo."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def replay_app(body, content_type):
    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture(scope="module")
def payload():
    return photo_png()


def peak_in_payloads(app, kind, count, payload, tmp_path):
    base, stop = serve_in_thread(app)
    try:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, f"{base}/v1", kind, str(count), str(CONCURRENCY)],
            env={**os.environ, "IMAGEMAGIC_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop()
    assert done.returncode == 0, done.stderr[-2000:]
    peak, stored = (int(x) for x in done.stdout.split())
    print(f"{kind}: peak {peak / len(payload):.2f} payloads")
    return peak / len(payload), stored


def test_a_sweep_of_large_images_peaks_below_max_concurrency_plus_two_payloads(payload, tmp_path):
    body = json.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(payload).decode()}]}).encode()
    peak, stored = peak_in_payloads(replay_app(body, b"application/json"), "sweep", IMAGES, payload, tmp_path)
    assert stored == IMAGES
    assert peak <= CONCURRENCY + 2, f"peak {peak:.1f} payloads"


def test_a_stream_of_full_size_partials_holds_at_most_two_payloads(payload, tmp_path):
    b64 = base64.b64encode(payload).decode()
    events = [{"type": "image_generation.partial_image", "b64_json": b64, "partial_image_index": i} for i in range(3)]
    events.append({"type": "image_generation.completed", "b64_json": b64, "usage": {"total_tokens": 3}})
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    peak, stored = peak_in_payloads(replay_app(body, b"text/event-stream"), "stream", 1, payload, tmp_path)
    assert stored == 1
    assert peak <= 2, f"peak {peak:.1f} payloads"


def test_a_responses_answer_is_spooled_as_an_images_answer_is(payload, tmp_path):
    """A Response object (the image in an output item's `result`) and its stream (`partial_image_b64`, then the
    item, then response.completed repeating it) peak as the Images API's JSON answer does: decoded as they arrive."""
    b64 = base64.b64encode(payload).decode()
    images = json.dumps({"created": 1, "data": [{"b64_json": b64}]}).encode()
    item = {"id": "ig_1", "type": "image_generation_call", "status": "completed", "result": b64}
    response = {"id": "resp_1", "object": "response", "status": "completed", "output": [item],
                "tool_usage": {"image_gen": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}}  # fmt: skip
    partials = [{"type": "response.image_generation_call.partial_image", "item_id": "ig_1", "partial_image_index": i,
                 "partial_image_b64": b64} for i in range(2)]  # fmt: skip
    events = [*partials, {"type": "response.output_item.done", "output_index": 0, "item": item},
              {"type": "response.completed", "response": response}]  # fmt: skip
    stream = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    json_app, stream_app = (
        replay_app(json.dumps(response).encode(), b"application/json"),
        replay_app(stream, b"text/event-stream"),
    )
    baseline, _ = peak_in_payloads(replay_app(images, b"application/json"), "images", 1, payload, tmp_path)
    answer, stored = peak_in_payloads(json_app, "responses", 1, payload, tmp_path)
    streamed, streamed_stored = peak_in_payloads(stream_app, "responses-stream", 1, payload, tmp_path)
    assert stored == streamed_stored == 1
    assert answer <= baseline + 0.5, f"Responses JSON {answer:.1f} payloads, Images JSON {baseline:.1f}"
    assert streamed <= baseline + 0.5, f"Responses stream {streamed:.1f} payloads, Images JSON {baseline:.1f}"


def test_a_data_url_or_a_chat_completion_is_spooled_as_b64_json_is(payload, tmp_path):
    """An Images answer's `url` as a data URL, a chat completion's image as a data URL
    (`message.images[].image_url.url`), as a Gemini-style inline part (`inline_data.data`), and in a chunk stream
    (`delta.images`) peak as the Images API's `b64_json` does. Before: 5.0, 5.0, 6.4 and 5.0 payloads."""
    b64 = base64.b64encode(payload).decode()
    images = json.dumps({"created": 1, "data": [{"b64_json": b64}]}).encode()
    url = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}}
    usage = {"prompt_tokens": 3, "completion_tokens": 1290, "completion_tokens_details": {"image_tokens": 1290}}
    message = {"role": "assistant", "content": "Here it is.", "images": [url]}
    answer = {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": message}], "usage": usage}
    inline = {"role": "assistant", "content": [{"inline_data": {"mime_type": "image/png", "data": b64}}]}
    parts = {**answer, "choices": [{"index": 0, "message": inline}]}
    chunks = [{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"images": [url]}}]},
              {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": usage}]  # fmt: skip
    stream = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
    baseline, _ = peak_in_payloads(replay_app(images, b"application/json"), "images", 1, payload, tmp_path)
    peaks = {}
    images_url = {"created": 1, "data": [{"url": f"data:image/png;base64,{b64}"}]}
    for name, app, kind in [
        ("Images data URL", replay_app(json.dumps(images_url).encode(), b"application/json"), "images"),
        ("data URL", replay_app(json.dumps(answer).encode(), b"application/json"), "chat"),
        ("inline part", replay_app(json.dumps(parts).encode(), b"application/json"), "chat"),
        ("stream", replay_app(stream, b"text/event-stream"), "chat-stream"),
    ]:
        peaks[name], stored = peak_in_payloads(app, kind, 1, payload, tmp_path)
        assert stored == 1, name
    over = {name: f"{peak:.1f}" for name, peak in peaks.items() if peak > baseline + 0.5}
    assert not over, f"peaks in payloads {over}, Images b64_json {baseline:.1f}"
