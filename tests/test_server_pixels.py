"""The local server's pixel budget charges an edit's inputs (decoded full size), not only its output: large
inputs wait (503) or, beyond the whole budget, are refused (400); nothing decodes them to count."""

from __future__ import annotations

import asyncio
import io

import httpx
from helpers.images import image_bytes
from PIL import Image

from imagemagic.server import pixels

OUT = 256 * 256  # the output size asked below


def _png(side):
    out = io.BytesIO()
    Image.new("L", (side, side), 0).save(out, "PNG", optimize=True)  # tiny file, many pixels
    return out.getvalue()


def _edit(url, data, **fields):
    files = {"image": ("in.png", data, "image/png")}
    body = {"prompt": "make it night", "model": "my-model", "size": "256x256", **fields}
    return httpx.post(f"{url}/images/edits", data=body, files=files, timeout=60)


def test_inputs_beyond_the_whole_budget_are_refused_unrendered(start_server):
    url = start_server(pixel_budget=1024 * 1024, models=("my-model",))
    assert _edit(url, _png(512)).status_code == 200  # 262,144 + 65,536 pixels fit
    refused = _edit(url, _png(2048))
    assert (refused.status_code, refused.json()["error"]["message"], refused.json()["error"]["param"]) == (
        400,
        "the input images are 4,194,304 pixels in all: with the output that is more than this server decodes "
        "at once (at most 1,048,576 pixels); send smaller images",
        "image",
    )


def test_concurrent_edits_of_large_inputs_wait_their_turn(start_server):
    url = start_server(delay=1.0, pixel_budget=2 * (1024 * 1024 + OUT), models=("my-model",))
    data = _png(1024)

    async def burst():
        async with httpx.AsyncClient(timeout=60) as http:
            body = {"prompt": "make it night", "model": "my-model", "size": "256x256"}
            return await asyncio.gather(
                *(
                    http.post(f"{url}/images/edits", data=body, files={"image": ("in.png", data, "image/png")})
                    for _ in range(4)
                )
            )

    answers = asyncio.run(burst())
    assert sorted(resp.status_code for resp in answers) == [200, 200, 503, 503]


def test_counting_reads_headers_only():
    from imagemagic.inputs import InputImage
    from imagemagic.request import EditRequest

    image = InputImage(_png(4096))
    req = EditRequest.from_body({"prompt": "p", "model": "my-model"}, (image,), InputImage(image_bytes((8, 8))))
    assert pixels.input_pixels(req) == 4096 * 4096 + 64
    assert image.pil.tile  # not decoded
