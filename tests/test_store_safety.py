"""Nothing lost, nothing leaked: an unwritable history never costs an image, concurrent kernels pruning
one folder neither fail nor delete what another just returned, a damaged file is never served from the
cache, and the cache never shows one account's images to another (nor writes its key anywhere)."""

from __future__ import annotations

import errno
import multiprocessing
import time
from pathlib import Path

import pytest
from helpers.history import age, save_calls

import imagemagic
from imagemagic.call import Call
from imagemagic.endpoint import Endpoint
from imagemagic.request import ImageRequest
from imagemagic.session import default
from imagemagic.settings import Plan, Settings
from imagemagic.store import HistoryStore, history


def test_unwritable_history_keeps_the_images_and_says_so(server_url, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    home = blocker / "home"  # under a plain file: every write fails, even for root (ENOTDIR)
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(home))
    with pytest.warns(imagemagic.ImageMagicWarning) as caught:
        result = imagemagic.generate("a kite", base_url=server_url, n=2, size="1024x1024")
    assert [str(w.message) for w in caught] == [
        f"the history folder {home} cannot be written (Not a directory): images stay in the result only "
        "(keep them with .save(path)); cache and resume are off"
    ]
    assert [img.size for img in result] == [(1024, 1024)] * 2 and result.files == []
    plan = Plan(ImageRequest(prompt="a kite", n=2, size="1024x1024"), Endpoint(server_url), Settings())
    call = Call(plan, session=default())
    result = default().run_sync(call.run())
    assert len(result) == 2 and call.saver.paths == []
    assert (
        call.saver.failure
        == result.unsaved
        == (
            f"could not save 2 images to the history ({home}): Not a directory; "
            "they are in the result only: keep them with .save(path)"
        )
    )
    assert imagemagic.history() == []
    saved = result.save(tmp_path / "kept")
    assert [p.read_bytes() for p in saved] == [img.data for img in result.images]


def test_the_magic_binds_images_it_could_not_store_and_says_where_they_are(ip, tmp_path, monkeypatch, recwarn):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(blocker / "home"))
    ip.run_cell("%%imagegen --size 1024x1024 --out pic\na kite")
    assert len(ip.user_ns["pic"]) == 1
    assert [str(w.message) for w in recwarn] == [
        f"the history folder {blocker / 'home'} cannot be written (Not a directory): images stay in the result "
        "only (keep them with .save(path)); cache and resume are off"
    ]


def test_a_call_stored_in_part_is_not_served_from_the_cache(recorder, monkeypatch):
    save = HistoryStore.save

    def disk_full_for_the_second(self, img, meta, stem):
        if img.index == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, img, meta, stem)

    monkeypatch.setattr(HistoryStore, "save", disk_full_for_the_second)
    url = recorder.base + "/v1"
    call = Call(Plan(ImageRequest(prompt="a kite", n=2), Endpoint(url), Settings()), session=default(), cache=True)
    assert len(default().run_sync(call.run())) == 2 and len(call.saver.paths) == 1
    assert call.saver.failure.startswith("could not save 1 image to the history (")
    assert call.saver.failure.endswith("): No space left on device; it is in the result only: keep it with .save(path)")
    monkeypatch.setattr(HistoryStore, "save", save)
    assert not imagemagic.generate("a kite", base_url=url, n=2, cache=True).cached
    assert len(imagemagic.generate("a kite", base_url=url, n=2, cache=True)) == 2
    assert len(recorder.requests) == 2


def test_kernels_pruning_one_folder_never_fail_nor_delete_fresh_images(clean_env):
    old = save_calls(clean_env, 40, run="old", size=20_000)
    age(old, 3600)  # past the grace period: these may go
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(time.sleep, [0.01] * 8)  # the workers are up before the race starts
        start_at = time.time() + 0.5
        jobs = [pool.apply_async(save_calls, (clean_env, 15, 0.1, f"w{i}", 20_000, start_at)) for i in range(4)]
        fresh = [path for job in jobs for path in job.get(120)]
    assert len(fresh) == 60
    assert [p for p in fresh if not Path(p).exists()] == []  # young: nobody deletes them
    on_disk = sorted(p.name for p in (clean_env / "images").glob("*/*.png"))
    assert on_disk == sorted(Path(p).name for p in fresh)  # every old one went, over the cap
    assert sorted(e.path.name for e in history(None)) == on_disk  # the index kept in step


def test_truncated_or_altered_images_are_generated_anew(recorder):
    url = recorder.base + "/v1"
    (path,) = imagemagic.generate("a kite", base_url=url).files
    good = path.read_bytes()
    assert imagemagic.generate("a kite", base_url=url, cache=True).cached
    for damaged in (good[: len(good) - 40], good[:60] + bytes([good[60] ^ 1]) + good[61:]):
        path.write_bytes(damaged)
        result = imagemagic.generate("a kite", base_url=url, cache=True)
        assert not result.cached
        path = result.files[0]
        assert imagemagic.generate("a kite", base_url=url, cache=True).cached
    assert len(recorder.requests) == 3


KEY_A = "canary-key-account-a-0123456789"
KEY_B = "canary-key-account-b-9876543210"


def test_another_account_never_gets_these_images_and_no_key_is_written(recorder, monkeypatch, clean_env):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY_A)
    imagemagic.generate("a kite", cache=True)
    assert imagemagic.generate("a kite", cache=True).cached
    for name, value in (("OPENAI_API_KEY", KEY_B), ("OPENAI_ORG_ID", "org-canary"), ("OPENAI_PROJECT_ID", "proj_x")):
        monkeypatch.setenv(name, value)
        assert not imagemagic.generate("a kite", cache=True).cached, name
        assert imagemagic.generate("a kite", cache=True).cached
    assert [r["headers"]["authorization"] for r in recorder.requests] == [f"Bearer {KEY_A}"] + [f"Bearer {KEY_B}"] * 3
    files = [p for p in clean_env.rglob("*") if p.is_file()]
    assert any(p.name == "index.sqlite3" for p in files) and any(p.parent.name == "cache" for p in files)
    for path in files:
        data = path.read_bytes()
        assert KEY_A.encode() not in data and KEY_B.encode() not in data, path
