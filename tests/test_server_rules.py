"""The local server judges requests by the same catalog and answers as OpenAI does: a 400 with `param` set."""

from __future__ import annotations

import httpx
import pytest
from helpers.schemas import schema_errors

from imagemagic.request import ImageRequest


@pytest.fixture(scope="module")
def rules_url():
    """A local server that also serves two models the catalog does not know (judged by generic rules)."""
    from imagemagic.server import embedded

    url, server, thread = embedded.start(models=("local-diffusion", "gpt-image-3-nova"))
    yield url
    server.should_exit = True
    thread.join(5)


def post(server_url, body):
    return httpx.post(f"{server_url}/images/generations", json=body, timeout=30)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"prompt": "k", "model": "dall-e-3", "n": 2}, "n", "n=2 is out of range for dall-e-3: use 1"),
        ({"prompt": "k", "n": 11}, "n", "n=11 is out of range: use 1 to 10"),
        ({"prompt": "k", "n": "2"}, "n", "n='2' must be a whole number"),
        (
            {"prompt": "k", "size": "1536x856"},
            "size",
            "size=1536x856 does not fit gpt-image-2: both sides must be divisible by 16 — did you mean 1536x864?",
        ),
        (
            {"prompt": "k", "size": "3088x1024"},
            "size",
            "size=3088x1024 does not fit gpt-image-2: the aspect ratio must be between 1:3 and 3:1 "
            "— did you mean 3088x1040?",
        ),
        (
            {"prompt": "k", "model": "dall-e-2", "size": "1792x1024"},
            "size",
            "size=1792x1024 is not allowed for dall-e-2: use 256x256, 512x512, 1024x1024 — did you mean 1024x1024?",
        ),
        (
            {"prompt": "k", "model": "local-diffusion", "size": "big"},
            "size",
            "size='big' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto",
        ),
        (
            {"prompt": "k", "background": "transparent"},
            "background",
            "background='transparent' is not allowed for gpt-image-2: use opaque, auto"
            " (the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        (
            {"prompt": "k", "model": "gpt-image-1", "background": "transparent", "output_format": "jpeg"},
            "background",
            "background='transparent' needs output_format png or webp (it is jpeg)",
        ),
        (
            {"prompt": "k", "output_format": "jpeg", "output_compression": 101},
            "output_compression",
            "output_compression=101 is out of range: use 0 to 100",
        ),
        (
            {"prompt": "k", "quality": "max"},
            "quality",
            "quality='max' is not allowed for gpt-image-2: use low, medium, high, auto"
            " (the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        (
            {"prompt": "k", "model": "openai/dall-e-3", "style": "anime"},
            "style",
            "style='anime' is not allowed for dall-e-3: use vivid, natural",
        ),
        (
            {"prompt": "k", "response_format": "url"},
            "response_format",
            "response_format='url' is not supported by gpt-image-2: leave it out",
        ),
        (
            {"prompt": "k", "model": "dall-e-2", "stream": True},
            "stream",
            "stream=True is not supported by dall-e-2: leave it out",
        ),
        ({"prompt": "k", "partial_images": 2}, "partial_images", "partial_images=2 needs stream=True"),
        (
            {"prompt": "k", "stream": True, "partial_images": 4},
            "partial_images",
            "partial_images=4 is out of range for gpt-image-2: use 0 to 3",
        ),
        (
            {"prompt": "k", "moderation": "high"},
            "moderation",
            "moderation='high' is not allowed for gpt-image-2: use low, auto",
        ),
        (
            {"prompt": "x" * 1001, "model": "dall-e-2"},
            "prompt",
            "prompt is 1001 characters; dall-e-2 takes at most 1000",
        ),
        ({"prompt": " "}, "prompt", "prompt is empty: write what the image should show"),
        ({"prompt": 5}, "prompt", "prompt must be text"),
        ({"prompt": "k", "model": None}, "model", "model must name a model, e.g. gpt-image-2"),
    ],
)
def test_invalid_requests_get_openai_shaped_400s(rules_url, body, param, message):
    resp = post(rules_url, body)
    assert resp.status_code == 400
    assert resp.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": "invalid_value"}
    }
    assert schema_errors(resp.json(), "ErrorResponse") == []
    assert resp.headers["x-request-id"].startswith("req_")


def test_the_server_answers_with_the_first_of_the_problems_the_client_would_list(server_url):
    body = {"prompt": "k", "model": "dall-e-2", "quality": "hd", "style": "vivid"}
    first = ImageRequest.from_body(body).problems()[0]
    assert post(server_url, body).json()["error"]["param"] == first.param == "quality"


@pytest.mark.parametrize(
    ("body", "within_schema"),
    [
        (
            {
                "prompt": "k",
                "model": "dall-e-3",
                "size": "1792x1024",
                "quality": "hd",
                "style": "natural",
                "response_format": "b64_json",
            },
            True,
        ),
        ({"prompt": "k", "model": "openai/dall-e-2", "size": "256x256", "n": 2}, True),
        ({"prompt": "k", "output_format": "webp", "output_compression": 0, "moderation": "low"}, True),
        # beyond the schema's lagging enums: a free size echoed back, a served model's own quality echoed back
        ({"prompt": "k", "size": "1536x864"}, False),
        ({"prompt": "k", "model": "gpt-image-3-nova", "quality": "max", "size": "64x48"}, False),
    ],
)
def test_valid_and_unknown_model_requests_are_served(rules_url, body, within_schema):
    resp = post(rules_url, body)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["data"]) == body.get("n", 1)
    if within_schema:
        assert schema_errors(resp.json(), "ImagesResponse") == []
