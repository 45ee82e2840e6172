"""Every `%config ImageGenMagics` trait reaches the wire (or shows its effect) from each front end
inside the kernel: the magic, the panel and `imagemagic.generate`, all through one preparation path."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path

import ipywidgets
import pytest
from helpers.scripted import completed_event, partial_event, refused_url, reply, stall, stream
from helpers.warned import said as warned
from IPython.core.error import UsageError

import imagemagic
from imagemagic.controlpanel import Panel, panel
from imagemagic.params import for_operation
from imagemagic.session import Session, default

# Non-default values valid together: for gpt-image-2, and for a model outside the catalog (generic checks).
GPT_IMAGE_2 = {
    "model": "gpt-image-2",
    "quality": "high",
    "size": "1536x1024",
    "n": 2,
    "background": "opaque",
    "output_format": "jpeg",
    "output_compression": 50,
    "moderation": "low",
    "user": "u1",
    "safety_identifier": "h1",
}
OTHER_MODEL = {
    "model": "acme/painter-3",
    "style": "natural",
    "response_format": "b64_json",
    "complexity": "high",
    "frame_count": 4,
    "frame_duration_ms": 120,
}
STREAMING = {"stream": True, "partial_images": 2}
ASPECT = {"size": "16:9", "resolution": "2K"}  # resolution is request-side: the size it picks reaches the wire


def configure(ip, **values):
    for name, value in values.items():
        ip.run_line_magic("config", f"ImageGenMagics.{name} = {value!r}")
    magics = ip.magics_manager.registry["ImageGenMagics"]
    assert {name: getattr(magics, name) for name in values} == values  # none was refused


def via_magic(ip):
    ip.run_cell_magic("imagegen", "--out seen", "a kite")
    return ip.user_ns.pop("seen")


def via_generate(ip, session=None):
    return imagemagic.generate("a kite", session=session)


def via_panel(ip, session=None):
    """Generate from a new panel (its defaults from %config) on a fresh loop; return the finished Run."""
    p = Panel(session=session)
    p.controls["prompt"].value = "a kite"

    async def click():
        p.generate_button.click()
        return await p.task

    return asyncio.run(click())


FRONT_ENDS = {"magic": via_magic, "generate": via_generate, "panel": via_panel}


def result_of(front_end, outcome):
    return outcome.result if front_end == "panel" else outcome


def test_the_cases_below_cover_every_generate_parameter():
    covered = {*GPT_IMAGE_2, *OTHER_MODEL, *STREAMING, *ASPECT}
    assert covered == {p.name for p in for_operation("generate")}


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_an_aspect_and_a_resolution_reach_the_wire_as_the_size_they_pick(ip, recorder, front_end):
    configure(ip, base_url=f"{recorder.base}/v1", **ASPECT)
    FRONT_ENDS[front_end](ip)
    assert [r["body"] for r in recorder.requests] == [{"prompt": "a kite", "model": "gpt-image-2", "size": "2048x1152"}]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@pytest.mark.parametrize("values", [GPT_IMAGE_2, OTHER_MODEL], ids=["gpt-image-2", "other-model"])
def test_every_parameter_default_reaches_the_wire(ip, recorder, front_end, values):
    edit_only = {"input_fidelity": "high"} if values is OTHER_MODEL else {}
    configure(ip, base_url=f"{recorder.base}/v1", **values, **edit_only)
    FRONT_ENDS[front_end](ip)
    assert [r["body"] for r in recorder.requests] == [{"prompt": "a kite", **values}]  # never the edit-only default
    assert recorder.requests[0]["path"] == "/v1/images/generations"


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_stream_and_partial_images_reach_the_wire(ip, scripted, front_end):
    server = scripted(stream(partial_event(), partial_event(), completed_event()))
    configure(ip, base_url=server.url, **STREAMING)
    result = result_of(front_end, FRONT_ENDS[front_end](ip))
    assert len(result) == 1 and not result.partial
    body = server.requests[0][1]
    assert b'"stream":true' in body and b'"partial_images":2' in body


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_offline_answers_from_the_local_server_whatever_the_base_url(ip, recorder, monkeypatch, front_end):
    monkeypatch.setenv("OPENAI_BASE_URL", refused_url())
    configure(ip, base_url=f"{recorder.base}/v1", offline=True)
    result = result_of(front_end, FRONT_ENDS[front_end](ip))
    assert len(result) == 1 and result.cost == 0.0
    assert recorder.requests == []


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@pytest.mark.parametrize("retries", [0, 2])
def test_max_retries_is_the_number_of_retries(ip, scripted, front_end, retries):
    error = {"error": {"message": "boom", "type": "server_error"}}
    server = scripted(default=reply(500, error, headers={"retry-after-ms": "1"}))
    configure(ip, base_url=server.url, max_retries=retries)
    assert "boom" in failure(ip, front_end)
    assert len(server.requests) == retries + 1


def failure(ip, front_end):
    """The one line a front end ends with when the call fails."""
    if front_end == "panel":
        return via_panel(ip).error
    with pytest.raises((UsageError, imagemagic.ImageMagicError)) as caught:
        FRONT_ENDS[front_end](ip)
    return str(caught.value)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_timeout_ends_a_stalled_answer_as_a_read_timeout(ip, scripted, front_end):
    server = scripted(stall(30))
    configure(ip, base_url=server.url, timeout=0.5, max_retries=3)
    assert "within 0.5 s (the timeout)" in failure(ip, front_end)
    assert len(server.requests) == 1  # never retried after sending: the provider may have billed it


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_prices_price_the_usage(ip, recorder, front_end):
    price = {"text_input": 1_000_000, "image_input": 0, "image_output": 100_000}
    configure(ip, base_url=f"{recorder.base}/v1", prices={"gpt-image-2": price})
    result = result_of(front_end, FRONT_ENDS[front_end](ip))
    assert result.cost == pytest.approx(3 * 1.0 + 7 * 0.1)  # the recorder's usage: 3 text in, 7 out


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_history_limit_mb_prunes_older_images(ip, recorder, front_end):
    configure(ip, base_url=f"{recorder.base}/v1", history_limit_mb=0.000001, cache=False)  # the magic pays again
    first = list(result_of(front_end, FRONT_ENDS[front_end](ip)).files)  # the result itself is let go
    ipywidgets.Widget.close_all()  # a panel still open shows its images: they are in use
    default().last_result = None  # the session keeps the last result for a bare --continue: let it go too
    gc.collect()  # a live result's files are spared
    for file in first:  # older than the grace period that spares images still being shown
        os.utime(file, (time.time() - 86400, time.time() - 86400))
    second = result_of(front_end, FRONT_ENDS[front_end](ip))
    assert first and not any(Path(f).exists() for f in first)
    assert all(Path(f).exists() for f in second.files)


@pytest.mark.parametrize("front_end", ["generate", "panel"])
@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrency_reaches_the_client(ip, recorder, front_end, limit):
    session = Session()
    configure(ip, base_url=f"{recorder.base}/v1", max_concurrency=limit, timeout=77.0, max_retries=1)
    FRONT_ENDS[front_end](ip, session)
    (client,) = session._clients.values()
    assert (client.max_concurrency, client.max_retries) == (limit, 1)


def test_max_concurrency_reaches_the_magics_client(ip, recorder):
    configure(ip, base_url=f"{recorder.base}/v1", max_concurrency=3, timeout=78.0)
    before = set(default()._clients)
    via_magic(ip)
    (new,) = set(default()._clients) - before
    assert default()._clients[new].max_concurrency == 3


@pytest.mark.parametrize("cache", [True, False])
def test_cache_decides_whether_the_magic_pays_again(ip, recorder, cache):
    configure(ip, base_url=f"{recorder.base}/v1", cache=cache)
    via_magic(ip)
    again = via_magic(ip)
    assert (again.cached, len(recorder.requests)) == (cache, 1 if cache else 2)


def test_display_files_prints_the_paths(ip, recorder, capsys):
    configure(ip, base_url=f"{recorder.base}/v1", display="files", n=2)
    seen = via_magic(ip)
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if line.startswith("saved ")] == [f"saved {path}" for path in seen.files]


@pytest.mark.parametrize("front_end", ["magic", "generate", "panel"])
@pytest.mark.parametrize("cache", [True, False])
def test_every_front_end_follows_the_cache_setting(ip, recorder, front_end, cache):
    configure(ip, base_url=f"{recorder.base}/v1", cache=cache)
    FRONT_ENDS[front_end](ip)
    again = result_of(front_end, FRONT_ENDS[front_end](ip))
    assert (again.cached, len(recorder.requests)) == (cache, 1 if cache else 2)


def test_each_front_end_has_its_fresh_override(ip, recorder):
    configure(ip, base_url=f"{recorder.base}/v1", cache=True)
    via_magic(ip)
    ip.run_cell_magic("imagegen", "--fresh", "a kite")
    assert not imagemagic.generate("a kite", cache=False).cached
    p = Panel()
    p.controls["prompt"].value = "a kite"
    p.fresh.value = True

    async def click():
        p.generate_button.click()
        return await p.task

    assert not asyncio.run(click()).result.cached
    assert len(recorder.requests) == 4


def test_copy_as_cell_round_trips_under_a_non_default_config(ip, recorder):
    configure(
        ip,
        base_url=f"{recorder.base}/v1",
        quality="high",
        output_format="webp",
        output_compression=40,
        n=2,
        moderation="low",
        user="u7",
    )
    p = panel()
    p.controls["prompt"].value = "A lighthouse,\n'watercolor' & ink"
    p.controls["quality"].value = "low"  # changed in the panel
    p.controls["n"].value = 1
    p.controls["background"].value = "opaque"
    p.controls["output_compression"].value = "40"  # the same as the default: sends nothing extra
    cell = p.copy_as_cell()
    ip.run_cell(cell)
    p.fresh.value = True  # the same request: without fresh the panel shows the cell's images from the cache
    panel_run = via_panel_of(p)
    assert len(recorder.requests) == 2
    assert (
        recorder.requests[0]["body"]
        == recorder.requests[1]["body"]
        == {
            "prompt": "A lighthouse,\n'watercolor' & ink",
            "model": "gpt-image-2",
            "n": 1,
            "quality": "low",
            "background": "opaque",
            "output_format": "webp",
            "output_compression": 40,
            "moderation": "low",
            "user": "u7",
        }
    )
    assert panel_run.error is None


def via_panel_of(p):
    async def click():
        p.generate_button.click()
        return await p.task

    return asyncio.run(click())


@pytest.mark.parametrize("front_end", [*FRONT_ENDS, "sweep"])
def test_fewer_images_than_n_are_said_on_every_front_end(ip, scripted, front_end, recwarn):
    server = scripted(default=reply())  # one image, whatever n asked
    configure(ip, base_url=server.url, n=4)
    if front_end == "sweep":
        imagemagic.sweep("a {thing}", thing=["kite"])
        said = warned(recwarn)
    elif front_end == "panel":
        said = via_panel(ip).notes
    else:
        FRONT_ENDS[front_end](ip)
        said = warned(recwarn)
    assert said == ["1 of 4 images arrived (n=4)"]
