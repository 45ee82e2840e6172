"""The history index at scale: filtered history() queries against reading every metadata file.

    python benchmarks/history_index.py [COUNT]     # from the project's virtual environment; COUNT 50000

Writes COUNT one-image entries (tiny PNGs, metadata as the store writes it) into a temporary history
folder, builds the index once (what the first query after an upgrade does), then times, best of 5,
each query through imagemagic.history() (a fresh connection each time) and the baseline that reads
and filters every .json file, best of 3. The target: ratio ≤ 0.05.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.history import make_history, query_index, read_every_json  # noqa: E402
from helpers.timing import best_time  # noqa: E402

from imagemagic.store import history  # noqa: E402


def main(count=50_000):
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        began = time.perf_counter()
        make_history(home, count)
        print(f"{count:,} entries written in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        history(1, home)
        print(f"index built from the files in {time.perf_counter() - began:.2f} s")
        args = (home, "albatross", "gpt-image-1.5")
        assert query_index(*args) == read_every_json(*args)
        baseline = best_time(lambda: read_every_json(*args), 3)
        print(f"read every .json and filter: {baseline * 1000:9.1f} ms")
        now = time.time()
        queries = {
            "prompt 'albatross' + model": lambda: query_index(*args),
            "run 'sweep-7', all 2%": lambda: history(None, home, run="sweep-7"),
            "a date range mid-way, 20": lambda: history(20, home, since=now - count * 0.6, until=now - count * 0.5),
            "latest 20, no filter": lambda: history(20, home),
        }
        for name, query in queries.items():
            took = best_time(query, 5)
            print(f"{name:28} {took * 1000:9.1f} ms   ratio {took / baseline:.4f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
