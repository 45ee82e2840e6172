"""Timing for ratio tests and benchmarks (never an absolute bound in a test)."""

from __future__ import annotations

import time


def best_time(work, repeat):
    """The least wall time of `repeat` runs of work()."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)
