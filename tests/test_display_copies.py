"""Bounded display copies are made off the event loop, from the image's file, and a final never waits for
(nor is covered by) a partial's copy."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from helpers.images import image_bytes
from PIL import Image

from imagemagic import display
from imagemagic.display import LiveDisplay, Superseded, reduced_copy
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage


def big(tmp_path, name, colour, partial):
    """A 1200x800 PNG in a file, as the client leaves an image it decoded to disk."""
    path = tmp_path / name
    path.write_bytes(image_bytes((1200, 800), colour))
    return GeneratedImage(_path=path, partial=partial, partial_index=0 if partial else None)


def recording_display():
    shown = []
    request = ImageRequest(prompt="x", stream=True, partial_images=1, size="1536x1024").validated()
    live = LiveDisplay(request, publish=lambda *a, **k: None, update=lambda data, **k: shown.append(data), max_side=600)
    return live, shown


def test_a_copy_is_made_in_a_worker_thread_from_the_file_while_the_loop_runs_on(tmp_path, monkeypatch):
    live, shown = recording_display()
    final = big(tmp_path, "final.png", (10, 200, 10), partial=False)
    threads, release = [], threading.Event()

    def slow_copy(img, max_side, abandoned=None):
        threads.append(threading.get_ident())
        release.wait(10)
        return reduced_copy(img, max_side)

    monkeypatch.setattr(display, "reduced_copy", slow_copy)

    async def run():
        live.on_event(final)
        ticks = 0
        while not threads:  # the loop keeps turning while the copy is made
            await asyncio.sleep(0)
            ticks += 1
        for _ in range(10):
            await asyncio.sleep(0)
        assert shown == [] and ticks > 0
        release.set()
        await live.drain()
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert threads and threads[0] != loop_thread
    assert [list(data) for data in shown] == [["image/jpeg", "text/plain"]]


def test_a_final_does_not_wait_for_a_partials_copy_and_is_never_covered_by_it(tmp_path, monkeypatch):
    live, shown = recording_display()
    partial = big(tmp_path, "partial.png", (200, 10, 10), partial=True)
    final = big(tmp_path, "final.png", (10, 10, 200), partial=False)
    partial_started, release_partial = threading.Event(), threading.Event()

    def copy(img, max_side, abandoned=None):
        if img is partial:
            partial_started.set()
            release_partial.wait(10)
        return "image/png", "partial" if img.partial else "final"  # which copy reached the page

    monkeypatch.setattr(display, "reduced_copy", copy)

    async def run():
        live.on_event(partial)
        while not partial_started.is_set():
            await asyncio.sleep(0.001)
        live.on_event(final)
        for _ in range(1000):  # the final's copy is shown while the partial's is still being made
            if shown:
                break
            await asyncio.sleep(0.01)
        waited = not shown
        release_partial.set()
        await live.drain()
        assert not waited, "the final waited for the partial's copy"

    asyncio.run(run())
    assert [data["image/png"] for data in shown] == ["final"]  # only the final: the late partial was dropped


def test_a_copy_told_it_is_superseded_stops_reading(tmp_path):
    path = tmp_path / "noise.png"
    Image.frombytes("RGB", (1200, 800), random.Random(3).randbytes(1200 * 800 * 3)).save(path)  # read in many blocks
    img = GeneratedImage(_path=path, partial=True)
    assert reduced_copy(img, 600, lambda: False) == reduced_copy(img, 600)
    reads = []

    def abandoned():
        reads.append(1)
        return len(reads) > 2  # told during the decode

    with pytest.raises(Superseded):
        reduced_copy(img, 600, abandoned)
