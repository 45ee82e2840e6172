"""What an edit sends is what the user holds: a PIL image changed in place (thumbnail, ImageDraw, paste) is
sent as its pixels, and the cache key and the mask-size check see those pixels; the original bytes go only
when the pixels are provably untouched. A path is checked for size before it is read, and read bounded."""

from __future__ import annotations

import io
import os
import threading

import pytest
from helpers.images import decoded, image_bytes
from PIL import Image, ImageDraw

import imagemagic
from imagemagic import ValidationError, mask_from
from imagemagic.inputs import collect

SECRET = (250, 250, 250)


def _sent(recorder):
    (part,) = [p for p in recorder.requests.pop()["parts"] if "data" in p]
    return part["data"]


def _edit(recorder, **kwargs):
    return imagemagic.edit(  # cache=False: each case must reach the server
        "make it night", base_url=recorder.base + "/v1", api_key="test-key-in-place", cache=False, **kwargs
    )


def _file(tmp_path, fmt="JPEG"):
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(image_bytes((64, 64), SECRET, fmt))
    return path


def _generated(server_url):
    return imagemagic.generate("a white wall", base_url=server_url, size="1024x1024")


CHANGES = {
    "ImageDraw": lambda pil: ImageDraw.Draw(pil).rectangle((0, 0, 20, 20), fill=(0, 0, 0)),
    "paste": lambda pil: pil.paste((0, 0, 0), (0, 0, 21, 21)),
    "thumbnail": lambda pil: pil.thumbnail((32, 32)),
}


@pytest.mark.parametrize("change", CHANGES)
def test_an_opened_file_changed_in_place_is_sent_as_its_pixels(recorder, tmp_path, change):
    pil = Image.open(_file(tmp_path, "PNG"))
    CHANGES[change](pil)
    _edit(recorder, image=pil)
    sent = decoded(_sent(recorder))
    assert sent.size == pil.size
    assert sent.convert("RGB").getpixel((0, 0)) == pil.convert("RGB").getpixel((0, 0))
    assert sent.tobytes() == pil.tobytes()


@pytest.mark.parametrize("change", CHANGES)
def test_a_generated_image_changed_in_place_is_sent_as_its_pixels(recorder, server_url, change):
    result = _generated(server_url)
    CHANGES[change](result[0])
    for given in (result, result[0], result.images[0]):
        _edit(recorder, image=given)
        sent = decoded(_sent(recorder))
        assert sent.size == result[0].size and sent.tobytes() == result[0].tobytes()


def test_untouched_images_go_as_their_original_bytes(recorder, server_url, tmp_path):
    path = _file(tmp_path)
    pil = Image.open(path)
    pil.load()  # decoded, not changed
    _edit(recorder, image=pil)
    assert _sent(recorder) == path.read_bytes()  # a JPEG stays the JPEG, not a re-encoded PNG
    result = _generated(server_url)
    result[0].load()
    _edit(recorder, image=result[0])
    assert _sent(recorder) == result.images[0].data


def test_the_cache_key_and_the_mask_check_see_the_pixels(recorder, tmp_path):
    pil = Image.open(_file(tmp_path, "PNG"))
    before = collect(pil)[0].sha256
    pil.thumbnail((32, 32))
    assert collect(pil)[0].sha256 != before
    with pytest.raises(ValidationError) as info:
        _edit(recorder, image=pil, mask=mask_from((0, 0, 8, 8), size=(64, 64)))
    assert str(info.value) == "the mask is 64x64 but the first image is 32x32: they must be the same size"
    assert recorder.requests == []


def test_a_large_path_is_refused_before_it_is_read(recorder, tmp_path, monkeypatch):
    monkeypatch.setattr("imagemagic.inputs.MAX_BYTES", 1000)
    big = tmp_path / "big.png"
    big.write_bytes(image_bytes((64, 64)) + b"\0" * 5000)
    read = []
    real = type(big).read_bytes
    monkeypatch.setattr(type(big), "read_bytes", lambda self: read.append(self) or real(self))
    with pytest.raises(ValidationError) as info:
        _edit(recorder, image=str(big))
    assert str(info.value) == f"image {str(big)!r} is 0.0 MB: each input image must be under 0 MB"
    assert read == [] and recorder.requests == []


def test_a_file_of_unknown_size_is_read_bounded(recorder, monkeypatch, tmp_path):
    monkeypatch.setattr("imagemagic.inputs.MAX_BYTES", 1000)
    fifo = tmp_path / "pipe.png"  # stat says 0 bytes: only a bounded read stops it
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(image_bytes((64, 64)) + b"\0" * 5000))
    writer.start()
    with pytest.raises(ValidationError) as info:
        _edit(recorder, image=fifo)
    writer.join(5)
    assert str(info.value) == f"image {str(fifo)!r} is 0.0 MB or more: each input image must be under 0 MB"
    assert recorder.requests == []


def test_an_untouched_file_is_sent_without_re_encoding(tmp_path):
    data = _file(tmp_path).read_bytes()
    assert collect(Image.open(io.BytesIO(data)))[0].format == "png"  # no file behind it: encoded losslessly
    assert collect(Image.open(_file(tmp_path)))[0].data == data
