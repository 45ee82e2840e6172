"""The history index: filters (prompt text, model, dates, run id) answered from SQLite, kept in step
by concurrent writers, rebuilt when lost or damaged, and far faster than reading every metadata file."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from datetime import date, datetime, timedelta

import pytest
from helpers.history import PNG, make_history, query_index, read_every_json, save_calls
from helpers.timing import best_time

from imagemagic.endpoint import Endpoint
from imagemagic.errors import ValidationError
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage
from imagemagic.store import HistoryStore, history


def _store(home, prompt, model="gpt-image-2", run=None):
    saver = HistoryStore(home).saver(ImageRequest(prompt=prompt, model=model), Endpoint("http://h/v1"), {"run": run})
    saver(GeneratedImage.from_bytes(PNG))
    return saver.paths[0]


def _prompts(**filters):
    return [e.prompt for e in history(None, **filters)]


def test_filters_by_prompt_text_model_dates_and_run(clean_env):
    _store(clean_env, "A red KITE at dusk", run="sweep-1")
    _store(clean_env, "un été bleu", model="gpt-image-1.5", run="sweep-1")
    between = time.time()
    _store(clean_env, "a kite over the sea", model="gpt-image-1.5", run="batch-9")
    assert _prompts() == ["a kite over the sea", "un été bleu", "A red KITE at dusk"]
    assert _prompts(prompt="Kite") == ["a kite over the sea", "A red KITE at dusk"]
    assert _prompts(prompt="ÉTÉ") == ["un été bleu"]
    assert _prompts(model="gpt-image-1.5", prompt="kite") == ["a kite over the sea"]
    assert _prompts(run="sweep-1") == ["un été bleu", "A red KITE at dusk"]
    assert _prompts(since=between) == ["a kite over the sea"]
    assert _prompts(until=datetime.fromtimestamp(between)) == ["un été bleu", "A red KITE at dusk"]
    today = date.today()
    assert len(_prompts(since=today.isoformat(), until=today)) == 3  # a date `until` includes its day
    assert _prompts(since=today + timedelta(days=1)) == [] and _prompts(until=today - timedelta(days=1)) == []
    assert [e.prompt for e in history(1, prompt="kite")] == ["a kite over the sea"]
    assert history(1)[0].meta["run"] == "batch-9" and history(1)[0].image.size == (1, 1)


def test_bad_filters_say_what_is_allowed(clean_env):
    with pytest.raises(ValidationError) as since:
        history(since="last tuesday")
    assert str(since.value) == (
        "since='last tuesday' is not a moment: use a datetime, a date, ISO text such as "
        "'2026-11-05' or '2026-11-05T14:30', or a Unix time"
    )
    with pytest.raises(ValidationError, match=r"^model=3 is not text: give a string$"):
        history(model=3)
    with pytest.raises(ValidationError, match=r"^limit=-1 is not a count: give a whole number >= 0 or None$"):
        history(-1)


@pytest.mark.parametrize("damage", ["deleted", "garbage", "damaged pages"])
def test_lost_or_damaged_index_is_rebuilt_from_the_files(clean_env, damage):
    for i in range(30):
        _store(clean_env, f"kite {i}", run="even" if i % 2 == 0 else "odd")
    before = [(e.path, e.meta) for e in history(None, run="even")]
    index = clean_env / "index.sqlite3"
    assert not (clean_env / "index.sqlite3-wal").exists()  # every connection closed: all of it is in the file
    if damage == "deleted":
        index.unlink()
    elif damage == "garbage":
        index.write_bytes(b"this is not a database" * 200)
    else:
        with index.open("r+b") as handle:  # keep the header, scramble every page behind it
            handle.seek(100)
            handle.write(b"\xa5" * (index.stat().st_size - 100))
    assert [(e.path, e.meta) for e in history(None, run="even")] == before and len(before) == 15
    with sqlite3.connect(index) as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (30,)


def test_index_that_cannot_be_opened_still_answers_and_is_rebuilt_later(clean_env):
    _store(clean_env, "a kite")
    index = clean_env / "index.sqlite3"
    index.unlink()
    index.mkdir()  # sqlite cannot open a folder: reads fall back to the files, saves mark the index stale
    _store(clean_env, "a fox")
    assert _prompts() == ["a fox", "a kite"] and (clean_env / "index.stale").exists()
    index.rmdir()
    _store(clean_env, "a sea")
    assert _prompts() == ["a sea", "a fox", "a kite"] and not (clean_env / "index.stale").exists()


def test_two_processes_saving_at_once_are_both_indexed(clean_env):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(time.sleep, [0.01] * 4)
        start_at = time.time() + 0.5
        jobs = [pool.apply_async(save_calls, (clean_env, 40, None, run, 0, start_at)) for run in ("left", "right")]
        stored = {run: sorted(job.get(120)) for run, job in zip(("left", "right"), jobs)}
    for run, paths in stored.items():
        assert sorted(str(e.path) for e in history(None, run=run)) == paths and len(paths) == 40
    assert not (clean_env / "index.stale").exists()  # found through the index, not a rebuild


def test_filtered_query_is_a_small_fraction_of_reading_every_json(clean_env):
    make_history(clean_env, 5000)
    history(1)  # builds the index from the files once, as the first query after an upgrade does
    args = (clean_env, "albatross", "gpt-image-1.5")
    assert query_index(*args) == read_every_json(*args) and len(query_index(*args)) == 2
    ratio = best_time(lambda: query_index(*args), 5) / best_time(lambda: read_every_json(*args), 3)
    assert ratio < 0.25, ratio  # about 0.01 measured; at 50,000 entries see benchmarks/history_index.py
