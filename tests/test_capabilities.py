"""The capability layer over real HTTP (a scripted server on 127.0.0.1): what a model accepts, merged from
the catalog, the endpoint's /models entry and the user's overrides; defaults left out with one note,
explicit keys refused before sending, n split by the model's per-call limit."""

from __future__ import annotations

import json
import warnings

import pytest
from helpers.scripted import ok_body, reply

import imagemagic
from imagemagic import remote
from imagemagic.endpoint import Endpoint
from imagemagic.errors import ValidationError
from imagemagic.session import Session
from imagemagic.settings import Settings, prepare

KEY = "canary-key-0123456789abcdefABCDEF"
LISTING = {
    "data": [
        {
            "id": "acme/painter-1",
            "architecture": {"input_modalities": ["text"], "output_modalities": ["image", "text"]},
            "supported_parameters": ["size", "seed", "max_tokens"],
        },
        {"id": "acme/chatty", "architecture": {"output_modalities": ["text"]}, "supported_parameters": ["stream"]},
    ]
}


def bodies(server, path="/images/generations"):
    """The JSON bodies of the POSTs to `path` the server received, in order."""
    return [json.loads(body) for head, body in server.requests if head.startswith("POST") and path in head.split()[1]]


def headers(head):
    """A request head's headers by lower-case name."""
    lines = head.split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}


def _generate(settings, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = imagemagic.generate("a kite", settings=settings, session=Session(), cache=False, **params)
    return result, [str(w.message) for w in caught]


def test_a_default_the_endpoint_says_the_model_does_not_take_is_left_out_with_one_note(scripted):
    server = scripted(reply(body=LISTING), default=reply(body=ok_body()))
    remote.served(Endpoint(server.url, KEY))  # what --models --remote caches; a request reads the cache only
    settings = Settings(base_url=server.url, api_key=KEY, defaults={"model": "acme/painter-1", "quality": "high"})
    result, notes = _generate(settings)
    assert len(result) == 1
    assert bodies(server) == [{"prompt": "a kite", "model": "acme/painter-1"}]  # no quality, and never a null
    assert notes == ["acme/painter-1 does not take quality: the default quality='high' is left out"]


def test_a_key_given_for_the_call_that_the_model_does_not_take_is_refused_and_nothing_sent(scripted):
    server = scripted(reply(body=LISTING))
    remote.served(Endpoint(server.url, KEY))
    settings = Settings(base_url=server.url, api_key=KEY, defaults={"model": "acme/painter-1"})
    with pytest.raises(ValidationError) as caught:
        imagemagic.generate("a kite", settings=settings, session=Session(), quality="high")
    assert str(caught.value) == "quality='high' is not supported by acme/painter-1: leave it out"
    assert bodies(server) == [] and len(server.requests) == 1  # the /models look-up only


def test_overrides_win_over_the_catalog_and_split_n_into_calls_of_max_n(scripted):
    server = scripted(default=reply(body=ok_body()))
    overrides = {"gpt-image-2": {"max_n": 2, "quality": ["low"]}}
    settings = Settings(base_url=server.url, api_key=KEY, capabilities=overrides)
    with pytest.raises(ValidationError) as caught:
        prepare("a kite", {"quality": "high"}, settings=settings)
    assert str(caught.value) == (
        "quality='high' is not allowed for gpt-image-2: use low (the gpt-image-2.5 and gpt-image-2.6 families "
        "support it)"
    )
    imagemagic.generate("a kite", settings=settings, session=Session(), cache=False, n=5)
    assert sorted(body["n"] for body in bodies(server)) == [1, 2, 2]  # sent concurrently: in any order


def test_an_unknown_model_keeps_generic_checks_and_its_overrides_apply():
    settings = Settings(offline=True, capabilities={"house-model": {"takes": ["size"], "size": ["512x512"]}})
    assert prepare("a kite", {"model": "other-model", "quality": "high"}, settings=settings).request.quality == "high"
    with pytest.raises(ValidationError) as caught:
        prepare("a kite", {"model": "house-model", "size": "1024x1024", "style": "vivid"}, settings=settings)
    assert caught.value.problems[0].message == "size='1024x1024' is not allowed for house-model: use 512x512"
    assert caught.value.problems[1].message == "style='vivid' is not supported by house-model: leave it out"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"m": {"max_n": 0}}, "capabilities['m']: max_n=0 must be a whole number, 1 or more"),
        ({"m": {"api": "fax"}}, "capabilities['m']: api='fax' is not a dialect: use images, responses, chat"),
        ({"m": {"colour": 1}}, "capabilities['m']: 'colour' is neither a capability (api, takes, max_n, "
         "max_inputs, stream) nor a parameter"),
        ({"m": {"takes": ["sise"]}}, "capabilities['m']: takes must list parameter names (not ['sise'])"),
        (["m"], "capabilities must be a dict of model names to what each accepts, e.g. {'my-model': {'max_n': 1}}"),
    ],
)  # fmt: skip
def test_a_capabilities_setting_that_cannot_be_used_is_one_line(overrides, line):
    with pytest.raises(ValidationError) as caught:
        prepare("a kite", settings=Settings(offline=True, capabilities=overrides))
    assert str(caught.value) == line


def test_openrouters_listing_makes_its_image_models_chat_models_with_one_image_per_call(scripted):
    server = scripted(reply(body=LISTING))
    settings = Settings(base_url=server.url, api_key=KEY, profile="openrouter")
    plan = prepare("a kite", {"model": "acme/painter-1"}, settings=settings)
    again = prepare("a kite", {"model": "acme/painter-1"}, settings=settings)
    cap = plan.capability
    assert (cap.api, cap.max_n, cap.max_inputs, cap.sources) == ("chat", 1, 0, ("models",))
    assert again.capability == cap and len(server.requests) == 1  # fetched once, then cached for a day
    head = server.requests[0][0]
    assert head.startswith("GET /v1/models ") and headers(head)["authorization"] == f"Bearer {KEY}"
    assert prepare("a kite", settings=settings).capability.api == "chat"  # every image model goes through chat there


def test_an_unreadable_listing_leaves_the_catalog_with_one_warning(scripted):
    server = scripted(default=reply(500, body={"error": {"message": "down"}}))
    settings = Settings(base_url=server.url, api_key=KEY, profile="openrouter")
    plan, again = (prepare("a kite", settings=settings) for _ in range(2))
    assert plan.capability.sources == ("catalog",) and len(server.requests) == 1  # a sweep asks once, not per plan
    assert (
        plan.warnings[0]
        == again.warnings[0]
        == (
            "the model listing of 127.0.0.1 could not be read (HTTP 500: down [request id req_test]); the catalog's "
            "rules apply"
        )
    )


def test_config_refuses_a_capabilities_setting_that_cannot_be_used_in_one_line(ip):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        ip.run_line_magic("config", "ImageGenMagics.capabilities = {'m': {'max_n': 0}}")
    assert captured.stderr == (
        "UsageError: capabilities['m']: max_n=0 must be a whole number, 1 or more (ImageGenMagics keeps its settings)\n"
    )
    ip.run_line_magic("config", "ImageGenMagics.capabilities = {'m': {'max_n': 1}}")
    assert ip.magics_manager.registry["ImageGenMagics"].settings().capabilities == {"m": {"max_n": 1}}


def test_what_a_listing_entry_says_is_bounded_before_it_is_cached(tmp_path):
    import httpx

    noise = [f"p{i}" * 20 for i in range(1000)]
    entry = {
        "id": "acme/painter-1",
        "supported_parameters": [*noise, "size", "quality"],  # past the names read: not kept
        "architecture": {"input_modalities": noise, "output_modalities": ["image", *noise]},
    }
    body = json.dumps({"data": [entry]}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    remote.served(Endpoint("http://127.0.0.1:1/v1"), home=tmp_path, transport=transport)
    said = remote.described("http://127.0.0.1:1/v1", home=tmp_path)["acme/painter-1"]
    assert said["supported_parameters"] == []
    assert len(said["architecture"]["output_modalities"]) == remote.MAX_NAMES
    assert all(len(name) <= remote.MAX_NAME for name in said["architecture"]["input_modalities"])
