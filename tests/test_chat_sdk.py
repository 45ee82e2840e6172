"""The official openai SDK's chat.completions.create against our local server's image route (parsed as the SDK
parses it, streamed and not, under /v1 and OpenRouter's /api/v1), and our chat request body equal to the SDK's."""

from __future__ import annotations

import base64

import openai
import pytest
from helpers.images import decoded
from openai import OpenAI

import imagemagic

KEY = "test-endpoint-key-sdk-chat"
MODEL = "google/gemini-2.5-flash-image"
IMAGE_BODY = {"modalities": ["image", "text"], "image_config": {"aspect_ratio": "16:9"}}


def _png(url: str):
    head, _, payload = url.partition(",")
    assert head == "data:image/png;base64"
    return decoded(base64.b64decode(payload))


@pytest.mark.parametrize("root", ["/v1", "/api/v1"])
def test_the_sdk_parses_our_chat_image_answer(start_server, root):
    base = start_server(api_key=KEY).removesuffix("/v1") + root
    sdk = OpenAI(base_url=base, api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": "a lighthouse at dusk"}]
    answer = sdk.chat.completions.create(model=MODEL, messages=messages, extra_body=IMAGE_BODY)
    assert answer.object == "chat.completion" and answer.choices[0].finish_reason == "stop"
    message = answer.choices[0].message.model_dump()
    assert _png(message["images"][0]["image_url"]["url"]).size == (1344, 768)
    assert answer.usage.completion_tokens == 1290 and answer.usage.model_dump()["cost"] > 0


def test_the_sdk_reads_our_chunk_stream(start_server):
    sdk = OpenAI(base_url=start_server(api_key=KEY), api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": "a lighthouse"}]
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=messages, stream=True, extra_body=IMAGE_BODY))
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    images = [i for c in chunks for i in (c.choices[0].delta.model_dump().get("images") or [])]
    assert len(images) == 1 and _png(images[0]["image_url"]["url"]).size == (1344, 768)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens > 0


def test_refusals_are_the_sdk_error_classes(start_server):
    sdk = OpenAI(base_url=start_server(api_key=KEY), api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["message"] == 'This server answers with images: set modalities to ["image", "text"].'
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], extra_body={**IMAGE_BODY, "image_config": 7}
        )
    assert info.value.body["param"] == "image_config"


def test_our_chat_body_is_the_sdks(recorder):
    """For the same call (a prompt and an input image, a 16:9 aspect), we send what the SDK sends."""
    from helpers.images import image_bytes

    from imagemagic.edits import data_url
    from imagemagic.inputimage import InputImage

    base, picture = recorder.base + "/v1", image_bytes((32, 32))
    content = [
        {"type": "text", "text": "make it blue"},
        {"type": "image_url", "image_url": {"url": data_url(InputImage(picture))}},
    ]
    OpenAI(base_url=base, api_key=KEY, max_retries=0).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], extra_body=IMAGE_BODY
    )
    with pytest.raises(imagemagic.ImageMagicError):  # the recorder answers no chat completion; the body is sent
        imagemagic.edit("make it blue", image=picture, model=MODEL, size="16:9", base_url=base, api_key=KEY)
    theirs, ours = (r for r in recorder.requests)
    assert ours["path"] == theirs["path"] == "/v1/chat/completions"
    assert ours["body"] == theirs["body"]
