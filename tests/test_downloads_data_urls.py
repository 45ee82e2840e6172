"""Issue 27 item 5: a `data:` URL in an answer's `url` is self-contained: decoded here (bounded, strict base64,
checked as an image), never downloaded; each refusal is one line. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64

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


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("data:image/png," + png_b64(), "image 1: refused a malformed data: URL (data:image/<type>;base64,… expected)"),
        ("data:image/png;base64", "image 1: refused a malformed data: URL (data:image/<type>;base64,… expected)"),
        ("data:text/plain;base64," + TEXT, "image 1: refused a data: URL of text/plain (only image/ types)"),
        (
            "data:image/png;base64,iVBORw0K*",
            "image 1: the data: URL's base64 is invalid (only A-Z a-z 0-9 + / and = padding)",
        ),
        (
            "data:image/png;base64,iVBORw0",
            "image 1: the data: URL's base64 is invalid (only A-Z a-z 0-9 + / and = padding)",
        ),
        ("data:image/png;base64," + TEXT, "image 1: the data is not a PNG, JPEG, WebP, GIF or SVG image"),
    ],
)
def test_a_bad_data_url_is_one_line(scripted, url, line):
    server = answering(scripted, url)
    error = generate(server)
    assert type(error) is ImageDataError and str(error) == line
    assert len(server.requests) == 1


def test_a_data_url_is_bounded_as_a_download(scripted, monkeypatch):
    monkeypatch.setattr(downloads, "URL_DOWNLOAD_LIMIT", 1000)
    server = answering(scripted, "data:image/png;base64," + "A" * 1336)  # 1,002 bytes decoded
    error = generate(server)
    assert type(error) is ImageDataError and str(error) == "image 1: data: URL refused, larger than 1,000 bytes"
    assert len(server.requests) == 1


def test_a_chat_answer_s_data_url_goes_through_the_same_decoder(scripted):
    """The chat reader (images in `message.images[].image_url.url`) refuses with the same line: one decoder."""
    url = "data:text/plain;base64," + TEXT
    message = {"content": "", "images": [{"type": "image_url", "image_url": {"url": url}}]}
    server = scripted(reply(body={"object": "chat.completion", "choices": [{"message": message}]}))
    settings = Settings(base_url=server.url, api_key="test-data-url-key", max_retries=0)
    with pytest.raises(ImageDataError) as caught:
        imagemagic.generate("a fox", model="gemini-2.5-flash-image", settings=settings)
    assert str(caught.value) == "image 1: refused a data: URL of text/plain (only image/ types)"
    assert len(server.requests) == 1
