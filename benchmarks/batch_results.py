"""Parsing a Batch API output file: peak memory and time against the floor of reading it and decoding its base64.

    python benchmarks/batch_results.py [COUNT] [MB]     # from the project's virtual environment; 200 images of 1 MB

Writes COUNT output lines of one random MB-sized image each (as base64, in shuffled custom_id order) to a
temporary file, then parses it in 64 KiB reads as a download would (imagemagic.batch_io.OutputParser).
Memory: the peak growth Python allocated while parsing (tracemalloc), against the largest line; target ≤ 3×.
Time: best of 5, interleaved with the floor — reading the same file in the same reads plus decoding every
image's base64 (its spans found beforehand); target ≤ 1.3×.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.batch_files import parse_file, peak_growth, read_and_decode_floor, write_output  # noqa: E402
from helpers.timing import best_time  # noqa: E402


def main(count=200, megabytes=1.0):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "output.jsonl"
        largest = write_output(path, count, int(megabytes * 1_000_000))
        size = path.stat().st_size
        print(f"{count} images of {megabytes:g} MB: file {size / 1e6:.0f} MB, largest line {largest / 1e6:.2f} MB")
        found = {}
        growth = peak_growth(lambda: found.update(parse_file(path)))
        assert len(found) == count
        floor = read_and_decode_floor(path)
        ours_s, floor_s = [], []
        for _ in range(5):
            ours_s.append(best_time(lambda: parse_file(path), 1))
            floor_s.append(best_time(floor, 1))
        ours, base = min(ours_s), min(floor_s)
        print(f"peak memory growth: {growth / 1e6:.2f} MB = {growth / largest:.2f}x the largest line (target <= 3)")
        print(f"parse: {ours * 1000:.0f} ms; floor (read + base64 decode): {base * 1000:.0f} ms")
        print(f"time ratio: {ours / base:.2f} (target <= 1.3); {size / ours / 1e6:.0f} MB/s")


if __name__ == "__main__":
    main(*(float(arg) if "." in arg else int(arg) for arg in sys.argv[1:]))
