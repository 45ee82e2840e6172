"""The installed official SDK's request fields against our parameter table, and what it sends against our server:
every field of images.generate, images.edit and the Responses image tool is a row of params.PARAMS (or named
here as not ours yet, with why), and a request the SDK sends with the newest fields is answered, not refused."""

from __future__ import annotations

import typing

import pytest
from helpers.images import image_bytes
from openai import OpenAI
from openai.types import image_edit_params, image_generate_params
from openai.types.responses import tool

import imagemagic
from imagemagic.catalog import IMAGE_TOOL
from imagemagic.params import BY_NAME, for_operation

KEY = "test-endpoint-key-sdk-fields"

# The SDK's fields that are not rows of the table, and why: the operation's own inputs, or not built yet.
NOT_ROWS = {
    "generate": {"prompt": "the prompt", "svg": "an object (svg.model, svg.reasoning): extra_body carries it"},
    "edit": {
        "prompt": "the prompt",
        "image": "the input images (inputs.py)",
        "mask": "the mask (inputs.py)",
        "markup": "a guiding PNG file for gpt-image-2.5 edits: not built yet",
        "svg": "an object (svg.model, svg.reasoning): extra_body carries it",
        "frame_count": "GIF edits: not built yet (a generate-only row)",
        "frame_duration_ms": "GIF edits: not built yet (a generate-only row)",
    },
    "responses": {
        "type": "the tool's type",
        "action": "chosen by the request",
        "input_image_mask": "the mask",
        "svg": "an object: not built yet",
        "complexity": "not built yet: refused over the Responses API in one line",
        "frame_count": "GIFs over the Responses API: not built yet, refused in one line",
        "frame_duration_ms": "GIFs over the Responses API: not built yet, refused in one line",
    },
}


def _fields(typed_dict) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


@pytest.mark.parametrize(
    ("operation", "sdk_fields"),
    [
        ("generate", _fields(image_generate_params.ImageGenerateParamsBase)),
        ("edit", _fields(image_edit_params.ImageEditParamsBase)),
        ("responses", set(tool.ImageGeneration.model_fields)),
    ],
)
def test_every_sdk_request_field_is_a_row_of_our_table(operation, sdk_fields):
    ours = {p.name for p in for_operation("edit" if operation == "edit" else "generate") if p.wire}
    if operation == "responses":
        ours = set(IMAGE_TOOL.takes)
    assert sdk_fields - ours - set(NOT_ROWS[operation]) == set()
    assert set(NOT_ROWS[operation]) <= sdk_fields  # nothing named here that the SDK no longer has


def test_safety_identifier_from_the_sdk_is_answered_on_every_route(start_server):
    sdk = OpenAI(base_url=start_server(api_key=KEY), api_key=KEY, max_retries=0)
    made = sdk.images.generate(prompt="a kite", size="1024x1024", safety_identifier="user-hash-1")
    assert len(made.data) == 1
    image = ("kite.png", image_bytes((64, 64)), "image/png")
    edited = sdk.images.edit(image=image, prompt="at night", safety_identifier="user-hash-1")
    assert len(edited.data) == 1
    tool_call = {"type": "image_generation", "quality": "low"}
    answer = sdk.responses.create(model="gpt-5.5", input="a kite", tools=[tool_call], safety_identifier="user-hash-1")
    assert answer.status == "completed"


def test_safety_identifier_is_sent_where_each_api_carries_it(recorder):
    at = {"base_url": recorder.base + "/v1", "api_key": KEY, "safety_identifier": "user-hash-2", "size": "1024x1024"}
    imagemagic.generate("a kite", **at)
    imagemagic.generate("a kite", api="responses", **at)
    images, responses = (request["body"] for request in recorder.requests)
    assert images["safety_identifier"] == responses["safety_identifier"] == "user-hash-2"
    assert "safety_identifier" not in responses["tools"][0]  # the Responses API takes it beside the model
    assert BY_NAME["safety_identifier"].operations == ("generate", "edit")
