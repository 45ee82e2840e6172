"""Inline display through a real IPython shell's display publisher: placeholders, in-place updates that
pass the wire's base64 through, skipped partials, captions, the terminal fallback, and a cheap load_ext."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import threading
from pathlib import Path

from helpers.images import decoded, pixels_loaded, png_width
from IPython.utils.capture import capture_output

from imagemagic.client import Status
from imagemagic.display import PLACEHOLDER_WIDTH, LiveDisplay, caption
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage, ImageResult
from imagemagic.server import preview


def wire(fmt):
    """Base64 text of a small image in `fmt`, as a server would send it."""
    return base64.b64encode(
        preview.encode(preview.render_final("x", width=96, height=64, model="gpt-image-2"), fmt, None)
    ).decode()


def shown(captured):
    """(update?, display_id, data) of each output the shell published."""
    return [(out.update, out.transient["display_id"], out.data) for out in captured.outputs]


def arrive(live, events):
    """Hand `events` to the display within one turn of an event loop, as a fast stream does.

    The loop gets its own thread: a test before may have left a loop running in this one.
    """

    async def burst():
        for event in events:
            live.on_event(event)
        await asyncio.sleep(0)

    thread = threading.Thread(target=asyncio.run, args=(burst(),))
    thread.start()
    thread.join()


def test_superseded_partials_are_skipped_never_pixels_loaded(ip):
    request = ImageRequest(prompt="x", stream=True, partial_images=3, size="1536x1024").validated()
    b64 = wire("png")
    partials = [GeneratedImage(b64=b64, partial=True, partial_index=i) for i in range(3)]
    final = GeneratedImage(b64=b64)
    with capture_output() as captured:
        live = LiveDisplay(request)
        live.open()
        arrive(live, [*partials, final])
    (opened, display_id, placeholder), (updated, same_id, data) = shown(captured)
    assert (opened, updated, same_id) == (False, True, display_id)
    assert placeholder["text/plain"] == data["text/plain"] == "<image 1 of 1 · gpt-image-2 · 1536x1024>"
    assert png_width(placeholder["image/png"]) == PLACEHOLDER_WIDTH
    assert set(data) == {"image/png", "text/plain"} and data["image/png"] is b64
    assert live.skipped == 3
    assert all(img._data is None for img in [*partials, final]), "showing must not decode"


def test_each_slot_shows_its_own_latest_image(ip):
    request = ImageRequest(prompt="x", n=2, stream=True, partial_images=1, size="1024x1024").validated()
    first, second = wire("png"), wire("jpeg")
    with capture_output() as captured:
        live = LiveDisplay(request)
        live.open()
        arrive(live, [GeneratedImage(b64=second, index=1, partial=True, partial_index=0)])
        arrive(live, [GeneratedImage(b64=first, index=0), GeneratedImage(b64=second, index=1)])
    outputs = shown(captured)
    ids = [display_id for _, display_id, _ in outputs[:2]]
    assert [(update, ids.index(i), sorted(data)) for update, i, data in outputs[2:]] == [
        (True, 1, ["image/jpeg", "text/plain"]),
        (True, 0, ["image/png", "text/plain"]),
        (True, 1, ["image/jpeg", "text/plain"]),
    ]
    assert live.skipped == 0


def test_webp_goes_to_the_front_end_as_a_still_copy_of_its_size(ip):
    b64 = wire("webp")  # nbconvert's HTML, GitHub and nbviewer draw no image/webp (imagemagic.static)
    with capture_output() as captured:
        live = LiveDisplay(ImageRequest(prompt="x", output_format="webp").validated())
        live.open()
        arrive(live, [GeneratedImage(b64=b64)])
    data = shown(captured)[-1][2]
    (mime,) = set(data) - {"text/plain"}
    assert mime in ("image/png", "image/jpeg")
    assert decoded(base64.b64decode(data[mime])).size == decoded(base64.b64decode(b64)).size


def test_a_status_line_redraws_only_the_placeholders(ip):
    request = ImageRequest(prompt="x", n=2, stream=True, size="1024x1024").validated()
    with capture_output() as captured:
        live = LiveDisplay(request)
        live.open()
        arrive(live, [GeneratedImage(b64=wire("png"), index=0)])
        arrive(live, [Status("rate limited, retrying in 1.0 s")])
    outputs = shown(captured)
    ids = [display_id for _, display_id, _ in outputs[:2]]
    assert [ids.index(display_id) for _, display_id, _ in outputs[2:]] == [0, 1]
    redrawn = outputs[-1][2]["image/png"]
    assert png_width(redrawn) == PLACEHOLDER_WIDTH and redrawn != outputs[1][2]["image/png"]


def test_the_magic_shows_small_outputs_and_binds_lazy_images(ip):
    with capture_output() as captured:
        ip.run_cell_magic("imagegen", "--stream --partial-images 2 -n 2 --size 1024x1024 --out hero", "a red kite")
    hero = ip.user_ns["hero"]
    for _, _, data in shown(captured):
        assert "text/html" not in data and len(data["text/plain"]) < 80
    assert [pixels_loaded(pil) for pil in hero] == [False, False], "pixels decode only when used"
    assert [pil.size for pil in hero] == [(1024, 1024)] * 2
    assert hero[0].getpixel((0, 0)) is not None and not pixels_loaded(hero[1])


def test_caption_lists_each_image_then_the_call():
    request = ImageRequest(prompt="x", n=2).validated()
    images = [
        GeneratedImage(b64=wire("png"), revised_prompt="a red kite, watercolor"),
        GeneratedImage(b64=wire("jpeg"), index=1, partial=True, partial_index=0),
    ]
    result = ImageResult(
        images, usage={"total_tokens": 1234, "input_tokens": 34, "output_tokens": 1200}, elapsed=3.25, request=request
    )
    assert caption(result) == (
        "[1] 96x64 png · revised prompt: a red kite, watercolor\n"
        "[2] 96x64 jpeg (partial)\n"
        "2 images in 3.2 s · 1,234 tokens (input 34, output 1,200)"
    )
    assert (
        caption(ImageResult(images[:1], elapsed=0.5))
        == "[1] 96x64 png · revised prompt: a red kite, watercolor\n1 image in 0.5 s"
    )


def test_terminal_shell_saves_files_and_prints_paths(ip, capsys, clean_env):
    assert type(ip).__name__ == "TerminalInteractiveShell"
    ip.run_line_magic("config", "ImageGenMagics.display = 'auto'")
    published = []
    ip.display_pub.publish = lambda *args, **kwargs: published.append(args)
    ip.run_cell_magic("imagegen", "--stream --partial-images 1 -n 2 --size 1024x1024 --out hero", "a red kite")
    lines = capsys.readouterr().out.splitlines()
    saved = [Path(line.removeprefix("saved ")) for line in lines if line.startswith("saved ")]
    assert published == []
    assert len(saved) == 2 and all(p.parent.parent == clean_env / "images" and p.suffix == ".png" for p in saved)
    assert [p.read_bytes() for p in saved] == [img.data for img in ip.user_ns["hero"].images]
    assert not any("<image" in line or "base64" in line for line in lines)


LOAD_EXT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
started = time.perf_counter()
shell.run_line_magic("load_ext", "imagemagic")
seconds = time.perf_counter() - started
heavy = ("httpx", "PIL", "ipywidgets", "starlette", "uvicorn", "nest_asyncio2")
loaded = [m for m in heavy if m in sys.modules]
started = time.perf_counter()
import httpx, PIL.Image, ipywidgets, starlette.applications, uvicorn  # what a first generation loads
deferred = time.perf_counter() - started
print(json.dumps([seconds, deferred, loaded]))
"""


def test_load_ext_is_cheap_and_imports_nothing_heavy():
    """%load_ext in a fresh IPython (best of 5 processes) costs a fraction of the libraries it leaves for
    the first generation (measured in the same processes), and loads none of them."""
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", LOAD_EXT], capture_output=True, text=True, check=True).stdout)
        for _ in range(5)
    ]
    assert all(heavy == [] for _, _, heavy in runs)
    assert min(seconds for seconds, _, _ in runs) < min(deferred for _, deferred, _ in runs) / 3, runs


def test_a_failed_call_says_so_where_the_images_would_have_been(ip, start_server, monkeypatch):
    import imagemagic.display

    drawn = []
    real = imagemagic.display.placeholder_png
    monkeypatch.setattr(
        imagemagic.display, "placeholder_png", lambda size, lines: drawn.append(lines) or real(size, lines)
    )
    monkeypatch.setenv("OPENAI_BASE_URL", start_server(api_key="server-only-key"))
    with capture_output() as captured:
        ip.run_cell("%%imagegen --size 1024x1024 -n 2\na kite")
    assert captured.stderr.startswith(
        "UsageError: HTTP 401 (type=invalid_request_error, code=invalid_api_key): Incorrect API key provided."
    )
    assert drawn[-2:] == [
        ["no image · gpt-image-2 · 1024x1024", f"image {k} of 2 · 0 s", "failed: AuthenticationError"] for k in (1, 2)
    ]
    updates = [out for out in captured.outputs if out.update]
    assert len(updates) == 2 and len({out.transient["display_id"] for out in updates}) == 2
