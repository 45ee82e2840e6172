"""How fast the offline preview engine draws and encodes a final image (best of 5).

    python benchmarks/preview.py

Target: a 1024x1024 PNG in under 100 ms, so the offline server answers as fast as a notebook shows it.
This figure lives here, not in the tests: the machines the tests run on are shared and noisy.
"""

from __future__ import annotations

import time

from imagemagic.server import preview

TARGET_S = 0.100


def timed(width, height):
    """Seconds to render and encode one final PNG of this size."""
    start = time.perf_counter()
    preview.encode(preview.render_final("a lighthouse at dawn", width=width, height=height, model="gpt-image-2"), "png")
    return time.perf_counter() - start


def main():
    for width, height in ((1024, 1024), (1536, 1024), (3840, 2160)):
        best = min(timed(width, height) for _ in range(5))
        mark = (
            f" (target < {TARGET_S * 1000:.0f} ms: {'met' if best < TARGET_S else 'MISSED'})" if width == 1024 else ""
        )
        print(f"{width}x{height} PNG: {best * 1000:.0f} ms{mark}")


if __name__ == "__main__":
    main()
