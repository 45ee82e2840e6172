"""Issue 12 on the local server over HTTP: animated GIFs with real frames, SVG as a real SVG document,
and `shutdown_date` in /v1/models."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET

import httpx
import pytest
from PIL import Image, ImageSequence

SVG_NS = "{http://www.w3.org/2000/svg}"


def generate(url, **body):
    resp = httpx.post(f"{url}/images/generations", json={"model": "gpt-image-2.6-flare", **body}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def image_bytes(answer):
    return [base64.b64decode(item["b64_json"]) for item in answer["data"]]


@pytest.mark.parametrize(
    ("params", "frames", "ms"), [({}, 9, 200), ({"frame_count": 2, "frame_duration_ms": 20}, 2, 20)]
)
def test_a_gif_has_frame_count_real_frames_at_frame_duration_ms(server_url, params, frames, ms):
    answer = generate(server_url, prompt="a red kite", size="512x256", output_format="gif", **params)
    assert answer["output_format"] == "gif"
    (data,) = image_bytes(answer)
    gif = Image.open(io.BytesIO(data))
    assert (gif.format, gif.size, gif.n_frames, gif.info["loop"]) == ("GIF", (512, 256), frames, 0)
    stills = [frame.convert("RGB").tobytes() for frame in ImageSequence.Iterator(gif)]
    durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert durations == [ms] * frames
    assert len(set(stills)) == frames  # every frame differs: the animation moves


def test_a_gif_larger_than_the_pixel_budget_is_refused_not_queued_forever(start_server):
    url = start_server(pixel_budget=256 * 256 * 4)
    body = {"prompt": "k", "model": "gpt-image-2.6-flare", "size": "256x256", "output_format": "gif"}
    assert httpx.post(f"{url}/images/generations", json={**body, "frame_count": 4}).status_code == 200
    refused = httpx.post(f"{url}/images/generations", json={**body, "frame_count": 5})
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        400,
        "size=256x256 with 5 GIF frames is more than this server renders at once: "
        "at most 262,144 pixels over all frames",
    )


PROMPT = 'a <bold> lighthouse & "kite" at dawn \x01'


def parse_svg(data):
    assert data.startswith(b"<?xml")
    return ET.fromstring(data)


def test_an_svg_is_a_real_svg_document_of_shapes_and_text(server_url):
    answer = generate(server_url, prompt=PROMPT, size="768x512", output_format="svg", quality="high")
    assert answer["output_format"] == "svg"
    (data,) = image_bytes(answer)
    root = parse_svg(data)
    assert (root.tag, root.get("width"), root.get("height")) == (f"{SVG_NS}svg", "768", "512")
    shapes = root.findall(f"{SVG_NS}circle") + root.findall(f"{SVG_NS}rect")
    assert len(shapes) >= 10  # quality high draws ten shapes, plus the background and caption panels
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert texts[0] == 'a <bold> lighthouse & "kite" at dawn'
    assert texts[-1] == "offline preview · gpt-image-2.6-flare · 768x512 · #1"
    assert b"<image" not in data  # vector shapes, not an embedded raster


def test_the_same_svg_request_gives_the_same_document_and_transparent_has_no_backdrop(server_url):
    first = image_bytes(generate(server_url, prompt="a teal sea", size="256x256", output_format="svg"))
    assert first == image_bytes(generate(server_url, prompt="a teal sea", size="256x256", output_format="svg"))
    opaque = parse_svg(first[0])
    assert opaque.find(f"{SVG_NS}defs") is not None
    clear = generate(
        server_url,
        model="gpt-image-2.6-sunburst",
        prompt="a teal sea",
        size="256x256",
        output_format="png",
        background="transparent",
    )
    assert Image.open(io.BytesIO(image_bytes(clear)[0])).mode == "RGBA"


def test_streamed_svg_partials_draw_fewer_shapes_than_the_final(server_url):
    body = {"prompt": "a kite", "model": "gpt-image-2.6-flare", "size": "256x256", "output_format": "svg"}
    with httpx.stream(
        "POST", f"{server_url}/images/generations", json={**body, "stream": True, "partial_images": 2}, timeout=60
    ) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    counts = [len(parse_svg(base64.b64decode(e["b64_json"])).findall(f"{SVG_NS}circle")) for e in events]
    assert counts[0] < counts[-1] and counts == sorted(counts)


@pytest.mark.parametrize(("fmt", "mime"), [("gif", "image/gif"), ("svg", "image/svg+xml")])
def test_url_images_keep_their_type(start_server, fmt, mime):
    answer = httpx.post(
        f"{start_server(models=('my-model',))}/images/generations",
        json={"prompt": "k", "model": "my-model", "size": "64x64", "output_format": fmt, "response_format": "url"},
    ).json()
    image = httpx.get(answer["data"][0]["url"])
    assert (image.status_code, image.headers["content-type"].split(";")[0]) == (200, mime)


def test_models_carry_the_catalogs_shutdown_dates(server_url):
    listed = {m["id"]: m for m in httpx.get(f"{server_url}/models").json()["data"]}
    assert {name: m.get("shutdown_date") for name, m in listed.items() if "shutdown_date" in m} == {
        "dall-e-2": "2026-05-12",
        "dall-e-3": "2026-05-12",
        "gpt-image-1": "2026-10-23",
        "gpt-image-1-mini": "2026-12-01",
        "gpt-image-1.5": "2026-12-01",
        "chatgpt-image-latest": "2026-12-01",
    }
    assert {"gpt-image-2", "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.6-sunburst"} <= set(listed)


def test_a_client_knows_an_svg_by_its_bytes_and_says_plainly_that_pil_cannot_open_it(server_url):
    from imagemagic.errors import ImageDataError
    from imagemagic.result import GeneratedImage

    answer = generate(server_url, prompt="a kite", size="256x256", output_format="svg")
    image = GeneratedImage(b64=answer["data"][0]["b64_json"])
    assert (image.format, image.mime) == ("svg", "image/svg+xml")
    with pytest.raises(ImageDataError) as caught:
        _ = image.pil
    assert str(caught.value) == "image 1: an SVG has no pixels for PIL; its document is in .data"
    assert parse_svg(image.data).get("width") == "256"
