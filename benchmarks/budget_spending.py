"""Reading today's spending, the read every reservation makes under the lock all kernels share.

    python benchmarks/budget_spending.py [ROWS]     # from the project's virtual environment; ROWS 200000

Fills a spending file with ROWS earlier requests (a year of heavy use), then times, best of 5, the
day's total as budget reads it, with the file's index and with it dropped (the scan it replaced).
The target: ratio ≤ 0.05.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from imagemagic import budget
from imagemagic.settings import Settings


def best(read, repeat=5, number=20):
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(number):
            read()
        times.append((time.perf_counter() - began) / number)
    return min(times)


def main(rows=200_000):
    settings = Settings()
    _, start, _ = budget._day(settings)
    with tempfile.TemporaryDirectory() as tmp:
        db = budget._open(Path(tmp))
        db.executemany(
            "INSERT INTO spending VALUES ('old', ?, 0.04, 'm')", ((start - 1 - n * 150,) for n in range(rows))
        )
        indexed = best(lambda: budget._totals(db, settings))
        db.execute("DROP INDEX spending_at")
        scanned = best(lambda: budget._totals(db, settings))
        db.close()
    print(f"today's spending over {rows:,} rows: indexed {indexed * 1e3:.3f} ms, scanned {scanned * 1e3:.3f} ms, "
          f"ratio {indexed / scanned:.3f} (target <= 0.05)")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
