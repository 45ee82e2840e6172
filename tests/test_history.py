"""History on disk: every final image and its metadata land atomically before display, survive a
killed kernel, are listed by imagemagic.history() and %imagegen_history, and stay under a size cap."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import warnings

import pytest
from helpers.kernels import kernel
from helpers.scripted import completed_event, partial_event, png_b64, stream

import imagemagic
from imagemagic.call import Call
from imagemagic.endpoint import Endpoint
from imagemagic.errors import ImageMagicWarning
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage
from imagemagic.session import default
from imagemagic.settings import Plan, Settings
from imagemagic.store import HistoryStore, atomic_write


def _metas(home):
    return [json.loads(p.read_text()) for p in sorted(home.rglob("*.json")) if "images" in p.parts]


def test_metadata_holds_prompt_every_parameter_and_the_answer(server_url, clean_env):
    result = imagemagic.generate(
        "a red kite",
        base_url=server_url,
        model="gpt-image-2",
        size="1024x1536",
        quality="low",
        output_format="jpeg",
        output_compression=70,
        n=2,
    )
    metas = _metas(clean_env)
    assert [m["index"] for m in metas] == [0, 1]
    meta = metas[0]
    assert meta["prompt"] == "a red kite" and meta["model"] == "gpt-image-2"
    assert meta["parameters"] == {
        "model": "gpt-image-2",
        "n": 2,
        "size": "1024x1536",
        "quality": "low",
        "output_format": "jpeg",
        "output_compression": 70,
    }
    assert meta["endpoint"] == "127.0.0.1" and meta["format"] == "jpeg"
    assert meta["request_id"] == result.request_ids[0] and meta["request_id"].startswith("req_")
    assert meta["usage"]["output_tokens"] > 0 and isinstance(meta["created"], int)
    assert [p.read_bytes() for p in result.files] == [img.data for img in result.images]


def test_metadata_keeps_the_revised_prompt(server_url, clean_env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageMagicWarning)
        imagemagic.generate("a lighthouse", base_url=server_url, model="dall-e-3", style="natural")
    (meta,) = _metas(clean_env)
    assert meta["revised_prompt"] == "a lighthouse" and meta["parameters"]["style"] == "natural"


def test_final_image_is_on_disk_before_the_display_sees_it(server_url, clean_env):
    seen = []

    def on_event(img):
        if isinstance(img, GeneratedImage) and not img.partial:
            files = list((clean_env / "images").glob("*/*.png"))
            seen.append([(f.read_bytes() == img.data, f.with_suffix(".json").exists()) for f in files])

    request = ImageRequest(prompt="a kite", model="gpt-image-2", stream=True, partial_images=2)
    call = Call(Plan(request, Endpoint(server_url), Settings()), session=default(), on_event=on_event)
    default().run_sync(call.run())
    assert seen == [[(True, True)]]


def test_atomic_write_leaves_the_old_file_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "a" / "img.png"
    atomic_write(target, b"first")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["img.png"]


def test_killed_kernel_right_after_the_completed_event_keeps_the_image(scripted, clean_env):  # noqa: F811
    final = png_b64(colour=(1, 2, 3))
    release = threading.Event()
    server = scripted(stream(partial_event(), completed_event(final), hang=release))
    try:
        with kernel(OPENAI_BASE_URL=server.url) as k:
            msg_id = k.execute("%%imagegen --model gpt-image-2 --stream --partial-images 1\na red kite")
            for kind, content in k.messages(msg_id, timeout=60):
                if kind in ("display_data", "update_display_data") and content["data"].get("image/png") == final:
                    break
            os.kill(k.manager.provisioner.process.pid, signal.SIGKILL)
            k.manager.provisioner.process.wait(10)
    finally:
        release.set()
    (png,) = (clean_env / "images").glob("*/*.png")
    assert png.read_bytes() == base64.b64decode(final)
    assert json.loads(png.with_suffix(".json").read_text())["prompt"] == "a red kite"


def test_history_lists_newest_first_with_lazy_images(server_url, clean_env):
    for prompt in ("first", "second", "third"):
        imagemagic.generate(prompt, base_url=server_url, size="1024x1024")
    entries = imagemagic.history(2)
    assert [e.prompt for e in entries] == ["third", "second"]
    assert entries[0]._image is None
    assert entries[0].image.size == (1024, 1024) and entries[0].meta["model"] == entries[0].meta["parameters"]["model"]
    assert "second" in repr(entries[1]) and len(repr(entries[1])) < 200


def _fill(store, count, size):
    """Store `count` one-image calls of about `size` bytes each, one second apart (oldest first)."""
    paths = []
    for i in range(count):
        img = GeneratedImage.from_bytes(base64.b64decode(png_b64()) + b"\0" * size)
        path = store.save(img, {"prompt": f"p{i}"}, f"call{i}")
        os.utime(path, (1000 + i, 1000 + i))
        os.utime(path.with_suffix(".json"), (1000 + i, 1000 + i))
        paths.append(path)
    return paths


def test_size_cap_prunes_oldest_first(clean_env):
    store = HistoryStore(limit_mb=0.3)
    paths = _fill(store, 5, 100_000)
    store.prune(keep=[paths[0]])
    assert [p.exists() for p in paths] == [True, False, False, True, True]
    assert [p.with_suffix(".json").exists() for p in paths] == [True, False, False, True, True]


def test_magic_history_shows_small_thumbnails_not_html(ip, monkeypatch):
    ip.run_cell("%%imagegen --size 1536x1024\na blue sea")
    published = []
    monkeypatch.setattr(ip.display_pub, "publish", lambda data, **kw: published.append(data))
    ip.run_line_magic("imagegen_history", "-n 5")
    (data,) = published
    assert set(data) == {"image/png", "text/plain"}
    thumb = imagemagic.result.open_image(base64.b64decode(data["image/png"]))
    assert thumb.size == (160, 107)
    assert data["text/plain"].endswith("gpt-image-2  1536x1024  'a blue sea'  " + imagemagic.history(1)[0].path.name)


def test_magic_history_in_files_mode_prints_lines(ip, capsys):
    ip.run_line_magic("config", "ImageGenMagics.display = 'files'")
    ip.run_line_magic("imagegen_history", "")
    assert capsys.readouterr().out == "no images in the history yet\n"
    ip.run_cell("%%imagegen --size 1024x1024\na kite")
    capsys.readouterr()
    ip.run_line_magic("imagegen_history", "")
    assert capsys.readouterr().out == imagemagic.history(1)[0].line() + "\n"
