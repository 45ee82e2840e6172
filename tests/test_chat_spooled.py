"""A chat completion's images decoded as they arrive (b64scan's values) and its images (what the reader finds) are
not one for one: a reasoning detail's `data` is a value, an inline part is found after `message.images`. Over real
HTTP (a scripted server on 127.0.0.1), what arrives must be what was sent, whatever the order."""

from __future__ import annotations

import base64
import json
import warnings

import pytest
from helpers.scripted import png_b64, reply

import imagemagic
from imagemagic import spool
from imagemagic.errors import ImageDataError
from imagemagic.session import Session
from imagemagic.settings import Settings

MODEL = "gemini-2.5-flash-image"
REASONING = {"type": "reasoning.encrypted", "data": base64.b64encode(b"x" * 30).decode(), "format": "google-gemini-v1"}


def part(size):
    return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png_b64(size)}}


def stream(*chunks, usage=None):
    events = [{"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]} for delta in chunks]
    events += [{"object": "chat.completion.chunk", "choices": [], "usage": usage}] if usage else []
    body = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
    return reply(raw=body, headers={"Content-Type": "text/event-stream"})


def completion(message, usage=None):
    body = {"object": "chat.completion", "choices": [{"message": message}]}
    return reply(body={**body, "usage": usage} if usage else body)


@pytest.fixture
def spools(monkeypatch, tmp_path):
    """How many spool files the run opened (in a history folder of its own)."""
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    opened = []
    made = spool.FileSpool.__init__

    def counting(self, folder):
        opened.append(folder)
        made(self, folder)

    monkeypatch.setattr(spool.FileSpool, "__init__", counting)
    return opened


def run(scripted, answer, **params):
    server = scripted(answer)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = imagemagic.generate(
            "a fox", model=MODEL, settings=Settings(base_url=server.url, cache=False), **params
        )
    return result, [str(w.message) for w in said]


ANSWERS = {
    "a reasoning detail's data before the image": completion(
        {"reasoning_details": [REASONING], "images": [part((5, 3))]}
    ),
    "an inline part before message.images in the document": completion(
        {"content": [{"inline_data": {"mime_type": "image/png", "data": png_b64((8, 6))}}], "images": [part((5, 3))]}
    ),
    "a stream: the image, then a reasoning detail": stream(
        {"images": [part((5, 3))]}, {"reasoning_details": [REASONING]}
    ),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_a_value_that_is_no_image_never_takes_an_image_s_place(scripted, spools, name):
    """Before: the image went to a NullSpool (`image 1: the base64 data is invalid`), or a stream's later
    reasoning detail was said to be an image ignored beyond n."""
    result, said = run(scripted, ANSWERS[name])
    assert result[0].size == (5, 3)
    extra = ["the server sent 2 images for n=1: kept 1, ignored 1"] if "inline" in name else []
    assert said == extra
    assert len(spools) == 1  # the image's: no other value went to disk


def test_an_image_beyond_n_in_one_delta_never_reaches_the_disk(scripted, spools):
    """Before: both images of the delta were spooled to files."""
    result, said = run(scripted, stream({"images": [part((5, 3)), part((8, 6))]}))
    assert result[0].size == (5, 3) and said == ["the server sent 2 images for n=1: kept 1, ignored 1"]
    assert len(spools) == 1


BAD = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"no").decode()}}
BILLED = {"completion_tokens": 1290, "cost": 0.04}
NOT_AN_IMAGE = {"created": 1, "data": [{"b64_json": base64.b64encode(b"no").decode()}]}
REFUSED = {  # (model, answer)
    "chat JSON": (MODEL, completion({"images": [BAD]}, BILLED)),
    "chat stream": (MODEL, stream({"images": [BAD]}, usage=BILLED)),
    "Images JSON": ("gpt-image-2", reply(body={**NOT_AN_IMAGE, "usage": {"output_tokens": 1290, "cost": 0.04}})),
}


@pytest.mark.parametrize("form", REFUSED)
def test_a_refused_image_still_counts_the_billed_cost_and_leaves_no_spool(scripted, spools, tmp_path, form):
    """Before: a call whose every image was refused was never charged (its cost of $0.04, in the answer's usage
    or the stream's last chunk, did not count against the budget), and its spool stayed while the error lived."""
    model, answer = REFUSED[form]
    server = scripted(answer)
    session = Session()
    with pytest.raises(ImageDataError) as refused:
        imagemagic.generate("a fox", model=model, settings=Settings(base_url=server.url, cache=False), session=session)
    assert str(refused.value) == "image 1: the data is not a PNG, JPEG, WebP, GIF or SVG image"
    assert session.ledger.spent == pytest.approx(0.04)
    assert not list((tmp_path / "images" / ".incoming").glob("*.tmp"))
