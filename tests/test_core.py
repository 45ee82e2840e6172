"""What the core promises every front end: one-line refusals, reprs without base64, resolution that starts
nothing, the local server started off the loop, and a Session whose sleep is injected."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading

import pytest
from helpers.scripted import png_b64, reply

import imagemagic
from imagemagic.controlpanel import Panel
from imagemagic.endpoint import resolve
from imagemagic.errors import ValidationError
from imagemagic.result import GeneratedImage, ImageResult
from imagemagic.session import Session


def _cli(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "imagemagic", *args], capture_output=True, text=True, timeout=60, env={**clean, **env}
    )


def test_version(clean_env):
    done = _cli("--version", env={"IMAGEMAGIC_HOME": str(clean_env)})
    assert (done.returncode, done.stdout) == (0, f"imagemagic {imagemagic.__version__}\n")


def test_an_unwritable_output_dir_exits_2_in_one_line_and_sends_nothing(recorder, clean_env):
    env = {"IMAGEMAGIC_HOME": str(clean_env), "OPENAI_BASE_URL": f"{recorder.base}/v1"}
    done = _cli("generate", "x", "--output-dir", "/proc/nope", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("imagemagic: error: --output-dir /proc/nope: ")
    assert done.stderr.endswith("; nothing was sent\n") and done.stderr.count("\n") == 1
    assert recorder.requests == []
    ok = _cli("generate", "x", "--output-dir", str(clean_env / "out"), env=env)  # the same command can send
    assert ok.returncode == 0 and len(recorder.requests) == 1


def test_an_unknown_keyword_names_the_parameters_and_suggests_the_closest(recorder):
    with pytest.raises(ValidationError) as caught:
        imagemagic.generate("a kite", base_url=f"{recorder.base}/v1", sise="1024x1024")
    assert str(caught.value) == (
        "'sise' is not a parameter of generate: did you mean 'size'? use model, size, resolution, quality, n, "
        "background, "
        "output_format, output_compression, moderation, stream, partial_images, style, response_format, user, "
        "safety_identifier, complexity, frame_count, frame_duration_ms"
    )
    assert recorder.requests == []


def test_a_refused_config_value_is_one_plain_line(ip, capfd):
    ip.run_line_magic("config", "ImageGenMagics.quality = 'ultra'")
    err = capfd.readouterr().err
    assert err == (
        "UsageError: quality='ultra' is not allowed for gpt-image-2: use low, medium, high, auto "
        "(ImageGenMagics keeps its settings)\n"
    )
    assert ip.magics_manager.registry["ImageGenMagics"].quality is None


def _images(count=2):
    b64 = png_b64((64, 48))
    return [GeneratedImage(b64=b64, index=i, request_id="req_1") for i in range(count)], b64


def test_reprs_carry_no_base64():
    images, b64 = _images()
    long_b64 = base64.b64encode(os.urandom(30_000)).decode()
    big = GeneratedImage(b64=long_b64, index=0)
    assert long_b64[:64] not in repr(big) and len(repr(big)) < 120
    result = ImageResult(images)
    text = repr(result)
    assert text == "<ImageResult: 2 images: 64x48 png>" and b64[:32] not in text
    assert b64[:32] not in repr(images[0])


def test_an_image_result_shows_as_a_thumbnail_strip_and_one_line():
    import io

    from PIL import Image

    images, b64 = _images()
    bundle = ImageResult(images)._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}
    assert bundle["text/plain"] == "<ImageResult: 2 images: 64x48 png>"
    with Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))) as strip:
        assert strip.format == "PNG" and strip.width > strip.height  # the images side by side
    assert bundle["image/png"] != b64


def test_resolving_an_endpoint_starts_nothing():
    threads = set(threading.enumerate())
    endpoint = resolve()
    assert endpoint.base_url is None and endpoint.offline and endpoint.reason == "no OPENAI_API_KEY"
    assert set(threading.enumerate()) == threads


def test_the_local_server_starts_off_the_loop_while_the_panel_stays_responsive():
    """While a fresh Session starts its server, the loop keeps ticking (a start on the loop would happen
    within one step of it: the loop would see the server missing once or twice, then there)."""
    session = Session()
    p = Panel(session=session)
    p.controls["prompt"].value = "a red kite"

    async def main():
        threads = set(threading.enumerate())
        p.generate_button.click()  # returns at once: nothing started yet
        assert p.task is not None and set(threading.enumerate()) == threads
        ticks = 0
        while session._server is None:  # until the server is up
            await asyncio.sleep(0)
            ticks += 1
        return await p.task, ticks

    try:
        run, ticks = asyncio.run(main())
    finally:
        session.close()
    assert run.error is None and run.endpoint.offline and len(run.images) == 1
    assert ticks > 10


def test_a_fresh_session_records_the_waits_of_rate_limits(scripted):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    limited = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    server = scripted(
        reply(429, limited, headers={"retry-after": "7"}), reply(429, limited, headers={"retry-after-ms": "2500"})
    )
    result = imagemagic.generate("a kite", base_url=server.url, session=Session(sleep=sleep))
    assert len(result) == 1 and len(server.requests) == 3
    assert waits == [7.0, 2.5]
