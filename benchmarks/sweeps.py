"""Sweep benchmark: wall time against the ideal, display message rate, notebook size, peak memory.

    python benchmarks/sweeps.py         # from the project's virtual environment; about a minute

1. 48 images, the local server at 1 s per image, max_concurrency 8, run by `%%imagegen --grid` in a
   real kernel: wall time over the ideal 6 s, and the display messages (display, update, widget comm
   and stream messages) per second, overall and in the busiest second.
2. The saved notebook of a 48-image sweep of photo-like 1536x1024 PNGs (contact sheet) beside the
   same 48 images shown the pass-through way (display_max_side = 0, one output per image).
3. Peak RSS growth of a 48-image sweep of photo-like 3840x2160 PNGs (sweep() in a fresh process),
   in payloads (one image's PNG bytes), against max_concurrency + 2.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

IMAGES, CONCURRENCY, DELAY = 48, 8, 1.0


def photo_png(width, height, seed=4):
    """A PNG with the size of a photo: seeded noise scaled up 4x (compresses like a photo, not like flat art)."""
    from PIL import Image

    noise = random.Random(seed).randbytes((width // 4) * (height // 4) * 3)
    out = io.BytesIO()
    small = Image.frombytes("RGB", (width // 4, height // 4), noise)
    small.resize((width, height), Image.BILINEAR).save(out, "PNG", compress_level=1)
    return out.getvalue()


def photo_server(png, delay=0.0):
    """A loopback server answering every generation with `png` (JSON, b64_json) after `delay` seconds, costing
    no CPU per image (unlike the preview server, which renders each); returns its /v1 URL."""
    import asyncio

    import uvicorn
    from starlette.responses import Response

    body = json.dumps(
        {
            "created": 1,
            "data": [{"b64_json": base64.b64encode(png).decode()}],
            "usage": {"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010},
        }
    ).encode()

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(delay)
        await Response(body, media_type="application/json", headers={"x-request-id": "req_photo"})(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/v1"


def kernel_run(setup, code, home):
    """Run `setup` then `code` in a fresh kernel; (seconds code took, [(t, msg_type) of display messages])."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env={**os.environ, "IMAGEMAGIC_HOME": home})
    client = manager.client()
    client.start_channels()
    kinds = {"display_data", "update_display_data", "comm_open", "comm_msg", "stream", "clear_output"}
    try:
        client.wait_for_ready(timeout=60)
        for source in (setup, code):
            started, shown = time.perf_counter(), []
            msg_id = client.execute(source)
            while True:
                msg = client.get_iopub_msg(timeout=300)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] in kinds:
                    shown.append((time.perf_counter() - started, msg["msg_type"]))
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        return time.perf_counter() - started, shown
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def raw_httpx(url):
    """The baseline: the same 48 requests with bare httpx, 8 at a time, nothing stored or shown."""
    import asyncio

    import httpx

    async def run():
        gate = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(i):
                async with gate:
                    answer = await client.post(f"{url}/images/generations", json={"prompt": f"raw {i}"})
                    answer.raise_for_status()

            await asyncio.gather(*(one(i) for i in range(IMAGES)))

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def wall_and_rate(url, home=None):
    """(wall seconds, display messages, updates in the busiest second) of the grid cell in a kernel."""
    from collections import Counter

    setup = (
        f"%load_ext imagemagic\n%config ImageGenMagics.base_url = '{url}'\n"
        f"%config ImageGenMagics.max_concurrency = {CONCURRENCY}\nxs = list(range({IMAGES}))\n"
        "import imagemagic.sweeps, imagemagic.client, imagemagic.store, imagemagic.sweep_display, tqdm.auto, PIL.Image"
    )  # imports done before the measured cell, as in a session that has made an image already
    with tempfile.TemporaryDirectory(dir=home) as folder:
        cell = f"%%imagegen --grid i=xs --limit {IMAGES} --size 1024x1024\ncard {{i}}"
        wall, shown = kernel_run(setup, cell, folder)
    updates = [t for t, kind in shown if kind != "comm_open"]  # the bar's widgets are created once, at the start
    busiest = max(sum(1 for t in updates if second <= t < second + 1) for second in range(int(wall) + 1))
    print("  display messages by kind:", dict(Counter(kind for _, kind in shown)))
    return wall, len(shown), busiest


def notebook_size(url, cells):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with tempfile.TemporaryDirectory() as home:
        os.environ["IMAGEMAGIC_HOME"] = home
        NotebookClient(nb, kernel_name="python3", timeout=600).execute()
    return len(nbformat.writes(nb).encode())


def notebook_sizes(url):
    setup = (
        f"%load_ext imagemagic\n%config ImageGenMagics.base_url = '{url}'\n"
        f"%config ImageGenMagics.max_concurrency = {CONCURRENCY}\nxs = list(range({IMAGES}))"
    )
    sheet = f"%%imagegen --grid i=xs --limit {IMAGES} --size 1536x1024 --out sheet\nphoto {{i}}"
    passthrough = (
        "%config ImageGenMagics.display_max_side = 0\n"
        f"for i in range({IMAGES}):\n    get_ipython().run_line_magic('imagegen', f'--size 1536x1024 photo {{i}}')"
    )
    return notebook_size(url, [setup, sheet]), notebook_size(url, [setup, passthrough])


MEMORY_WORKER = """
import os, sys, imagemagic
from imagemagic.settings import Settings
def hwm():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) * 1024
settings = Settings(base_url=sys.argv[1], max_concurrency=int(sys.argv[2]), cache=False)
imagemagic.sweep('warm {i}', i=[0], size='3840x2160', settings=settings, progress=False)
before = hwm()
s = imagemagic.sweep('photo {i}', i=list(range(int(sys.argv[3]))), limit=100, size='3840x2160',
                     settings=settings, progress=False)
print(before, hwm(), len(s))
"""


def memory(url, payload):
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_WORKER, url, str(CONCURRENCY), str(IMAGES)],
            env={**os.environ, "IMAGEMAGIC_HOME": home},
            capture_output=True,
            text=True,
            check=True,
        )
    before, peak, count = (int(x) for x in done.stdout.split())
    return (peak - before) / payload, count


def main():
    from PIL import Image

    from imagemagic.server import embedded

    ideal = IMAGES / CONCURRENCY * DELAY
    flat = io.BytesIO()
    Image.new("RGB", (1024, 1024), (9, 99, 199)).save(flat, "PNG")
    preview_url = embedded.start(delay=DELAY)[0]
    servers = {"replay (no CPU per image)": photo_server(flat.getvalue(), DELAY), "preview server": preview_url}
    homes = {"disk": None, "tmpfs": "/dev/shm" if os.path.isdir("/dev/shm") else None}
    print(f"{IMAGES} images at {DELAY:g} s each, max_concurrency {CONCURRENCY}, ideal {ideal:g} s (target <= 1.15x)")
    print("| server | history on | bare httpx s | sweep in a kernel s | / ideal | / bare | msgs/s | busiest s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, url in servers.items():
        bare = raw_httpx(url)
        for where, home in homes.items():
            wall, messages, busiest = wall_and_rate(url, home)
            print(
                f"| {name} | {where} | {bare:.2f} | {wall:.2f} | {wall / ideal:.3f} | {wall / bare:.3f} "
                f"| {messages / wall:.1f} | {busiest} |"
            )

    photo = photo_png(1536, 1024)
    sheet, passthrough = notebook_sizes(photo_server(photo))
    print(f"notebook: contact sheet {sheet / 1e6:.2f} MB vs pass-through {passthrough / 1e6:.1f} MB")
    print(f"  ratio {sheet / passthrough:.4f} (target <= 0.1)")

    big = photo_png(3840, 2160)
    growth, count = memory(photo_server(big), len(big))
    print(
        f"memory: {count} images of 3840x2160 ({len(big) / 1e6:.1f} MB PNG each): peak RSS growth {growth:.1f} payloads"
    )
    print(f"  (target <= max_concurrency + 2 = {CONCURRENCY + 2})")


if __name__ == "__main__":
    main()
