"""The local server fuzzed over the whole request space: every parameter with valid and invalid values
of every JSON type, plus odd bodies. Every answer is a 200 or an OpenAI-shaped 4xx, never a 5xx, within
bounded time and memory."""

from __future__ import annotations

import json
import resource

import httpx
import pytest
from helpers.schemas import schema_errors
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

MODELS = ["gpt-image-2", "gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2", "openai/dall-e-3", "my-model"]
SIDES = st.one_of(st.integers(1, 48), st.sampled_from([0, -16, 3841, 25000, 123456789012345]))
ODD_TEXT = st.sampled_from(["", " ", "\ud800", "\x00", "é" * 3, "🪁", "x" * 40000])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    ODD_TEXT,
)
ANY = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
VALID = {
    "prompt": st.sampled_from(["a red kite", "a kite over the sea at dusk"]),
    "model": st.sampled_from(MODELS),
    "n": st.integers(-1, 11),
    "size": st.one_of(
        st.sampled_from(["auto", "256x256", "1024x1024", "1024x1792", "48x32", "1x3840", "12x", "x", "AxB"]),
        st.builds(lambda w, h: f"{w}x{h}", SIDES, SIDES),
    ),
    "quality": st.sampled_from(["low", "medium", "high", "auto", "standard", "hd", "ultra"]),
    "background": st.sampled_from(["transparent", "opaque", "auto", "plaid"]),
    "moderation": st.sampled_from(["low", "auto", "none"]),
    "output_format": st.sampled_from(["png", "jpeg", "webp", "gif"]),
    "output_compression": st.integers(-5, 105),
    "stream": st.booleans(),
    "partial_images": st.integers(-2, 4),
    "response_format": st.sampled_from(["url", "b64_json", "xml"]),
    "style": st.sampled_from(["vivid", "natural", "baroque"]),
    "user": st.text(max_size=10),
}
BODIES = st.builds(
    lambda valid, broken: {**valid, **broken},
    st.fixed_dictionaries({"prompt": VALID["prompt"]}, optional={k: v for k, v in VALID.items() if k != "prompt"}),
    st.dictionaries(st.sampled_from([*VALID, "extra_thing"]), st.one_of(ANY, ODD_TEXT), max_size=2),
)
RAW = st.one_of(
    BODIES.map(lambda body: json.dumps(body).encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
    st.integers(1, 200).map(lambda depth: b'{"prompt": "kite", "user": ' + b"[" * depth + b"]" * depth + b"}"),
    ANY.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
    BODIES.map(lambda body: json.dumps({k: v for k, v in body.items() if k != "prompt"}).encode()),
)


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def fuzz_url():
    from imagemagic.server import embedded

    url, server, thread = embedded.start(models=("my-model",))  # served with the generic limits
    with httpx.Client(timeout=30) as http:
        yield url, http
    server.should_exit = True
    thread.join(5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=RAW)
@example(raw=b'{"prompt": "a kite \\ud800"}')
@example(raw=b'{"prompt": "a kite", "model": "my-model", "output_format": "gif", "response_format": "url"}')
@example(raw=b'{"prompt": "a kite", "model": "my-model", "output_format": "jpeg", "output_compression": -5}')
@example(raw=b'{"prompt": "a kite", "model": "my-model", "size": "123456789012345x16"}')
@example(raw=b'{"prompt": "a kite", "user": ' + b"[" * 5000 + b"]" * 5000 + b"}")
@example(raw=b'{"prompt": "a kite", "model": "my-model", "stream": true, "partial_images": -1}')
def test_every_answer_is_a_200_or_an_openai_shaped_4xx(fuzz_url, raw):
    url, http = fuzz_url
    before = _peak_rss_mib()
    resp = http.post(f"{url}/images/generations", content=raw, headers={"Content-Type": "application/json"})
    if resp.status_code == 200:
        assert resp.headers["content-type"].startswith(("application/json", "text/event-stream"))
    else:
        assert 400 <= resp.status_code < 500, resp.text[:500]
        assert schema_errors(resp.json(), "ErrorResponse") == []
    assert _peak_rss_mib() - before < 1024  # no request may take a GiB (25000x25000 once took 8)
