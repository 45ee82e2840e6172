"""Edits end to end: inputs of every kind, the checks made before sending, both wire forms as recorded,
the local server's answers (deterministic, masked region repainted, batch lines), history and cache."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from helpers.images import decoded, image_bytes
from helpers.schemas import schema_errors

import imagemagic
from imagemagic import Settings, ValidationError, mask_from
from imagemagic.cli import main as cli_main
from imagemagic.store import history

RED = image_bytes((64, 64), (200, 40, 40))
BLUE = image_bytes((64, 64), (40, 40, 200), "JPEG")


def _edit_at(base, prompt="make it night", **kwargs):
    return imagemagic.edit(prompt, base_url=base, api_key="test-endpoint-key-edits", **kwargs)


def _refusal(recorder, **kwargs):
    with pytest.raises(ValidationError) as info:
        _edit_at(recorder.base + "/v1", **kwargs)
    assert recorder.requests == []  # nothing sent
    return str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": []}, "an edit needs at least one input image: give image= (or --image NAME)"),
        ({"image": [RED] * 17}, "17 input images; an edit takes at most 16"),
        (
            {"image": image_bytes(fmt="GIF")},
            "image 1 (image1.gif) is gif: each input image must be png, webp or jpeg",
        ),
        (
            {"image": b"not an image"},
            "image 1 (image1.bin) is not an image: each input image must be png, webp or jpeg",
        ),
        (
            {"image": RED, "mask": BLUE},
            "the mask is jpeg: it must be a PNG with alpha (imagemagic.mask_from makes one)",
        ),
        (
            {"image": RED, "mask": RED},
            "the mask has no alpha channel: transparent pixels mark what to edit (imagemagic.mask_from makes one)",
        ),
        (
            {"image": RED, "mask": mask_from((0, 0, 8, 8), size=(32, 64))},
            "the mask is 32x64 but the first image is 64x64: they must be the same size",
        ),
        (
            {"image": RED, "input_fidelity": "high"},
            "input_fidelity='high' is not supported by gpt-image-2: leave it out",
        ),
        ({"image": RED, "moderation": "low"}, "'moderation' is not a parameter of edit"),
        (
            {"image": RED, "output_compression": 50},
            "output_compression=50 needs output_format jpeg or webp (it is png)",
        ),
        ({"image": RED, "partial_images": 2}, "partial_images=2 needs stream=True"),
        (
            {"image": 42},
            "image is int, not an image: give a PIL image, an ImageResult, a path, bytes or a history entry",
        ),
        ({"image": "/no/such/file.png"}, "image '/no/such/file.png' could not be read: No such file or directory"),
    ],
)
def test_checked_before_anything_is_sent(recorder, kwargs, message):
    assert message in _refusal(recorder, **kwargs)


def test_too_large_an_input_is_refused_unsent(recorder, monkeypatch):
    monkeypatch.setattr("imagemagic.inputimage.MAX_BYTES", len(RED))
    assert _refusal(recorder, image=RED) == "image 1 (image1.png) is 0.0 MB: each must be under 50 MB"


def test_unknown_models_get_generic_checks_only(recorder):
    result = _edit_at(recorder.base + "/v1", image=RED, model="acme/paint-9", input_fidelity="high", size="333x777")
    assert len(result) == 1
    assert recorder.requests.pop()["body"]["input_fidelity"] == "high"
    assert "an edit needs at least one input image" in _refusal(recorder, image=[], model="acme/paint-9")


def test_multipart_parts_as_the_sdk_sends_them(recorder):
    from PIL import Image

    pil = Image.new("RGB", (64, 64), (1, 2, 3))  # no original bytes: sent as a lossless PNG
    mask = mask_from((0, 0, 32, 32), size=(64, 64))
    _edit_at(recorder.base + "/v1", image=[RED, BLUE, pil], mask=mask, n=2, stream=False, quality="low")
    sent = recorder.requests[0]
    assert sent["path"] == "/v1/images/edits"
    assert sent["headers"]["authorization"] == "Bearer test-endpoint-key-edits"
    files = [(p["name"], p["filename"], p["content_type"]) for p in sent["parts"] if "data" in p]
    assert files == [
        ("image[]", "image1.png", "image/png"),
        ("image[]", "image2.jpg", "image/jpeg"),
        ("image[]", "image3.png", "image/png"),
        ("mask", "mask.png", "image/png"),
    ]
    datas = [p["data"] for p in sent["parts"] if "data" in p]
    assert datas[:2] == [RED, BLUE] and datas[3] == mask
    assert decoded(datas[2]).getpixel((0, 0)) == (1, 2, 3)
    assert sent["body"] == {
        "prompt": "make it night",
        "model": "gpt-image-2",
        "quality": "low",
        "n": "2",
        "stream": "false",
    }
    fields = {**sent["body"], "n": 2, "stream": False, "image": ["<binary>"] * 3, "mask": "<binary>"}
    assert schema_errors(fields, "CreateImageEditRequest") == []


def test_one_image_is_one_image_part(recorder):
    _edit_at(recorder.base + "/v1", image=BLUE)
    parts = recorder.requests[0]["parts"]
    assert [(p["name"], p["filename"], p["content_type"]) for p in parts if "data" in p] == [
        ("image", "image1.jpg", "image/jpeg")
    ]


def test_json_form_body(recorder):
    mask = mask_from((0, 0, 32, 32), size=(64, 64))
    settings = Settings(edit_format="json")
    _edit_at(recorder.base + "/v1", image=[RED, BLUE], mask=mask, settings=settings, input_fidelity=None)
    sent = recorder.requests[0]
    assert sent["headers"]["content-type"] == "application/json"
    body = sent["body"]
    assert body["images"] == [
        {"image_url": "data:image/png;base64," + base64.b64encode(RED).decode()},
        {"image_url": "data:image/jpeg;base64," + base64.b64encode(BLUE).decode()},
    ]
    assert body["mask"] == {"image_url": "data:image/png;base64," + base64.b64encode(mask).decode()}
    assert schema_errors(body, "EditImageBodyJsonParam") == []


def test_inputs_of_every_kind_and_their_history(server_url, tmp_path):
    first = imagemagic.generate("a lighthouse", base_url=server_url, size="1024x1024", n=2)
    path = tmp_path / "logo.webp"
    path.write_bytes(image_bytes((48, 48), fmt="WEBP"))
    entry = history(1)[0]
    result = imagemagic.edit("night", image=[first, first[1], path, path.read_bytes(), entry], base_url=server_url)
    meta = json.loads(result.files[0].with_suffix(".json").read_text())
    sent = meta["inputs"]
    assert [i["file"] for i in sent] == [
        str(first.files[0]),
        str(first.files[1]),
        str(first.files[1]),
        str(path),
        None,
        str(entry.path),
    ]
    assert [i["sha256"] for i in sent[:2]] == [
        json.loads(f.with_suffix(".json").read_text())["sha256"] for f in first.files
    ]
    assert meta["mask"] is None
    assert meta["parameters"]["images"] == [{"sha256": i["sha256"]} for i in sent]


def test_the_cache_knows_the_inputs(server_url):
    first = imagemagic.edit("night", image=RED, base_url=server_url, cache=True)
    again = imagemagic.edit("night", image=RED, base_url=server_url, cache=True)
    other = imagemagic.edit("night", image=image_bytes(colour=(0, 200, 0)), base_url=server_url, cache=True)
    assert again.cached and again.files == first.files
    assert not other.cached


def _post_edit(url, files, data):
    return httpx.post(f"{url}/images/edits", files=files, data=data, timeout=30)


def test_server_is_deterministic_and_repaints_the_masked_region(server_url):
    white = image_bytes((256, 256), (255, 255, 255))
    mask = mask_from((0, 0, 128, 256), size=(256, 256))  # the left half is edited
    files = [("image", ("w.png", white, "image/png")), ("mask", ("m.png", mask, "image/png"))]
    data = {"prompt": "a night sky", "size": "1024x1024"}
    answers = [_post_edit(server_url, files, data).json() for _ in range(2)]
    assert answers[0]["data"] == answers[1]["data"]
    assert schema_errors(answers[0], "ImagesResponse") == []
    img = decoded(base64.b64decode(answers[0]["data"][0]["b64_json"])).convert("RGB")
    assert img.size == (1024, 1024)
    assert img.getpixel((1000, 20)) == (255, 255, 255)  # outside the mask: the input as it was
    assert img.getpixel((20, 20)) != (255, 255, 255)  # inside: repainted
    other = _post_edit(server_url, [("image", ("w.png", image_bytes((256, 256), (0, 0, 0)), "image/png"))], data)
    assert other.json()["data"] != answers[0]["data"]


def test_server_refuses_as_the_api_does(server_url):
    gif = _post_edit(server_url, [("image", ("a.gif", image_bytes(fmt="GIF"), "image/gif"))], {"prompt": "x"})
    assert gif.status_code == 400
    assert gif.json()["error"]["message"] == "image 1 (a.gif) is gif: each input image must be png, webp or jpeg"
    none = httpx.post(f"{server_url}/images/edits", json={"prompt": "x"}, timeout=10)
    assert none.json()["error"] == {
        "message": "Missing required parameter: 'images' (a list of image references).",
        "type": "invalid_request_error",
        "param": "images",
        "code": "invalid_value",
    }
    remote = httpx.post(
        f"{server_url}/images/edits", json={"prompt": "x", "images": [{"image_url": "https://x/y.png"}]}, timeout=10
    )
    assert remote.json()["error"]["message"] == (
        "'images[0]' must be a base64 data: URL (this server fetches no external URLs)."
    )
    bad_n = _post_edit(server_url, [("image", ("a.png", RED, "image/png"))], {"prompt": "x", "n": "two"})
    assert bad_n.json()["error"]["message"] == "Invalid value for 'n': expected an integer."
    for response in (gif, none, remote, bad_n):
        assert schema_errors(response.json(), "ErrorResponse") == []


def test_batch_edit_lines(server_url):
    from openai import OpenAI

    sdk = OpenAI(base_url=server_url, api_key="unused")
    body = {
        "prompt": "night",
        "model": "gpt-image-2",
        "images": [{"image_url": "data:image/png;base64," + base64.b64encode(RED).decode()}],
    }
    line = {"custom_id": "a", "method": "POST", "url": "/v1/images/edits", "body": body}
    upload = sdk.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    batch = sdk.batches.create(input_file_id=upload.id, endpoint="/v1/images/edits", completion_window="24h")
    for _ in range(200):
        batch = sdk.batches.retrieve(batch.id)
        if batch.status in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert batch.status == "completed"
    out = json.loads(sdk.files.content(batch.output_file_id).text.splitlines()[0])
    assert out["response"]["status_code"] == 200
    assert decoded(base64.b64decode(out["response"]["body"]["data"][0]["b64_json"])).size == (1024, 1024)


def test_cli_edit(server_url, tmp_path, capsys):
    source = tmp_path / "in.png"
    source.write_bytes(RED)
    assert (
        cli_main(
            ["edit", "night", "--image", str(source), "--base-url", server_url, "--output-dir", str(tmp_path / "o")]
        )
        == 0
    )
    written = capsys.readouterr().out.split()
    assert len(written) == 1 and decoded(open(written[0], "rb").read()).size == (1024, 1024)
    with pytest.raises(SystemExit) as info:
        cli_main(["edit", "night", "--image", str(tmp_path / "none.png"), "--offline"])
    assert info.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"imagemagic: error: image '{tmp_path / 'none.png'}' could not be read: No such file or directory\n"
    )


def test_mask_from_an_image_and_a_box():
    from PIL import Image

    bw = Image.new("L", (10, 10), 0)
    bw.paste(255, (0, 0, 5, 10))
    mask = decoded(mask_from(bw))
    assert mask.mode == "RGBA" and mask.getpixel((1, 1))[3] == 0 and mask.getpixel((8, 1))[3] == 255
    boxed = decoded(mask_from((2, 2, 4, 4), size=(10, 10)))
    assert boxed.getpixel((3, 3))[3] == 0 and boxed.getpixel((8, 8))[3] == 255
    with pytest.raises(ValidationError, match=r"^mask_from\(box\) needs size=\(width, height\) of the image to edit$"):
        mask_from((0, 0, 1, 1))


def test_a_pil_image_from_a_file_is_sent_as_its_bytes(recorder, tmp_path):
    from PIL import Image

    path = tmp_path / "photo.jpg"
    path.write_bytes(BLUE)
    _edit_at(recorder.base + "/v1", image=Image.open(path))
    (part,) = [p for p in recorder.requests[0]["parts"] if "data" in p]
    assert (part["filename"], part["data"]) == ("photo.jpg", BLUE)
