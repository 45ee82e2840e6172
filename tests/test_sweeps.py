"""Sweeps: many requests from a template, grid axes and rows, run concurrently over real HTTP, with a
shared rate limit, failures recorded, a budget, a contact sheet, DataFrames, files, and resume."""

from __future__ import annotations

import base64
import io
import os
import signal
import time

import pytest
from helpers.counting import CountingServer
from helpers.kernels import kernel
from helpers.scripted import ok_body, reply
from IPython.utils.capture import capture_output
from PIL import Image

from imagemagic.contact import Cell, layout
from imagemagic.errors import BadRequestError, ValidationError
from imagemagic.session import Session
from imagemagic.settings import Settings
from imagemagic.sweeps import sweep


def timed(step, times):
    """A scripted step that records when it answered."""

    async def answer(writer):
        times.append(time.monotonic())
        await step(writer)

    return answer


def slow(step, seconds):
    async def answer(writer):
        import asyncio

        await asyncio.sleep(seconds)
        await step(writer)

    return answer


def test_a_429_slows_the_whole_run_not_just_its_request(scripted):
    times = []
    server = scripted(
        timed(reply(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "1"}), times),
        timed(slow(reply(), 0.3), times),  # in flight beside the 429: answered after the gate closed
        default=timed(reply(), times),
    )
    settings = Settings(base_url=server.url, max_concurrency=2, cache=False)
    result = sweep("shape {i}", i=[1, 2, 3, 4, 5], settings=settings, session=Session(), progress=False)
    assert [run.error for run in result] == [None] * 5
    assert len(server.requests) == 6  # five requests and the retry of the one limited
    limited = times[0]
    later = [t - limited for t in times[2:]]  # every request sent after the 429 was seen, the retry included
    assert later and min(later) >= 1.0, later


def test_x_ratelimit_remaining_zero_closes_the_gate_until_the_reset(scripted):
    times = []
    quota = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "800ms"}
    server = scripted(timed(reply(200, ok_body(), quota), times), default=timed(reply(), times))
    settings = Settings(base_url=server.url, max_concurrency=1, cache=False)
    result = sweep("shape {i}", i=[1, 2, 3], settings=settings, session=Session(), progress=False)
    assert len(result) == 3 and not any(run.error for run in result)
    assert times[1] - times[0] >= 0.8


def test_one_failed_image_is_recorded_and_the_run_goes_on(scripted):
    bad = {"error": {"message": "no foxes today", "type": "invalid_request_error", "param": "prompt"}}
    server = scripted(reply(), reply(400, bad, {"x-request-id": "req_bad"}))
    settings = Settings(base_url=server.url, max_concurrency=1, cache=False)
    result = sweep("A {animal}", animal=["owl", "fox", "hare"], settings=settings, session=Session(), progress=False)
    assert [type(run.error) for run in result] == [type(None), BadRequestError, type(None)]
    assert str(result[1].error) == (
        "HTTP 400 (type=invalid_request_error, param=prompt): no foxes today [request id req_bad]"
    )
    assert len(result.images) == 2 and len(server.requests) == 3
    assert "2 images from 3 requests" in result.summary() and "0 from the cache, 1 failed" in result.summary()
    frame = result.to_pandas()
    assert list(frame["animal"]) == ["owl", "fox", "hare"]
    assert frame["error"].tolist()[1].startswith("HTTP 400") and frame["image"].tolist()[1] is None


def test_every_variant_is_checked_before_anything_is_sent(recorder):
    settings = Settings(base_url=f"{recorder.base}/v1")
    with pytest.raises(ValidationError) as caught:
        sweep("A {animal}", animal=["fox", "owl"], size=["1024x1024", "13x7"], settings=settings, progress=False)
    assert str(caught.value).splitlines() == [
        "animal=fox, size=13x7: size=13x7 does not fit gpt-image-2: both sides must be divisible by 16"
        " — did you mean 16x16?",
        "animal=owl, size=13x7: size=13x7 does not fit gpt-image-2: both sides must be divisible by 16"
        " — did you mean 16x16?",
    ]
    assert recorder.requests == []


def test_the_budget_names_the_count_the_cost_and_how_to_go_ahead(recorder):
    settings = Settings(base_url=f"{recorder.base}/v1")
    params = {"model": "gpt-image-1.5", "quality": "low", "size": "1024x1024"}
    with pytest.raises(ValidationError) as caught:
        sweep("card {i}", i=list(range(25)), settings=settings, progress=False, **params)
    assert str(caught.value) == (
        "this run makes 25 images, more than the sweep limit of 24 (est. cost $0.22); nothing was sent. "
        "To go ahead: --limit 25 (limit=25 in Python)"
    )
    assert recorder.requests == []
    result = sweep("card {i}", i=list(range(25)), limit=25, settings=settings, progress=False, **params)
    assert len(result) == 25 and len(recorder.requests) == 25


def test_the_magic_runs_a_grid_and_refuses_too_many_in_one_line(ip, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    ip.user_ns["animals"] = ["fox", "owl", "hare"]
    with capture_output() as captured:
        ip.run_cell("%%imagegen --grid animal=animals --grid quality=low,high --size 1024x1024 --out sheet\nA {animal}")
    result = ip.user_ns["sheet"]
    assert [(r.variables, r.request.prompt, r.request.quality) for r in result][:2] == [
        ({"animal": "fox", "quality": "low"}, "A fox", "low"),
        ({"animal": "fox", "quality": "high"}, "A fox", "high"),
    ]
    assert len(recorder.requests) == 6
    assert captured.stdout.splitlines()[-1].startswith("6 images from 6 requests in ")
    ip.user_ns["xs"] = list(range(30))
    with capture_output() as captured:
        ip.run_cell("%%imagegen --grid k=xs\ncard {k}")
    assert captured.stderr == (
        "UsageError: this run makes 30 images, more than the sweep limit of 24 (est. cost $6.32); "
        "nothing was sent. To go ahead: --limit 30 (limit=30 in Python)\n"
    )
    assert len(recorder.requests) == 6


def test_cells_are_templates_like_lines_and_a_missing_name_is_one_line(ip, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    ip.user_ns["animal"] = "heron"
    with capture_output():
        ip.run_cell("%imagegen --out a A $animal at {animal.upper()}")
        ip.run_cell("%%imagegen --fresh --out b\nA $animal at {animal.upper()}")
        ip.run_cell("%%imagegen --no-expand --out c\nA {animal}")
    assert [r["body"]["prompt"] for r in recorder.requests] == ["A heron at HERON", "A heron at HERON", "A {animal}"]
    with capture_output() as captured:
        ip.run_cell("%%imagegen\nA {beast}")
    assert captured.stderr == (
        "UsageError: the template uses 'beast', which is not a grid axis, a row column or a variable "
        "(use --no-expand / expand=False to send the text as written)\n"
    )
    assert len(recorder.requests) == 3


def test_contact_sheet_rows_and_columns_come_from_the_axes():
    cells = [Cell({"animal": a, "quality": q, "size": "1024x1024"}) for a in ("fox", "owl") for q in ("low", "high")]
    grid = layout(cells)
    assert grid.axes == ["animal", "quality"]  # size does not vary: not an axis
    assert grid.columns == ["quality=low", "quality=high"] and grid.rows == ["animal=fox", "animal=owl"]
    assert grid.positions == [(0, 0), (0, 1), (1, 0), (1, 1)]
    single = layout([Cell({"product": p}, caption="$0.0110") for p in ("mug", "lamp")])
    assert single.columns == [] and single.captions == ["product=mug · $0.0110", "product=lamp · $0.0110"]


def test_a_dataframe_of_prompts_becomes_a_dataframe_with_images_and_saves_without_overwriting(server_url, tmp_path):
    import pandas as pd

    products = pd.DataFrame({"product": ["mug", "lamp"], "size": ["1024x1024", "1536x1024"]})
    settings = Settings(base_url=server_url)
    result = sweep("A {product} on marble", rows=products, quality=["low", "high"], settings=settings, progress=False)
    frame = result.to_pandas()
    assert list(frame.columns) == [
        "product", "size", "quality", "prompt", "model", "image", "file", "tokens", "cost", "cost_source",
        "request_id", "error",
    ]  # fmt: skip
    assert set(frame["cost_source"]) == {"tokens"}  # the local server's usage at the price table
    assert [img.size for img in frame["image"]] == [(1024, 1024)] * 2 + [(1536, 1024)] * 2
    assert frame["request_id"].str.startswith("req_").all() and frame["tokens"].gt(0).all()
    bundle = result._repr_mimebundle_()
    assert "base64" not in bundle["text/plain"] and bundle["text/plain"].startswith("<Sweep sweep-")
    assert Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))).format == "PNG"

    first = result.save(tmp_path / "out")
    before = {p: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    second = result.save(tmp_path / "out")
    assert [p.name for p in first] == ["001-mug-1024x1024-low.png", "002-mug-1024x1024-high.png",
                                       "003-lamp-1536x1024-low.png", "004-lamp-1536x1024-high.png"]  # fmt: skip
    assert not set(first) & set(second) and all(p.read_bytes() == data for p, data in before.items())
    assert sorted(p.name for p in (tmp_path / "out").glob("*.csv")) == ["sweep-2.csv", "sweep.csv"]
    assert first[0].read_bytes() == result[0].images.images[0].data


def test_a_large_single_image_shows_as_a_bounded_copy_and_keeps_its_original(ip):
    def final_output(cell):
        with capture_output() as captured:
            ip.run_cell(cell)
        return captured.outputs[-1].data

    big = final_output("%%imagegen --size 3840x2160 --out big\nA harbour at noon")
    shown = Image.open(io.BytesIO(base64.b64decode(big["image/jpeg"])))
    assert shown.size == (1920, 1080) and ip.user_ns["big"][0].size == (3840, 2160)
    within = final_output("%%imagegen --size 1536x1024 --out within\nA harbour at dusk")
    assert within["image/png"] == ip.user_ns["within"].images[0].wire_b64  # within the bound: the wire's own text


def _display_messages(k, code):
    """(seconds since sent, msg_type) of every message that draws something, until the cell ends."""
    sent = time.monotonic()
    kinds = {"display_data", "update_display_data", "comm_open", "comm_msg", "stream", "clear_output"}
    return [(time.monotonic() - sent, kind) for kind, _ in k.messages(k.execute(code), 120) if kind in kinds]


def test_progress_sends_at_most_ten_display_messages_a_second(tmp_path):
    with kernel(IMAGEMAGIC_HOME=str(tmp_path), IMAGEMAGIC_PREVIEW_DELAY="0.1") as k:
        k.run("%config ImageGenMagics.offline = True\n%config ImageGenMagics.max_concurrency = 8\nxs = list(range(60))")
        shown = _display_messages(k, "%%imagegen --grid i=xs --limit 60 --size 1024x1024 --out s\ncard {i}")
        assert k.output("print(len(s.images))") == "60\n"
    updates = [t for t, kind in shown if kind != "comm_open"]  # the bar's widgets are created once
    busiest = max(sum(1 for t in updates if start <= t < start + 1) for start in updates)
    assert busiest <= 10, [(round(t, 2), kind) for t, kind in shown if kind != "comm_open"]


def test_a_killed_sweep_resumes_generating_only_the_missing_images(tmp_path):
    server = CountingServer(delay=0.4)
    cell = "%%imagegen --grid i=0,1,2,3,4,5,6,7 --size 1024x1024 --out s\ncard {i}"
    setup = f"%config ImageGenMagics.base_url = '{server.url}'\n%config ImageGenMagics.max_concurrency = 2"
    try:
        with kernel(IMAGEMAGIC_HOME=str(tmp_path)) as k:
            k.run(setup)
            k.execute(cell)
            deadline = time.monotonic() + 30
            while len(list(tmp_path.glob("cache/*.json"))) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(k.manager.provisioner.pid, signal.SIGKILL)
        stored = len(list(tmp_path.glob("cache/*.json")))  # finished requests (an image is cached once complete)
        assert 3 <= stored < 8
        sent = server.generations
        with kernel(IMAGEMAGIC_HOME=str(tmp_path)) as k:
            k.run(setup)
            out = "".join(c["text"] for t, c in k.run(cell, 60) if t == "stream" and c["name"] == "stdout")
            assert k.output("print(len(s.images), sum(r.cached for r in s))") == f"8 {stored}\n"
        assert server.generations - sent == 8 - stored
        assert "8 images from 8 requests in " in out and f": {stored} from the cache, 0 failed" in out
    finally:
        server.close()
