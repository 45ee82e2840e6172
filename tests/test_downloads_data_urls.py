"""Issue 27 item 5: a `data:` URL in an answer's `url` is self-contained: decoded here (bounded, strict base64,
checked as an image), never downloaded; each refusal is one line. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json

import pytest
from helpers.scripted import png_b64, reply

import imagemagic
from imagemagic import Settings, downloads
from imagemagic.client import ImagesClient
from imagemagic.endpoint import Endpoint
from imagemagic.errors import ImageDataError, ImageMagicError
from imagemagic.request import ImageRequest


def generate(server):
    """Generate one image from the scripted `server`; the result, or the error it ended in."""
    client = ImagesClient(Endpoint(server.url, "test-data-url-key"))
    try:
        return client.generate(ImageRequest(prompt="a kite", model="gpt-image-2"))
    except ImageMagicError as exc:  # the error is what the test looks at (any other one fails the test as it is)
        return exc
    finally:
        client.close()


def answering(scripted, url):
    """A scripted server whose one answer is an image given as `url` (anything after it would be a download)."""
    return scripted(reply(body={"created": 1, "data": [{"url": url}]}))


def test_a_data_url_is_the_image_with_no_download(scripted):
    server = answering(scripted, "data:image/png;base64," + png_b64((6, 4)))
    result = generate(server)
    assert result[0].size == (6, 4) and result[0].format == "PNG"
    assert len(server.requests) == 1  # the generation only: nothing downloaded


TEXT = base64.b64encode(b"hello").decode()


def test_a_data_url_is_bounded_as_a_download(scripted, monkeypatch):
    monkeypatch.setattr(downloads, "URL_DOWNLOAD_LIMIT", 1000)
    server = answering(scripted, "data:image/png;base64," + "A" * 1336)  # 1,002 bytes decoded
    error = generate(server)
    assert type(error) is ImageDataError and str(error) == "image 1: data: URL refused, larger than 1,000 bytes"
    assert len(server.requests) == 1


INVALID = "image 1: the data: URL's base64 is invalid (only A-Z a-z 0-9 + / and = padding)"
BAD_URLS = [
    ("data:image/png," + png_b64(), "image 1: refused a malformed data: URL (data:image/<type>;base64,… expected)"),
    ("data:image/png;base64", "image 1: refused a malformed data: URL (data:image/<type>;base64,… expected)"),
    ("data:text/plain;base64," + TEXT, "image 1: refused a data: URL of text/plain (only image/ types)"),
    ("data:image/png;base64,iVBORw0K*", INVALID),
    ("data:image/png;base64,iVBORw0", INVALID),
    ("data:image/png;base64," + TEXT, "image 1: the data is not a PNG, JPEG, WebP, GIF or SVG image"),
]


@pytest.mark.parametrize(("url", "line"), BAD_URLS)
def test_a_bad_data_url_is_one_line(scripted, url, line):
    server = answering(scripted, url)
    error = generate(server)
    assert type(error) is ImageDataError and str(error) == line
    assert len(server.requests) == 1


def chat_answers(url):
    """The three ways a chat completion carries the image `url`: a message's images, a Gemini-style inline part
    (its head and base64 apart) and a stream's delta; each (body, content type)."""
    head, comma, b64 = url.partition(",")
    message = {"content": "", "images": [{"type": "image_url", "image_url": {"url": url}}]}
    mime = head[5:].split(";")[0]
    inline = {"content": [{"inline_data": {"mime_type": mime, "data": b64}}]}
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": message}]}
    answers = {"images": message, **({"inline part": inline} if comma and head.endswith(";base64") else {})}
    bodies = {name: ({"object": "chat.completion", "choices": [{"message": m}]}, None) for name, m in answers.items()}
    return {**bodies, "stream": (f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode(), "text/event-stream")}


def chat_generate(scripted, body, content_type, api_key="test-data-url-key"):
    """Generate with a chat model from a scripted server answering `body` (JSON, or bytes of `content_type`)."""
    raw = body if isinstance(body, bytes) else None
    server = scripted(reply(body=body, raw=raw, headers={"Content-Type": content_type or "application/json"}))
    settings = Settings(base_url=server.url, api_key=api_key, max_retries=0, cache=False)
    try:
        return imagemagic.generate("a fox", model="gemini-2.5-flash-image", settings=settings), server
    except ImageMagicError as exc:
        return exc, server


def test_a_chat_answer_s_data_url_is_refused_as_the_images_reader_refuses_it(scripted):
    """Each form of a chat image (decoded as it arrives, or whole where its head is not a data URL's) refuses with
    the Images reader's line: one rule."""
    for url, line in BAD_URLS:
        for form, (body, content_type) in chat_answers(url).items():
            error, server = chat_generate(scripted, body, content_type)
            assert (type(error), str(error)) == (ImageDataError, line), (form, url)
            assert len(server.requests) == 1


def test_a_chat_answer_s_data_url_is_bounded_as_a_download(scripted, monkeypatch):
    monkeypatch.setattr(downloads, "URL_DOWNLOAD_LIMIT", 1000)
    for body, content_type in chat_answers("data:image/png;base64," + "A" * 1336).values():
        error, _ = chat_generate(scripted, body, content_type)
        assert (type(error), str(error)) == (ImageDataError, "image 1: data: URL refused, larger than 1,000 bytes")


def test_a_chat_answer_s_good_data_url_is_the_image_in_every_form(scripted, tmp_path, monkeypatch):
    """Decoded into the history as it arrives, also as a PHP encoder writes it (every / as \\/)."""
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    url = "data:image/png;base64," + png_b64((6, 4))
    for form, (body, content_type) in chat_answers(url).items():
        if content_type is None:
            body, content_type = json.dumps(body).replace("/", "\\/").encode(), "application/json"
        result, _ = chat_generate(scripted, body, content_type)
        assert (result[0].size, result[0].format) == ((6, 4), "PNG"), form


def test_a_key_of_one_letter_never_touches_an_image(scripted, tmp_path, monkeypatch):
    """Masking the key out of what a server says never reaches image data, in any form: a key that is one letter of
    the base64 (a test key) used to corrupt a data URL (`the data: URL's base64 is invalid`)."""
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    b64 = png_b64((64, 48))
    letter = max(set(b64) - set("+/="), key=b64.count)
    url = "data:image/png;base64," + b64
    images = {"b64_json": {"created": 1, "data": [{"b64_json": b64}]}, "url": {"created": 1, "data": [{"url": url}]}}
    for form, body in images.items():
        server = scripted(reply(body=body))
        settings = Settings(base_url=server.url, api_key=letter, max_retries=0, cache=False)
        assert imagemagic.generate("a kite", settings=settings)[0].size == (64, 48), form
    for form, (body, content_type) in chat_answers(url).items():
        result, _ = chat_generate(scripted, body, content_type, api_key=letter)
        assert result[0].size == (64, 48), form


def test_a_data_url_s_head_is_masked_before_a_refusal_quotes_it(scripted):
    """Before: the head of a data URL decoded as it arrived was quoted as the server sent it, key and all."""
    url = "data:test-data-url-key;base64,QQ=="
    line = "image 1: refused a data: URL of *** (only image/ types)"
    error = generate(answering(scripted, url))
    assert (type(error), str(error)) == (ImageDataError, line)
    for form, (body, content_type) in chat_answers(url).items():
        error, _ = chat_generate(scripted, body, content_type)
        assert (type(error), str(error)) == (ImageDataError, line), form
