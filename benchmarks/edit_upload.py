"""Upload overhead of a 16-image edit: imagemagic's client vs the official openai SDK, same run, same server.

    python benchmarks/edit_upload.py        # from the project's virtual environment; about 30 seconds

One local preview server (in this process, on 127.0.0.1) answers both. The payload is 16 photo-like
1024x1024 PNGs (seeded noise, scaled up) sent as multipart; each path is timed from the call to the
decoded answer (n=1, quality low, 1024x1024), best of 5, interleaved. A 1-image edit gives the
baseline (rendering and answering cost the same for both), so the difference is the upload's.
Ours includes the whole preparation: reading, checking (format, size, mask) and hashing every input.
"""

from __future__ import annotations

import io
import random
import time

from PIL import Image

REPEATS = 5


def photo_png(seed, side=1024):
    """A photo-like PNG: seeded noise at 1/4 scale, scaled up (about 2 MB, compressing as real photos do)."""
    rng = random.Random(seed)
    small = Image.frombytes(
        "RGB", (side // 4, side // 4), bytes(rng.randrange(256) for _ in range(3 * (side // 4) ** 2))
    )
    out = io.BytesIO()
    small.resize((side, side), Image.BILINEAR).save(out, "PNG", compress_level=1)
    return out.getvalue()


def best(func):
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    from openai import OpenAI

    from imagemagic.client import ImagesClient
    from imagemagic.endpoint import Endpoint
    from imagemagic.server import embedded
    from imagemagic.settings import Settings, prepare

    url, server, thread = embedded.start()
    images = [photo_png(seed) for seed in range(16)]
    total_mb = sum(map(len, images)) / 2**20
    endpoint = Endpoint(url, "bench-key")
    ours_client = ImagesClient(endpoint)
    sdk = OpenAI(base_url=url, api_key="bench-key")
    params = {"size": "1024x1024", "quality": "low"}

    def ours(inputs):
        plan = prepare("night", params, settings=Settings(base_url=url), operation="edit", image=inputs)
        assert len(ours_client.generate(plan.request)) == 1

    def theirs(inputs):
        files = [(f"image{i}.png", data, "image/png") for i, data in enumerate(inputs)]
        answer = sdk.images.edit(image=files if len(files) > 1 else files[0], prompt="night", **params)
        assert len(answer.data) == 1

    figures = {}
    for count in (1, 16):
        inputs = images[:count]
        ours(inputs), theirs(inputs)  # warm: connections, imports
        figures[count] = {"ours": best(lambda i=inputs: ours(i)), "sdk": best(lambda i=inputs: theirs(i))}
    server.should_exit = True
    thread.join(5)
    print(f"16 inputs, {total_mb:.1f} MiB of PNG in all; best of {REPEATS}")
    print(f"{'inputs':>6} {'ours s':>8} {'sdk s':>8} {'ours/sdk':>9}")
    for count, row in figures.items():
        print(f"{count:>6} {row['ours']:>8.3f} {row['sdk']:>8.3f} {row['ours'] / row['sdk']:>9.2f}")
    upload = {k: figures[16][k] - figures[1][k] for k in ("ours", "sdk")}
    print(
        f"upload overhead of 15 more images: ours {upload['ours']:.3f} s, sdk {upload['sdk']:.3f} s, "
        f"ratio {upload['ours'] / upload['sdk']:.2f}"
    )


if __name__ == "__main__":
    main()
