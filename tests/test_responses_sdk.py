"""The official openai SDK's responses.create with the image_generation tool against our real server: streamed
and not, a previous_response_id chain, refusals; every event and Response validates against the official
schemas, our own requests validate against CreateResponse, and the SDK's tool fields are ours."""

from __future__ import annotations

import base64

import openai
import pytest
from helpers.images import decoded
from helpers.schemas import RESPONSES_SCHEMA, schema_errors
from openai import OpenAI

import imagemagic
from imagemagic import Settings

KEY = "test-endpoint-key-sdk-responses"
TOOL = {"type": "image_generation", "size": "1536x1024", "quality": "low", "partial_images": 2}


def _errors(instance, definition):
    return schema_errors(instance, definition, RESPONSES_SCHEMA)


def _wire(model):
    """The model as it came off the wire: the fields the server sent, none the SDK added."""
    return model.model_dump(mode="json", exclude_unset=True)


@pytest.fixture
def sdk(start_server):
    return OpenAI(base_url=start_server(api_key=KEY), api_key=KEY, max_retries=0)


def test_a_streamed_chain(sdk):
    stream = sdk.responses.create(model="gpt-5.5", input="a red fox in the snow", tools=[TOOL], stream=True)
    events = list(stream)
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed",
        "response.output_item.done",
        "response.completed",
    ]
    for event in events:
        assert _errors(_wire(event), "ResponseStreamEvent") == [], event.type
    assert [e.sequence_number for e in events] == list(range(len(events)))
    partials = [e for e in events if e.type.endswith("partial_image")]
    assert [e.partial_image_index for e in partials] == [0, 1]
    assert decoded(base64.b64decode(partials[0].partial_image_b64)).size == (1536, 1024)
    assert "result" not in _wire(events[7])  # .completed carries no image
    done, completed = events[8], events[9].response
    assert done.item.type == "image_generation_call" and done.item.result == completed.output[0].result
    assert _errors(_wire(completed), "Response") == []
    assert completed.tool_usage.image_gen.output_tokens > 0 and completed.usage.input_tokens > 0

    second = sdk.responses.create(
        model="gpt-5.5",
        input="now at night, under the northern lights",
        tools=[TOOL],
        stream=True,
        previous_response_id=completed.id,
    )
    events = list(second)
    for event in events:
        assert _errors(_wire(event), "ResponseStreamEvent") == [], event.type
    final = events[-1].response
    assert final.previous_response_id == completed.id
    assert final.tool_usage.image_gen.input_tokens_details.image_tokens > 0  # the earlier image went in
    assert final.usage.input_tokens > completed.usage.input_tokens  # the conversation is read again


def test_not_streamed(sdk):
    answer = sdk.responses.create(
        model="gpt-5.5", input="a kite", tools=[{"type": "image_generation", "output_format": "webp"}]
    )
    assert _errors(_wire(answer), "Response") == []
    assert decoded(base64.b64decode(answer.output[0].result)).format == "WEBP"
    again = sdk.responses.create(
        model="gpt-5.5",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "make it red"}]}],
        tools=[{"type": "image_generation"}],
        previous_response_id=answer.id,
    )
    assert _errors(_wire(again), "Response") == [] and again.output[0].status == "completed"


def test_refusals_are_the_sdk_error_classes(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model="gpt-5.5", input="x", tools=[{"type": "image_generation"}], previous_response_id="resp_gone"
        )
    assert info.value.body["message"] == "Previous response with id 'resp_gone' not found."
    assert schema_errors({"error": info.value.body}, "ErrorResponse") == []  # the API's error shape
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="gpt-5.5", input="x", tools=[{"type": "image_generation", "size": "7x7"}])
    assert info.value.body["param"] == "size"


def test_our_requests_are_valid_and_the_sdks_tool(recorder):
    """Our bodies validate against CreateResponse, and the SDK and we send the same tool, input and model."""
    base = recorder.base + "/v1"
    tool = {"type": "image_generation", "model": "gpt-image-2", "size": "1024x1536", "quality": "high"}
    OpenAI(base_url=base, api_key=KEY).responses.create(
        model="gpt-5.5", input="a fox", tools=[tool], tool_choice={"type": "image_generation"}
    )
    imagemagic.generate("a fox", api="responses", size="1024x1536", quality="high", base_url=base, api_key=KEY)
    theirs, ours = (r["body"] for r in recorder.requests)
    assert ours == theirs
    continued = imagemagic.refine(
        imagemagic.history(1)[0], "at night", settings=Settings(base_url=base, api_key=KEY, api="responses")
    )
    assert continued.request.previous_response_id == "resp_rec2"
    for sent in recorder.requests[1:]:
        assert _errors(sent["body"], "CreateResponse") == []
    assert recorder.requests[2]["body"]["previous_response_id"] == "resp_rec2"
    assert recorder.requests[2]["body"]["tools"] == [tool]  # the step keeps the model, size and quality


def test_an_edit_with_a_mask_streamed_is_a_valid_create_response(recorder):
    from helpers.images import image_bytes

    from imagemagic import mask_from

    imagemagic.edit(
        "night",
        image=[image_bytes((64, 64)), image_bytes((64, 64), fmt="JPEG")],
        mask=mask_from((0, 0, 8, 8), size=(64, 64)),
        api="responses",
        stream=True,
        partial_images=1,
        model="gpt-image-1.5",
        input_fidelity="high",
        base_url=recorder.base + "/v1",
        api_key=KEY,
    )
    body = recorder.requests[0]["body"]
    # OpenAPI tells a message's kind by its discriminator; JSON Schema's oneOf has none, and a message matches both
    # EasyInputMessage and InputMessage, so the whole list fails as ambiguous: the message is checked as the
    # EasyInputMessage it is (what the SDK's input=[{"role", "content"}] sends), the rest of the body as is.
    assert _errors({**body, "input": "night"}, "CreateResponse") == []
    assert [_errors(message, "EasyInputMessage") for message in body["input"]] == [[]]
    assert body["stream"] is True and body["tools"][0]["input_fidelity"] == "high"
    assert body["tools"][0]["input_image_mask"]["image_url"].startswith("data:image/png;base64,")
    assert [part["type"] for part in body["input"][0]["content"]] == ["input_text", "input_image", "input_image"]
