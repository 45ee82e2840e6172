"""The history cap never eats what is in use: a live result's or sweep run's files, a batch job's images
until it is exported; a file gone anyway is one line, not FileNotFoundError."""

from __future__ import annotations

import gc
import json

import pytest
from helpers.images import image_bytes

import imagemagic
from imagemagic.errors import ImageDataError
from imagemagic.result import GeneratedImage
from imagemagic.settings import Settings
from imagemagic.store import HistoryStore


def test_a_sweep_larger_than_the_cap_keeps_every_image_it_returns(server_url, monkeypatch, tmp_path):
    monkeypatch.setattr("imagemagic.store.GRACE_S", 0.0)  # every image is old enough to go
    settings = Settings(history_limit_mb=0.000001, base_url=server_url)
    sweep = imagemagic.sweep("a {animal}", animal=["fox", "owl", "cat", "elk"], progress=False, settings=settings)
    assert [run.error for run in sweep] == [None] * 4
    assert len(sweep.images) == 4 and len(sweep.save(tmp_path)) == 4


def test_a_live_result_is_spared_and_a_dropped_one_is_not(server_url, monkeypatch):
    monkeypatch.setattr("imagemagic.store.GRACE_S", 0.0)
    settings = Settings(history_limit_mb=0.000001)
    first = imagemagic.generate("a kite", base_url=server_url, settings=settings)
    files = list(first.files)
    imagemagic.generate("a boat", base_url=server_url, settings=settings)
    assert all(path.exists() for path in files)  # `first` still lives
    del first
    gc.collect()
    imagemagic.generate("a tree", base_url=server_url, settings=settings)
    assert not any(path.exists() for path in files)


def test_a_batch_jobs_images_are_spared_until_it_is_exported(clean_env, server_url, monkeypatch):
    monkeypatch.setattr("imagemagic.store.GRACE_S", 0.0)
    store = HistoryStore(limit_mb=0.000001)
    record = clean_env / "batches" / "imb-1" / "job.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"id": "imb-1", "collected": True}))
    image = GeneratedImage.from_bytes(image_bytes((16, 16)), index=0)
    path = store.save(image, {"run": "imb-1", "prompt": "p", "count": 1}, "000000-job")
    store.prune()
    assert path.exists()
    record.write_text(json.dumps({"id": "imb-1", "collected": True, "exported": True}))
    store.prune()
    assert not path.exists()


def test_a_result_whose_file_is_gone_says_so_in_one_line(server_url, tmp_path):
    sweep = imagemagic.sweep(
        "a {animal}", animal=["fox", "owl"], progress=False, settings=Settings(base_url=server_url)
    )
    sweep[0].files[0].unlink()
    with pytest.raises(ImageDataError) as info:
        sweep.save(tmp_path)
    assert str(info.value) == (
        f"{sweep[0].files[0].name} is no longer in the history (deleted by the history size cap or by hand); "
        "raise history_limit_mb to keep more, and generate it again"
    )
