"""The official openai SDK's images.edit against `imagemagic serve`: one image, several with a mask, and a
stream with partial images; every answer and event validates against the official schemas."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time

import openai
import pytest
from helpers.images import decoded, image_bytes
from helpers.schemas import schema_errors
from openai import OpenAI

from imagemagic import mask_from

KEY = "test-endpoint-key-sdk-edits"


@pytest.fixture(scope="module")
def served():
    """`imagemagic serve` in a subprocess on a free port, with a key; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagemagic", "serve", "--port", str(port), "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(10)


def _decoded_size(b64):
    return decoded(base64.b64decode(b64)).size


def test_single_image(served):
    sdk = OpenAI(base_url=served, api_key=KEY)
    answer = sdk.images.edit(
        image=("hero.png", image_bytes((300, 200)), "image/png"), prompt="at night", size="1536x1024"
    )
    body = answer.model_dump(exclude_none=True)
    assert schema_errors(body, "ImagesResponse") == []
    assert _decoded_size(answer.data[0].b64_json) == (1536, 1024)
    assert answer.usage.input_tokens_details.image_tokens > 0


def test_several_images_with_a_mask(served):
    sdk = OpenAI(base_url=served, api_key=KEY)
    images = [
        ("a.png", image_bytes((128, 128)), "image/png"),
        ("b.jpg", image_bytes((64, 64), fmt="JPEG"), "image/jpeg"),
        ("c.webp", image_bytes((32, 32), fmt="WEBP"), "image/webp"),
    ]
    mask = ("m.png", mask_from((0, 0, 64, 64), size=(128, 128)), "image/png")
    answer = sdk.images.edit(image=images, mask=mask, prompt="combine them", n=2, size="1024x1536", quality="low")
    assert schema_errors(answer.model_dump(exclude_none=True), "ImagesResponse") == []
    assert [_decoded_size(d.b64_json) for d in answer.data] == [(1024, 1536)] * 2
    assert answer.quality == "low" and answer.size == "1024x1536"


def test_stream_with_partial_images(served):
    sdk = OpenAI(base_url=served, api_key=KEY)
    stream = sdk.images.edit(
        image=("hero.png", image_bytes((64, 64)), "image/png"),
        prompt="aurora",
        size="1024x1024",
        stream=True,
        partial_images=2,
    )
    events = [event.model_dump(exclude_none=True) for event in stream]
    assert [e["type"] for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    for event in events:
        assert schema_errors(event, "ImageEditStreamEvent") == []
        assert _decoded_size(event["b64_json"]) == (1024, 1024)
    assert [e.get("partial_image_index") for e in events[:2]] == [0, 1]


def test_refusals_are_the_sdk_error_classes(served):
    import openai

    sdk = OpenAI(base_url=served, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(
            image=("hero.png", image_bytes((64, 64)), "image/png"),
            mask=("m.png", image_bytes((64, 64)), "image/png"),
            prompt="x",
        )
    assert info.value.body["message"] == (
        "the mask has no alpha channel: transparent pixels mark what to edit (imagemagic.mask_from makes one)"
    )
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=served, api_key="wrong", max_retries=0).images.edit(
            image=("hero.png", image_bytes((64, 64)), "image/png"), prompt="x"
        )


def test_our_parts_are_the_sdks(recorder):
    """The same edit from the SDK and from us reaches a recording server as the same parts and fields."""
    import imagemagic

    images = [image_bytes((64, 64)), image_bytes((64, 64), fmt="JPEG")]
    mask = mask_from((0, 0, 8, 8), size=(64, 64))
    sdk = OpenAI(base_url=recorder.base + "/v1", api_key=KEY)
    sdk.images.edit(
        image=[("image1.png", images[0], "image/png"), ("image2.jpg", images[1], "image/jpeg")],
        mask=("mask.png", mask, "image/png"),
        prompt="night",
        model="gpt-image-2",
        n=2,
    )
    imagemagic.edit("night", image=images, mask=mask, n=2, base_url=recorder.base + "/v1", api_key=KEY)
    theirs, ours = (
        [(p["name"], p.get("filename"), p.get("content_type")) for p in r["parts"]] for r in recorder.requests
    )
    assert sorted(ours) == sorted(theirs)
    assert recorder.requests[0]["body"] == recorder.requests[1]["body"]


def test_input_fidelity_reaches_the_models_that_take_it_and_only_those(served):
    sdk = OpenAI(base_url=served, api_key=KEY, max_retries=0)
    image = ("hero.png", image_bytes((64, 64)), "image/png")
    answer = sdk.images.edit(image=image, prompt="at night", model="gpt-image-1", input_fidelity="high")
    assert len(answer.data) == 1  # the server judges by the same catalog row as the client
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.images.edit(image=image, prompt="at night", model="gpt-image-2", input_fidelity="high")
    assert refused.value.body["message"] == "input_fidelity='high' is not supported by gpt-image-2: leave it out"
