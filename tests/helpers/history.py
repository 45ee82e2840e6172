"""History folders for store tests and the index benchmark: fake entries in bulk, worker processes
that save and prune into one shared folder, and the two ways of answering a filtered history query."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

from imagemagic.endpoint import Endpoint
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage
from imagemagic.store import HistoryStore, history

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MODELS = ("gpt-image-2", "gpt-image-1.5", "dall-e-3")
WORDS = ("red", "blue", "kite", "sea", "lighthouse", "fox", "city", "night", "paper", "storm")


def make_history(home, count):
    """Write `count` one-image entries straight into `home` as the store lays them out (tiny PNGs, a
    day folder per 1,000), without the store's fsyncs; one in 1,000 prompts mentions an "Albatross"."""
    home = Path(home)
    start = time.time() - count
    for i in range(count):
        folder = home / "images" / f"2026-01-{1 + i // 1000:02d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        name = f"000000-{i:06x}-1"
        prompt = " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7)) + (" Albatross" if i % 1000 == 7 else "")
        meta = {
            "prompt": prompt,
            "model": MODELS[i % len(MODELS)],
            "parameters": {"model": MODELS[i % len(MODELS)], "size": "1024x1024"},
            "endpoint": "127.0.0.1",
            "created": int(start + i),
            "count": 1,
            "file": f"{name}.png",
            "index": 0,
            "format": "png",
            "request_id": f"req_{i}",
            "usage": {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10},
            "revised_prompt": None,
            "bytes": len(PNG),
            "sha256": "0" * 64,
            "saved": start + i,
            "run": f"sweep-{i % 50}",
        }
        (folder / f"{name}.png").write_bytes(PNG)
        (folder / f"{name}.json").write_text(json.dumps(meta, indent=1))


def read_every_json(home, prompt, model):
    """The baseline: the 20 newest entries matching `prompt` and `model`, by reading every metadata file."""
    found = []
    for path in Path(home, "images").glob("*/*.json"):
        meta = json.loads(path.read_bytes())
        if prompt.casefold() in meta["prompt"].casefold() and meta["model"] == model:
            found.append((meta["saved"], meta["file"]))
    return [name for _, name in sorted(found, reverse=True)[:20]]


def query_index(home, prompt, model):
    """The same answer from imagemagic.history (the index)."""
    return [e.path.name for e in history(20, home, prompt=prompt, model=model)]


def save_calls(home, rounds, limit_mb=None, run=None, size=0, start_at=0.0):
    """In a worker process: from `start_at` (Unix time) on, store `rounds` one-image calls through a saver
    (with metadata {"run": run}), pruning after each when `limit_mb` is given, as a Call does. Returns the
    stored paths; raises if one of this call's own files is gone right after its prune."""
    time.sleep(max(0.0, start_at - time.time()))
    store = HistoryStore(home, limit_mb=limit_mb or 1024.0)
    endpoint = Endpoint("http://127.0.0.1:1/v1")
    stored = []
    for i in range(rounds):
        saver = store.saver(ImageRequest(prompt=f"worker {os.getpid()} call {i}"), endpoint, meta={"run": run})
        saver(GeneratedImage.from_bytes(PNG + b"\0" * size))
        if limit_mb is not None:
            store.prune(keep=saver.paths)
        if not all(p.exists() for p in saver.paths):
            raise AssertionError(f"{saver.paths} deleted by the prune of its own call")
        stored += [str(p) for p in saver.paths]
    return stored


def age(paths, seconds):
    """Set the modification time of images and their metadata files `seconds` into the past."""
    when = time.time() - seconds
    for path in paths:
        for file in (Path(path), Path(path).with_suffix(".json")):
            os.utime(file, (when, when))
