"""Images decoded as they arrive go straight into the history folder: the stored file is the one decoded
into (renamed, with the size and sha256 computed on the way), the result's image reads that file, partials'
files go when they are released, and a disk that fills up mid-image loses nothing."""

from __future__ import annotations

import errno
import gc
import hashlib
import json

import pytest

import imagemagic
from imagemagic import spool, store


def test_a_streamed_final_is_the_file_it_was_decoded_into_and_partials_leave_no_file(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    result = imagemagic.generate("a kite", base_url=server_url, stream=True, partial_images=2, size="1024x1024")
    img, path = result.images[0], result.files[0]
    assert img.spooled == path and img.b64 is None and img._data is None  # it refers to the file
    data = path.read_bytes()
    assert img.data == data and img.nbytes == len(data)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (meta["bytes"], meta["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert imagemagic.history(1)[0].generated().data == data  # the stored record checks out
    gc.collect()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.with_suffix(".json").name])


def test_n_images_of_one_json_answer_are_each_their_own_file(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    result = imagemagic.generate("a kite", base_url=server_url, n=3, size="1024x1024")
    assert [img.spooled for img in result.images] == result.files and len(set(result.files)) == 3
    assert [pil.size for pil in result] == [(1024, 1024)] * 3


class Full:
    """A file on a full disk."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        pass


def test_a_disk_that_fills_up_mid_image_loses_nothing(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    expected = imagemagic.generate("a kite", base_url=server_url, size="3840x2160").images[0].data
    writes = []
    real_write = spool.FileSpool.write

    def fill_up(self, data):
        writes.append(len(data))
        if len(writes) == 2:  # the second piece finds the disk full
            self._file.close()
            self._file = Full()
        real_write(self, data)

    monkeypatch.setattr(spool.FileSpool, "write", fill_up)
    result = imagemagic.generate("a kite", base_url=server_url, size="3840x2160", cache=False)  # sent again
    assert len(writes) > 2 and result.images[0].data == expected and result.unsaved is None
    assert result.files[0].read_bytes() == expected


def test_a_spool_whose_write_fails_keeps_every_byte_in_memory(tmp_path):
    sink = spool.FileSpool(tmp_path)
    sink.write(b"abc")
    sink._file.close()
    sink._file = Full()
    sink.write(b"def")
    sink.write(b"gh")
    fields = sink.finish()
    assert bytes(fields["_data"]) == b"abcdefgh" and sink.failure == "No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_an_image_whose_metadata_cannot_be_written_keeps_its_bytes(server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    expected = imagemagic.generate("a kite", base_url=server_url, size="1024x1024").images[0].data
    real = store.atomic_write

    def no_metadata(path, data):
        if path.suffix == ".json" and path.parent.parent.name == "images":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(store, "atomic_write", no_metadata)
    with pytest.warns(imagemagic.ImageMagicWarning, match=r"^could not save 1 image to the history \("):
        result = imagemagic.generate("a kite", base_url=server_url, size="1024x1024", cache=False)  # sent again
    assert result.images[0].data == expected and result.files == [] and result.images[0].file is None


HANGING_CHILD = """
import sys, imagemagic
from imagemagic import Settings
settings = Settings(base_url=sys.argv[1], api_key="k-test-spool", timeout=120, max_retries=0)
imagemagic.generate("a kite", settings=settings)
"""


def _half_an_answer():
    """A JSON answer whose image starts arriving, then nothing more (the process reading it is killed)."""
    import asyncio

    from helpers.scripted import png_b64

    body = json.dumps({"created": 1, "data": [{"b64_json": png_b64(size=(256, 256)) * 4}]}).encode()

    async def step(writer):
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(60)

    return step


def test_spools_of_a_killed_process_are_swept_and_those_of_a_live_one_kept(scripted, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from helpers.scripted import reply

    home = tmp_path / "home"
    server = scripted(_half_an_answer(), _half_an_answer(), reply())
    env = {**os.environ, "IMAGEMAGIC_HOME": str(home)}
    children = []
    try:
        for _ in range(2):
            children.append(subprocess.Popen([sys.executable, "-c", HANGING_CHILD, server.url], env=env))
            deadline = time.monotonic() + 60
            while len(list(home.rglob(".incoming-*.tmp"))) < len(children) and time.monotonic() < deadline:
                time.sleep(0.05)
        killed, alive = children
        spools = {int(p.name.split("-")[1].split(".")[0]): p for p in home.rglob(".incoming-*.tmp")}
        assert set(spools) == {killed.pid, alive.pid}
        os.kill(killed.pid, signal.SIGKILL)  # mid-answer: its spool stays behind
        killed.wait(10)
        assert spools[killed.pid].exists()
        os.environ["IMAGEMAGIC_HOME"] = str(home)  # clean_env's monkeypatch restores it
        imagemagic.generate("a kite", base_url=server.url, api_key="k-test-spool")  # this process's first store
        assert not spools[killed.pid].exists()
        assert spools[alive.pid].exists()  # being written by a live process: never deleted
    finally:
        for child in children:
            child.kill()
            child.wait(10)


def test_spools_count_against_history_limit_mb(server_url, tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path))
    from imagemagic.session import Session

    files = imagemagic.generate("a kite", base_url=server_url, n=2, size="1024x1024", session=Session()).files
    gc.collect()  # no live result holds them
    folder = spool.incoming(tmp_path / "images")
    (folder / f"{spool.PREFIX}{os.getpid()}.{spool.HOST}-live.tmp").write_bytes(b"\0" * 2 * 2**20)  # a live spool
    store.HistoryStore(tmp_path, limit_mb=1, grace_s=0).prune()
    assert not [f for f in files if f.exists()]  # the images made room: 2 MiB are in spools
