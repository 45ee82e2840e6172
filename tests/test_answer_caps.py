"""What a server sends beyond what was asked (more images than n) is ignored and said in one line, never
written to disk; fewer images than n are said too. Over real HTTP, with scripted answers."""

from __future__ import annotations

import json

import pytest
from helpers.scripted import completed_event, partial_event, png_b64, reply, stream
from helpers.warned import said as warned

import imagemagic

KEY = "test-endpoint-key-caps"


def _files(home):
    return sorted(p.name for p in home.rglob("*") if p.is_file() and p.suffix in (".png", ".tmp"))


def test_a_json_answer_of_many_images_for_n_1_keeps_one(scripted, clean_env):
    body = {"created": 1, "data": [{"b64_json": png_b64(colour=(i, 0, 0))} for i in range(40)],
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}  # fmt: skip
    server = scripted(reply(body=body))
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        result = imagemagic.generate("a fox", base_url=server.url, api_key=KEY)
    assert len(result) == 1 and len(result.files) == 1
    assert warned(said) == ["the server sent 40 images for n=1: kept 1, ignored 39"]
    assert len([name for name in _files(clean_env) if name.endswith(".png")]) == 1  # the ignored never on disk
    assert not [name for name in _files(clean_env) if name.endswith(".tmp")]
    assert result.usage["output_tokens"] == 2  # what the server says it billed, once


def test_a_stream_of_extra_images_keeps_what_was_asked(scripted, clean_env, monkeypatch):
    written = []
    from imagemagic import spool

    opened = spool.FileSpool.__init__

    def counting(self, folder):
        opened(self, folder)
        written.append(self.path)

    monkeypatch.setattr(spool.FileSpool, "__init__", counting)
    events = [partial_event(), completed_event()] + [partial_event(), completed_event()] * 3
    server = scripted(stream(*events))
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        result = imagemagic.generate("a fox", base_url=server.url, api_key=KEY, stream=True, partial_images=1)
    assert len(result) == 1 and len(result.files) == 1
    assert warned(said) == ["the server sent 4 images for n=1: kept 1, ignored 3"]
    assert len(written) == 2  # one partial and the final: nothing of the ignored ones was spooled
    assert result.usage["output_tokens"] == 8  # each completed event's usage, as billed by the server


def test_fewer_images_than_n_are_said(scripted):
    server = scripted(reply())
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        result = imagemagic.generate("a fox", base_url=server.url, api_key=KEY, n=4)
    assert len(result) == 1
    assert warned(said) == ["1 of 4 images arrived (n=4)"]
    assert json.loads(server.requests[0][1])["n"] == 4
