"""Gateway profiles over real HTTP (a scripted server on 127.0.0.1): the wire bytes each profile sends
(path, auth header, query), chosen from the base URL or Settings.profile, and the one line for a bad one."""

from __future__ import annotations

import pytest
from helpers.scripted import ok_body, reply

import imagemagic
from imagemagic.endpoint import Endpoint, headers_for, resolve
from imagemagic.errors import ValidationError
from imagemagic.profiles import detect
from imagemagic.session import Session
from imagemagic.settings import Settings, prepare

KEY = "canary-key-0123456789abcdefABCDEF"


def headers(head):
    """A request head's headers by lower-case name."""
    lines = head.split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}


def sent(server, base, profile):
    imagemagic.generate("a kite", settings=Settings(base_url=base, api_key=KEY, profile=profile), session=Session())
    head = server.requests[-1][0]
    return head.split("\r\n")[0], headers(head)


def test_azure_v1_takes_the_key_as_api_key_under_openai_v1_and_no_api_version(scripted):
    server = scripted(default=reply(body=ok_body()))
    base = server.url.replace("/v1", "/openai/v1")
    line, head = sent(server, base, "azure")
    assert line == "POST /openai/v1/images/generations HTTP/1.1"  # the deployment is the body's model
    assert head["api-key"] == KEY and "authorization" not in head
    endpoint = resolve(base_url=base, api_key=KEY, profile="azure")
    assert headers_for(f"{base}/files/x", endpoint) == {"api-key": KEY}  # the same rule binds the key to its host
    assert headers_for("http://elsewhere.example/openai/v1/x", endpoint) == {}


@pytest.mark.parametrize("profile", ["openai", "openrouter", "litellm", "auto"])
def test_bearer_profiles_send_authorization_to_the_base_url(scripted, profile):
    listing = [reply(body={"data": []})] if profile == "openrouter" else []  # its models listing is read first
    server = scripted(*listing, default=reply(body=ok_body()))
    line, head = sent(server, server.url, profile)
    assert line == "POST /v1/images/generations HTTP/1.1"
    assert head["authorization"] == f"Bearer {KEY}" and "api-key" not in head
    assert [h.split(" ")[0:2] for h, _ in server.requests[:-1]] == [["GET", "/v1/models"]] * len(listing)


@pytest.mark.parametrize(
    ("base_url", "profile"),
    [
        ("https://res.openai.azure.com/openai/v1", "azure"),
        ("https://res.cognitiveservices.azure.com/openai/v1", "azure"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.openai.com/v1", "openai"),
        ("http://127.0.0.1:4000/v1", "openai"),
        (None, "local"),
    ],
)
def test_auto_chooses_the_profile_from_the_base_url(base_url, profile):
    assert detect(base_url) == profile
    assert Endpoint(base_url, KEY).profile == profile
    assert Endpoint("https://res.openai.azure.com", KEY, azure_api_version="2025-04-01-preview").profile == "azure"


def test_a_profile_that_is_not_one_is_one_line():
    with pytest.raises(ValidationError) as caught:
        prepare("a kite", settings=Settings(base_url="https://example.com/v1", profile="aws"))
    assert str(caught.value) == (
        "profile='aws' is not a profile of imagemagic: use auto, openai, azure, openrouter, litellm or local"
    )


def test_a_batch_job_reached_again_keeps_the_profile_of_its_endpoint():
    from imagemagic.batch_remote import Remote

    base = "http://127.0.0.1:9/openai/v1"
    settings = Settings(base_url=base, api_key=KEY, profile="azure")
    endpoint = Remote({"base_url": base}, settings, Session()).endpoint()
    assert endpoint.profile == "azure" and endpoint.headers() == {"api-key": KEY}


def test_the_command_line_takes_a_profile(scripted, tmp_path, monkeypatch):
    from imagemagic.cli import main

    server = scripted(default=reply(body=ok_body()))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base = server.url.replace("/v1", "/openai/v1")
    assert main(["generate", "a kite", "--base-url", base, "--profile", "azure", "--output-dir", str(tmp_path)]) == 0
    head = headers(server.requests[-1][0])
    assert head["api-key"] == KEY and "authorization" not in head
