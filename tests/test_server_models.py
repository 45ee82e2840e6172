"""The models the local server knows, one table: GET /v1/models and /v1/models/{id} (through the official SDK),
an unknown model answered as OpenAI answers it (404 model_not_found, nothing rendered) on every route, so the
client's stop rule is exercised offline, and the hook other routes register their models with."""

from __future__ import annotations

import httpx
import openai
import pytest
from helpers.images import image_bytes

import imagemagic
from imagemagic.errors import ImageMagicWarning
from imagemagic.server import models
from imagemagic.session import Session
from imagemagic.settings import Settings


def not_found(name):
    return {
        "error": {
            "message": f"The model `{name}` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


TOOL = {"type": "image_generation", "size": "1024x1024"}


@pytest.mark.parametrize(
    ("path", "options", "name"),
    [
        ("/images/generations", {"json": {"prompt": "a kite", "model": "ghost-model"}}, "ghost-model"),
        ("/images/generations", {"json": {"prompt": "a kite", "model": "ghost", "stream": True}}, "ghost"),
        ("/images/generations", {"json": {"prompt": "a kite", "model": "openai/ghost"}}, "openai/ghost"),
        ("/images/edits", {"data": {"prompt": "at night", "model": "ghost"},
                           "files": {"image": ("a.png", image_bytes((32, 32)), "image/png")}}, "ghost"),
        ("/responses", {"json": {"model": "ghost-5", "input": "a kite", "tools": [TOOL]}}, "ghost-5"),
        ("/responses", {"json": {"model": "gpt-5.5", "input": "a kite", "tools": [{**TOOL, "model": "ghost"}]}},
         "ghost"),
    ],
)  # fmt: skip
def test_an_unknown_model_is_a_404_model_not_found_and_nothing_is_rendered(server_url, rendered, path, options, name):
    resp = httpx.post(f"{server_url}{path}", timeout=30, **options)
    assert (resp.status_code, resp.json()) == (404, not_found(name))
    assert rendered == []


def test_one_model_is_retrieved_through_the_official_sdk(server_url):
    sdk = openai.OpenAI(base_url=server_url, api_key="any", max_retries=0)
    found = sdk.models.retrieve("gpt-image-1")
    assert (found.id, found.object, found.owned_by) == ("gpt-image-1", "model", "imagemagic-preview")
    assert found.to_dict()["shutdown_date"] == "2026-10-23"
    assert sdk.models.retrieve("openai/gpt-image-2").id == "gpt-image-2"  # a provider prefix: the name after it
    assert {"gpt-image-2", "dall-e-3", "gpt-5.5"} <= {m.id for m in sdk.models.list()}
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("ghost")
    assert (caught.value.status_code, caught.value.body) == (404, not_found("ghost")["error"])


class Counting(httpx.AsyncHTTPTransport):
    """A real HTTP transport that counts the image requests it sends, per model."""

    def __init__(self):
        super().__init__()
        self.sent = []

    async def handle_async_request(self, request):
        if request.url.path.endswith("/images/generations"):
            self.sent.append(request.content.split(b'"model":"')[1].split(b'"')[0].decode())
        return await super().handle_async_request(request)


MODELS = ["gpt-image-2", "ghost-model", "gpt-image-2.6-flare"]


def test_a_sweep_offline_stops_asking_for_an_unknown_model_after_one_answer():
    transport = Counting()
    session = Session(transport=transport)
    settings = Settings(offline=True, max_concurrency=1, max_retries=0, cache=False)
    try:
        with pytest.warns(ImageMagicWarning) as caught:
            result = imagemagic.sweep(
                "a {animal}", model=MODELS, animal=["fox", "owl"], settings=settings, session=session, progress=False
            )
    finally:
        session.close()
    assert sorted(transport.sent) == [
        "ghost-model",
        "gpt-image-2",
        "gpt-image-2",
        "gpt-image-2.6-flare",
        "gpt-image-2.6-flare",
    ]
    assert [run.sent for run in result] == [True, True, True, False, True, True]
    assert len(result.images) == 4
    assert [str(w.message) for w in caught if issubclass(w.category, ImageMagicWarning)] == [
        "stopped: HTTP 404 (type=invalid_request_error, code=model_not_found): The model `ghost-model` does not "
        f"exist or you do not have access to it. [request id {result[2].error.request_id}]; 1 request got this "
        "answer and 1 was not sent: no other request for ghost-model could get past it"
    ]


def test_a_route_registers_the_models_it_serves_and_an_app_can_serve_more(monkeypatch, start_server):
    monkeypatch.setattr(models, "TABLE", dict(models.TABLE))
    models.register("gemini-2.5-flash-image", owned_by="google")
    url = start_server(models=("house-model",))
    listed = {m["id"]: m["owned_by"] for m in httpx.get(f"{url}/models").json()["data"]}
    assert (listed["gemini-2.5-flash-image"], listed["house-model"], listed["gpt-image-2"]) == (
        "google",
        "imagemagic-preview",
        "imagemagic-preview",
    )
    assert httpx.get(f"{url}/models/google/gemini-2.5-flash-image").json()["id"] == "gemini-2.5-flash-image"
    for name in ("house-model", "gemini-2.5-flash-image"):
        resp = httpx.post(f"{url}/images/generations", json={"prompt": "k", "model": name, "size": "64x64"})
        assert resp.status_code == 200, resp.text
