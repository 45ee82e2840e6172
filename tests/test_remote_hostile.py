"""A hostile /v1/models: an answer too large is refused after reading at most the cap, the cache stays
small, model ids are printed without terminal control codes, and the key goes only to its own host."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from helpers.scripted import png_b64, redirect, reply

from imagemagic import remote
from imagemagic.client import ImagesClient
from imagemagic.endpoint import Endpoint, headers_for
from imagemagic.errors import APIError, TransportError
from imagemagic.request import ImageRequest

KEY = "canary-remote-key-0123456789"


class Endless(httpx.SyncByteStream):
    """A body of `total` bytes produced as it is read; `.sent` counts what the client took."""

    def __init__(self, total):
        self.total, self.sent = total, 0

    def __iter__(self):
        head = b'{"object": "list", "data": ['
        self.sent += len(head)
        yield head
        item = b'{"id": "model-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "object": "model"},' * 1000
        while self.sent < self.total:
            self.sent += len(item)
            yield item


def test_a_huge_models_answer_is_refused_after_reading_at_most_the_cap(tmp_path):
    body = Endless(150 * 2**20)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))
    with pytest.raises(TransportError) as info:
        remote.served(Endpoint("http://127.0.0.1:1/v1", KEY), home=tmp_path, transport=transport)
    assert str(info.value) == (
        "http://127.0.0.1:1/v1/models answered more than 2 MiB: refused (a list of models is a few KB)"
    )
    assert body.sent <= remote.MAX_ANSWER_BYTES + 200_000
    assert not (tmp_path / remote.CACHE_FILE).exists()


def test_the_cache_stays_small(tmp_path):
    many = [{"id": f"model-{i}-" + "x" * 500} for i in range(remote.MAX_MODELS)]
    answer = json.dumps({"data": many}).encode()
    assert len(answer) < remote.MAX_ANSWER_BYTES
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=answer))
    for n in range(40):
        remote.served(Endpoint(f"http://127.0.0.1:{n + 1}/v1"), home=tmp_path, transport=transport)
    assert (tmp_path / remote.CACHE_FILE).stat().st_size < 2 * remote.MAX_CACHE_BYTES
    assert len(json.loads((tmp_path / remote.CACHE_FILE).read_bytes())) <= remote.MAX_ENDPOINTS
    too_many = json.dumps({"data": [{"id": f"m{i}"} for i in range(remote.MAX_MODELS + 1)]}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=too_many))
    with pytest.raises(TransportError) as info:
        remote.fetch(Endpoint("http://127.0.0.1:99/v1"), transport=transport)
    assert str(info.value) == (
        f"http://127.0.0.1:99/v1/models listed {remote.MAX_MODELS + 1:,} models, more than {remote.MAX_MODELS:,}: "
        "refused"
    )


def test_an_oversized_cache_file_is_not_read(tmp_path):
    (tmp_path / remote.CACHE_FILE).write_bytes(b'{"x": "' + b"y" * (remote.MAX_CACHE_BYTES + 10) + b'"}')
    assert remote._read_cache(tmp_path) == {}  # neither read nor parsed: every request reads the cache


def test_model_ids_are_printed_without_control_codes(tmp_path):
    served = [{"id": "evil\x1b]0;pwned\x07\x1b[2J-model", "shutdown_date": "2030-01-01"}]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": served}))
    text = remote.remote_text(Endpoint("http://127.0.0.1:1/v1"), home=tmp_path, transport=transport)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J-model (shutdown 2030-01-01)" in text


def test_the_key_goes_only_to_the_host_it_was_given_for(tmp_path):
    seen = []

    def answer(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": []})

    endpoint = Endpoint("https://gateway.example/v1", KEY)
    remote.fetch(endpoint, transport=httpx.MockTransport(answer))
    assert seen == [f"Bearer {KEY}"]
    assert headers_for("https://gateway.example/v1/files/x", endpoint) == {"Authorization": f"Bearer {KEY}"}
    for elsewhere in (
        "https://api.openai.com/v1/models",
        "http://gateway.example/v1/models",  # another scheme
        "https://gateway.example:8443/v1/models",  # another port
        "https://gateway.example.evil/v1/models",
        "https://user@gateway.example@evil.example/v1",
    ):
        assert headers_for(elsewhere, endpoint) == {}


def test_an_image_url_gets_the_key_only_under_the_endpoints_base_url(scripted):
    server = scripted()
    png = base64.b64decode(png_b64((16, 8)))
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"{server.url}/files/a.png"}]}),
        redirect(f"http://localhost:{server.port}/v1/files/b.png"),  # another host: no key
        reply(raw=png, headers={"Content-Type": "image/png"}),
    ]
    result = ImagesClient(Endpoint(server.url, KEY)).generate(ImageRequest(prompt="a kite", model="gpt-image-2"))
    assert result[0].size == (16, 8)
    auth = [_authorization(head) for head, _ in server.requests]
    assert auth == [f"Bearer {KEY}", f"Bearer {KEY}", None]


def _authorization(head):
    found = [line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("authorization:")]
    return found[0] if found else None


def test_a_server_error_message_is_printed_without_control_codes():
    said = {"error": {"message": "bad \x1b[31mred\x1b[0m\x07 thing", "type": "server_error"}}
    transport = httpx.MockTransport(lambda request: httpx.Response(500, json=said))
    with pytest.raises(APIError) as info:
        remote.fetch(Endpoint("http://127.0.0.1:1/v1"), transport=transport)
    assert str(info.value) == "HTTP 500 (type=server_error): bad \\x1b[31mred\\x1b[0m\\x07 thing"
