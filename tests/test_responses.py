"""The Responses API's image tool from our side: its rules before sending, streams into the same slots, usage
and cost apart from the mainline model, refinement chains over both APIs, and the local server's /v1/responses."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from helpers.images import decoded
from helpers.warned import said as warned

import imagemagic
from imagemagic import Settings, ValidationError
from imagemagic.progress import Status
from imagemagic.responses_client import billed_apart
from imagemagic.server.responses import Turn, Turns
from imagemagic.usage import cost, price_for

KEY = "test-endpoint-key-responses"


def _settings(url, **options):
    return Settings(base_url=url, **options)


def test_tool_rules_refuse_before_sending(recorder):
    """What the image tool does not take is refused in one line each, and nothing reaches the server."""
    base = {"api": "responses", "base_url": recorder.base + "/v1", "api_key": KEY}
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", n=2, **base)
    assert str(info.value) == "n=2: the Responses API's image tool makes one image per call: use n=1, or api='images'"
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", model="gpt-image-2.6", output_format="gif", frame_count=4, **base)
    assert str(info.value) == (
        "frame_count=4 is not taken by the Responses API's image tool: leave it out, or use api='images'; "
        "output_format='gif' is not taken by the Responses API's image tool: use png, webp, jpeg, or api='images'"
    )
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", model="gpt-image-2.6", complexity="high", **base)
    assert str(info.value) == (
        "complexity='high' is not taken by the Responses API's image tool: leave it out, or use api='images'"
    )
    assert recorder.requests == []
    imagemagic.generate("a fox", model="gpt-image-2.6", complexity="high", base_url=base["base_url"], api_key=KEY)
    assert recorder.requests[0]["path"] == "/v1/images/generations"  # the same request goes over the Images API


def test_tool_rules_verbatim(recorder):
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", api="responses", stream=True, base_url=recorder.base + "/v1", api_key=KEY)
    assert str(info.value) == (
        "stream=True over the Responses API needs partial_images 1-3 (it streams partial images, then the final one)"
    )
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", api="responses", model="dall-e-3", base_url=recorder.base + "/v1", api_key=KEY)
    assert str(info.value) == (
        "model=dall-e-3 cannot be the Responses API's image tool (it takes GPT image models, e.g. gpt-image-2): "
        "choose one, or use api='images'"
    )
    with pytest.raises(ValidationError) as info:
        imagemagic.generate("a fox", api="sideways", base_url=recorder.base + "/v1", api_key=KEY)
    assert str(info.value) == "api='sideways' is not an API of imagemagic: use images, responses or chat"
    assert recorder.requests == []


def test_the_body_on_the_wire(recorder):
    """POST /v1/responses: the mainline model, the prompt, the tool with the request's parameters, forced."""
    result = imagemagic.generate(
        "a red fox", api="responses", size="1536x1024", quality="low", base_url=recorder.base + "/v1", api_key=KEY
    )
    sent = recorder.requests[0]
    assert sent["path"] == "/v1/responses"
    assert sent["body"] == {
        "model": "gpt-5.5",
        "input": "a red fox",
        "tools": [{"type": "image_generation", "model": "gpt-image-2", "size": "1536x1024", "quality": "low"}],
        "tool_choice": {"type": "image_generation"},
    }
    assert result.images[0].response_id == "resp_rec1" and result.images[0].image_call_id == "ig_rec1"


def test_usage_and_cost_count_the_image_tool(recorder):
    """The cost is the image tool's tokens at the image model's prices; the mainline tokens are named apart."""
    result = imagemagic.generate("a fox", api="responses", base_url=recorder.base + "/v1", api_key=KEY)
    assert result.usage["input_tokens"] == 3 and result.usage["output_tokens"] == 7
    assert result.usage["mainline"] == {"input_tokens": 50, "output_tokens": 20, "total_tokens": 70}
    image_only = {k: v for k, v in result.usage.items() if k != "mainline"}
    assert result.cost == pytest.approx(cost(image_only, price_for("gpt-image-2")))
    assert billed_apart(result) == (
        "plus gpt-5.5's 50 input and 20 output tokens, billed at its own rates (not in this estimate)"
    )


def test_stream_updates_the_same_slot(server_url):
    """Partial images and the final one arrive for slot 0, partial indexes 0-based, with the response's ids."""
    events = []
    result = imagemagic.generate(
        "a lighthouse",
        api="responses",
        size="1024x1024",
        stream=True,
        partial_images=2,
        on_event=events.append,
        settings=_settings(server_url),
    )
    images = [e for e in events if not isinstance(e, Status)]
    assert [(img.index, img.partial, img.partial_index) for img in images] == [
        (0, True, 0),
        (0, True, 1),
        (0, False, None),
    ]
    final = result.images[0]
    assert final.response_id.startswith("resp_") and final.image_call_id.startswith("ig_")
    assert {img.response_id for img in images} == {final.response_id}
    assert decoded(final.data).size == (1024, 1024)
    meta = json.loads(result.files[0].with_suffix(".json").read_text())
    assert (meta["response_id"], meta["image_call_id"]) == (final.response_id, final.image_call_id)
    assert meta["usage"]["output_tokens"] == result.usage["output_tokens"] > 0  # the image tool's, from .completed
    assert meta["parameters"]["api"] == "responses" and meta["parameters"]["responses_model"] == "gpt-5.5"


def test_an_edit_over_responses_sends_input_images(recorder):
    from helpers.images import image_bytes

    imagemagic.edit("night", image=image_bytes((64, 64)), api="responses", base_url=recorder.base + "/v1", api_key=KEY)
    content = recorder.requests[0]["body"]["input"][0]["content"]
    assert content[0] == {"type": "input_text", "text": "night"}
    assert content[1]["type"] == "input_image" and content[1]["image_url"].startswith("data:image/png;base64,")


def test_a_chain_over_both_apis(server_url):
    """generate → refine (responses: the conversation continues) → refine (images: an edit) is a three-step chain."""
    settings = _settings(server_url)
    first = imagemagic.generate("a red fox", api="responses", size="1536x1024", settings=settings)
    second = first.refine("now at night", api="responses", settings=settings)
    third = second.refine("under the northern lights", api="images", settings=settings)
    assert second.request.previous_response_id == first.images[0].response_id
    assert third.request.operation == "edit" and third.request.images[0].data == second.images[0].data
    assert decoded(third.images[0].data).size == (1536, 1024)  # the chain keeps the first step's size
    chain = imagemagic.history(chain=third)
    assert [e.prompt for e in chain] == ["a red fox", "now at night", "under the northern lights"]
    assert [e.meta.get("parent") for e in chain][0] is None
    assert chain[1].parent.path == chain[0].path and chain[2].parent.path == chain[1].path
    assert [e.meta["response_id"] for e in chain[:2]] == [first.images[0].response_id, second.images[0].response_id]
    assert [e.path for e in chain[2].chain()] == [e.path for e in chain]
    assert repr(chain) == "<Chain of 3 steps>"
    assert chain._repr_mimebundle_()["image/png"]  # shown as a strip of its steps


def test_refine_from_a_history_entry_with_images(server_url):
    settings = _settings(server_url)
    first = imagemagic.generate("a kite", settings=settings)
    entry = imagemagic.history(1)[0]
    assert entry.path == first.files[0]
    step = imagemagic.refine(entry, "a red kite", settings=settings)
    assert imagemagic.history(chain=step)[0].path == entry.path


def test_a_partial_or_foreign_source_is_refused():
    with pytest.raises(ValidationError) as info:
        imagemagic.refine("not an image", "x")
    assert str(info.value) == "str cannot be refined: give an ImageResult, one of its images, or a history entry"
    with pytest.raises(ValidationError) as info:
        imagemagic.history(chain=42)
    assert str(info.value) == "42 is not an image in the history: give a history entry or a result"


def test_the_continued_turn_carries_the_earlier_image_on(server_url):
    """The preview renders a continued turn as an edit of the previous image: closer to it than a fresh image."""
    from PIL import ImageChops, ImageStat

    settings = _settings(server_url, api="responses")
    first = imagemagic.generate("a red fox in the snow", settings=settings)
    continued = first.refine("at night", settings=settings)
    fresh = imagemagic.generate("at night", settings=settings)

    def distance(a, b):
        return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean)

    assert distance(continued[0], first[0]) < distance(fresh[0], first[0])


def test_unknown_previous_response_is_a_400(server_url):
    answer = httpx.post(
        server_url + "/responses",
        json={
            "model": "gpt-5.5",
            "input": "x",
            "tools": [{"type": "image_generation"}],
            "previous_response_id": "resp_nowhere",
        },
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "Previous response with id 'resp_nowhere' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }


def test_an_unknown_previous_response_reaches_the_user_as_one_line(server_url):
    from imagemagic.result import GeneratedImage

    settings = _settings(server_url, api="responses")
    first = imagemagic.generate("a fox", settings=settings)
    img = first.images[0]
    orphan = GeneratedImage.from_bytes(img.data, response_id="resp_forgotten")
    with pytest.raises(imagemagic.BadRequestError) as info:
        imagemagic.refine(orphan, "at night", settings=settings)
    assert re.sub(r"req_\w+", "req_X", str(info.value)) == (
        "HTTP 400 (type=invalid_request_error, param=previous_response_id, code=previous_response_not_found): "
        "Previous response with id 'resp_forgotten' not found. [request id req_X]"
    )


def test_server_state_is_bounded():
    turns = Turns(limit=2, max_bytes=10)
    for n in range(3):
        turns.add(Turn(f"resp_{n}", f"ig_{n}", b"1234", 0))
    assert len(turns) == 2 and turns.get("resp_0") is None and turns.by_call("ig_0") is None
    turns.add(Turn("resp_big", "ig_big", b"x" * 9, 0))
    assert len(turns) == 1 and turns.bytes == 9 and turns.get("resp_big") is not None


def test_stream_needs_partial_images_on_the_server(server_url):
    body = {"model": "gpt-5.5", "input": "x", "tools": [{"type": "image_generation"}], "stream": True}
    answer = httpx.post(server_url + "/responses", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Streaming with the image_generation tool needs partial_images 1-3."


def test_a_batch_over_the_responses_api_is_refused_before_sending(recorder):
    with pytest.raises(ValidationError) as info:
        imagemagic.submit_batch(
            ["a fox", "a kite"], settings=Settings(base_url=recorder.base + "/v1", api_key=KEY, api="responses")
        )
    line = "api='responses' cannot be a Batch API line: batch lines are Images API requests (use api='images')"
    assert str(info.value) == f"request 1: {line}; request 2: {line}"
    assert recorder.requests == []


def test_an_earlier_image_call_as_an_input_item(server_url):
    """The other way to go on: pass the earlier image_generation_call item (by id) instead of previous_response_id."""
    tools = [{"type": "image_generation", "size": "1024x1024"}]
    first = httpx.post(server_url + "/responses", json={"model": "gpt-5.5", "input": "a fox", "tools": tools}).json()
    call = first["output"][0]
    body = {
        "model": "gpt-5.5",
        "input": [{"type": "image_generation_call", "id": call["id"]}, {"role": "user", "content": "make it red"}],
        "tools": tools,
    }
    second = httpx.post(server_url + "/responses", json=body).json()
    assert second["output"][0]["action"] == "edit"
    assert second["tool_usage"]["image_gen"]["input_tokens_details"]["image_tokens"] > 0
    body["input"][0]["id"] = "ig_unknown"
    refused = httpx.post(server_url + "/responses", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Item with id 'ig_unknown' not found."


def test_a_stream_cut_off_after_the_final_image_keeps_it(scripted):  # noqa: F811
    """The final bytes came in response.output_item.done; the stream ends before response.completed."""
    from helpers.scripted import event, png_b64, stream

    final = png_b64(colour=(1, 2, 3))
    created = {"id": "resp_cut", "object": "response", "status": "in_progress", "output": []}
    item = {"id": "ig_cut", "type": "image_generation_call", "status": "completed", "result": final}
    server = scripted(
        stream(
            event("response.created", response=created, sequence_number=0),
            event("response.output_item.done", output_index=0, item=item, sequence_number=1),
        )
    )
    result = imagemagic.generate("a fox", api="responses", base_url=server.url, api_key=KEY)
    assert result.images[0].wire_b64 == final
    assert (result.images[0].response_id, result.images[0].image_call_id) == ("resp_cut", "ig_cut")
    assert result.files  # stored in the history too


def test_a_response_without_an_image_says_what_the_model_answered(scripted):  # noqa: F811
    from helpers.scripted import reply

    said = {"type": "message", "content": [{"type": "output_text", "text": "I cannot draw that."}]}
    body = {"id": "resp_no", "object": "response", "status": "completed", "output": [said]}
    server = scripted(reply(body=body))
    with pytest.raises(imagemagic.TransportError) as info:
        imagemagic.generate("a fox", api="responses", base_url=server.url, api_key=KEY)
    assert str(info.value) == (
        "the response (completed) holds no generated image; the model answered: 'I cannot draw that.'"
    )


def test_a_stream_of_two_images_keeps_both_and_says_so(scripted):  # noqa: F811
    """Two image_generation_call items in one stream (the model called the tool twice, each call billed): both
    are kept and stored (the first was lost to the second), said in one line, the response's usage counted once."""
    from helpers.scripted import event, png_b64, stream

    first, second = png_b64(colour=(1, 2, 3)), png_b64(colour=(4, 5, 6))
    created = {"id": "resp_two", "object": "response", "status": "in_progress", "output": []}
    items = [{"id": f"ig_{i}", "type": "image_generation_call", "status": "completed", "result": b64}
             for i, b64 in enumerate((first, second))]  # fmt: skip
    done = {**created, "status": "completed", "output": items, "tool_usage": {"image_gen": {"input_tokens": 7}}}
    server = scripted(
        stream(
            event("response.created", response=created, sequence_number=0),
            event("response.output_item.done", output_index=0, item=items[0], sequence_number=1),
            event("response.output_item.done", output_index=1, item=items[1], sequence_number=2),
            event("response.completed", response=done, sequence_number=3),
        )
    )
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        result = imagemagic.generate("a fox", api="responses", base_url=server.url, api_key=KEY)
    assert [img.wire_b64 for img in result.images] == [first, second]
    assert [img.image_call_id for img in result.images] == ["ig_0", "ig_1"] and len(result.files) == 2
    assert result.usage["input_tokens"] == 7 and result.images[0].usage["input_tokens"] == 7
    assert warned(said) == ["the model made 2 images for n=1: all are kept (each image call is billed)"]


def test_a_response_of_many_image_calls_keeps_a_bounded_few(scripted):  # noqa: F811
    """Six image_generation_call items in one Response object: TOOL_CALLS (4) kept and stored, 2 said and never
    written to disk."""
    from helpers.scripted import png_b64, reply

    from imagemagic.responses_client import TOOL_CALLS

    items = [{"id": f"ig_{i}", "type": "image_generation_call", "status": "completed", "result": png_b64()}
             for i in range(6)]  # fmt: skip
    body = {"id": "resp_six", "object": "response", "status": "completed", "output": items}
    server = scripted(reply(body=body))
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        result = imagemagic.generate("a fox", api="responses", base_url=server.url, api_key=KEY)
    assert len(result.images) == len(result.files) == TOOL_CALLS == 4
    assert warned(said) == ["the server sent 6 images for n=1: kept 4, ignored 2"]
