"""Side-by-side benchmark: imagemagic's %%imagegen vs the official openai SDK vs the naive notebook path.

    python benchmarks/run.py            # from the project's virtual environment; about 2 minutes

One local preview server (in this process, on 127.0.0.1) answers every path with the same payloads.
Each path runs in its own subprocess (a "worker"), so CPU time and peak RSS are its own. See
benchmarks/README.md for what each path does and what is measured.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

SCENARIOS = {  # name: (size, stream, partial images, n, repetitions); "photo" is served by the replay server
    "stream-1536x1024": ("1536x1024", True, 3, 1, 3),
    "stream-3840x2160": ("3840x2160", True, 3, 1, 3),
    "n4-1536x1024": ("1536x1024", False, 0, 4, 3),
    "stream-3840x2160-photo": ("3840x2160", True, 3, 1, 2),
}
PATHS = ("ours", "sdk", "naive")
FANOUT_DELAY = 1.0


def timestamp_chunks(arrivals, httpx):
    """Patch the transports of `httpx` (or httpx2, which the openai SDK uses) to note each response chunk's arrival."""

    def timed_sync(chunks):
        for chunk in chunks:
            arrivals.append(time.perf_counter())
            yield chunk

    async def timed_async(chunks):
        async for chunk in chunks:
            arrivals.append(time.perf_counter())
            yield chunk

    class SyncStream(httpx.SyncByteStream):
        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            return timed_sync(self.inner)

        def close(self):
            self.inner.close()

    class AsyncStream(httpx.AsyncByteStream):
        def __init__(self, inner):
            self.inner = inner

        def __aiter__(self):
            return timed_async(self.inner)

        async def aclose(self):
            await self.inner.aclose()

    sync_handle, async_handle = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request

    def handle(self, request):
        response = sync_handle(self, request)
        response.stream = SyncStream(response.stream)
        return response

    async def handle_async(self, request):
        response = await async_handle(self, request)
        response.stream = AsyncStream(response.stream)
        return response

    httpx.HTTPTransport.handle_request = handle
    httpx.AsyncHTTPTransport.handle_async_request = handle_async


def shell_with_publisher(published):
    """An IPython shell whose display messages are serialized as a kernel sends them, with the time."""
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from jupyter_client.session import json_packer

    class KernelLikePublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
            message = json_packer({"data": data, "metadata": metadata or {}, "transient": transient or {}})
            published.append((time.perf_counter(), len(message)))

    shell = InteractiveShell.instance()
    shell.display_pub = KernelLikePublisher(shell=shell)
    return shell


def run_ours(shell, url, size, stream, partials, n, prompt):
    """%%imagegen as a notebook user runs it."""
    if not hasattr(run_ours, "ready"):
        os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
        shell.run_line_magic("load_ext", "imagemagic")
        shell.run_line_magic("config", "ImageGenMagics.display = 'inline'")
        shell.run_line_magic("config", "ImageGenMagics.max_concurrency = 8")
        run_ours.ready = True
    flags = f"--size {size} -n {n}" + (f" --stream --partial-images {partials}" if stream else "")
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_cell_magic("imagegen", f"{flags} --out images", prompt)
    assert len(shell.user_ns["images"]) == n and not shell.user_ns["images"].partial


def sdk_images(url, size, stream, partials, n, prompt):
    """The official SDK's images: (b64 text, final?) pairs, yielded as they arrive."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="sk-bench")
    if stream:
        for event in client.images.generate(
            model="gpt-image-2", prompt=prompt, size=size, stream=True, partial_images=partials
        ):
            yield event.b64_json, event.type == "image_generation.completed"
    else:
        for item in client.images.generate(model="gpt-image-2", prompt=prompt, size=size, n=n).data:
            yield item.b64_json, True


def run_sdk(shell, url, *params):
    """The SDK consuming the answer, nothing shown."""
    finals = sum(final for _, final in sdk_images(url, *params))
    assert finals == params[3]


def run_naive(shell, url, *params):
    """The SDK's events → base64 decode → PIL → IPython's display() of each partial and final."""
    from IPython.display import display
    from PIL import Image

    for b64, _ in sdk_images(url, *params):
        display(Image.open(io.BytesIO(base64.b64decode(b64))))


def memory(field):
    """VmHWM (peak) or VmRSS of this process in bytes; unlike ru_maxrss, not inherited across fork and exec."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def worker(path, url, scenario):
    """Run one path `repetitions` times; print the best wall, CPU and time-to-display, and peak RSS."""
    size, stream, partials, n, repetitions = SCENARIOS[scenario]
    arrivals, published = [], []
    for module in ("httpx", "httpx2"):
        timestamp_chunks(arrivals, importlib.import_module(module))
    shell = shell_with_publisher(published)
    run = {"ours": run_ours, "sdk": run_sdk, "naive": run_naive}[path]
    baseline = memory("VmRSS")
    walls, cpus, to_display = [], [], []
    for rep in range(repetitions):
        del arrivals[:], published[:]
        wall, cpu = time.perf_counter(), time.process_time()
        run(shell, url, size, stream, partials, n, f"a lighthouse on a cliff at dawn, take {rep}")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if published:
            shown = published[-1][0]
            to_display.append(shown - max(t for t in arrivals if t <= shown))
    peak = memory("VmHWM")
    print(
        json.dumps(
            {
                "wall": min(walls),
                "cpu": min(cpus),
                "to_display": min(to_display) if to_display else None,
                "peak_rss": peak,
                "rss_growth": peak - baseline,
                "largest_message": max((m for _, m in published), default=0),
            }
        )
    )


def fanout_worker(url):
    """Seconds for `--stream -n 1` and `--stream -n 8` (best of 2) against a server taking 1 s per image."""
    shell = shell_with_publisher([])
    best = {}
    for take, n in enumerate((1, 8, 1, 8)):
        started = time.perf_counter()
        run_ours(shell, url, "1024x1024", True, 0, n, f"a kite, take {take}")
        best[n] = min(best.get(n, float("inf")), time.perf_counter() - started)
    print(json.dumps(best))


LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
started = time.perf_counter()
shell.run_line_magic("load_ext", "imagemagic")
print(time.perf_counter() - started)
"""


def photo_events():
    """An event stream as the API sends it for a 3840x2160 PNG with the size of a photo (about 17 MB):
    three full-size partials and the final image, built once from seeded noise."""
    import random

    from PIL import Image

    noise = random.Random(4).randbytes(960 * 540 * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (960, 540), noise).resize((3840, 2160), Image.BILINEAR).save(out, "PNG", compress_level=1)
    meta = {
        "b64_json": base64.b64encode(out.getvalue()).decode(),
        "created_at": int(time.time()),
        "size": "3840x2160",
        "quality": "high",
        "background": "opaque",
        "output_format": "png",
    }
    usage = {"input_tokens": 9, "output_tokens": 33_000, "total_tokens": 33_009}
    events = [("image_generation.partial_image", {**meta, "partial_image_index": i}) for i in range(3)]
    events.append(("image_generation.completed", {**meta, "usage": usage}))
    return b"".join(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode() for kind, data in events)


def replay_server(body):
    """A loopback server answering every POST with `body` as an event stream; returns its base URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Replay(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for start in range(0, len(body), 65536):
                self.wfile.write(body[start : start + 65536])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def spawn(*args):
    """Run a worker subprocess with a fresh history folder; return its JSON answer."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "IMAGEMAGIC_"))}
        out = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, env={**env, "IMAGEMAGIC_HOME": home}
        )
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(ratio, target):
    return f"{ratio:.3f}× (target ≤ {target}×: {'met' if ratio <= target else 'MISSED'})"


def main():
    from imagemagic.server import embedded

    url, *_ = embedded.start()
    slow_url, *_ = embedded.start(delay=FANOUT_DELAY)
    photo_url = replay_server(photo_events())
    me = os.path.abspath(__file__)
    results = {
        (s, p): spawn(me, "worker", p, photo_url if s.endswith("photo") else url, s) for s in SCENARIOS for p in PATHS
    }

    print(
        "| scenario | path | wall s | CPU s | peak RSS MiB | RSS growth MiB "
        "| last byte → display ms | largest display message KiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (scenario, path), r in results.items():
        shown = f"{r['to_display'] * 1000:.1f}" if r["to_display"] is not None else "—"
        print(
            f"| {scenario} | {path} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['peak_rss'] / 2**20:.0f} | "
            f"{r['rss_growth'] / 2**20:.0f} | {shown} | {r['largest_message'] / 1024:.0f} |"
        )

    loads = [spawn("-c", LOAD_EXT) for _ in range(5)]
    fan = spawn(me, "fanout", slow_url)
    print()
    for big in ("stream-3840x2160", "stream-3840x2160-photo"):
        ours, sdk, naive = (results[big, p] for p in PATHS)
        print(
            f"- {big}: time to display the final image, ours / naive: "
            f"{verdict(ours['to_display'] / naive['to_display'], 0.1)}"
        )
        print(f"- {big}: client CPU, ours / naive: {verdict(ours['cpu'] / naive['cpu'], 0.5)}")
        print(
            f"- {big}: peak RSS, ours / SDK: {verdict(ours['peak_rss'] / sdk['peak_rss'], 0.6)}; "
            f"growth over the shared baseline, ours / SDK: {verdict(ours['rss_growth'] / sdk['rss_growth'], 0.6)}"
        )
    print(
        f"- %load_ext imagemagic (best of 5 fresh processes): {min(loads) * 1000:.1f} ms "
        f"(target ≤ 30 ms: {'met' if min(loads) <= 0.030 else 'MISSED'})"
    )
    print(
        f"- -n 8 fan-out / single request, {FANOUT_DELAY:.0f} s per image: {fan['8']:.2f} s / {fan['1']:.2f} s = "
        f"{verdict(fan['8'] / fan['1'], 1.3)}"
    )
    for scenario in SCENARIOS:
        ours, sdk, naive = (results[scenario, p] for p in PATHS)
        print(
            f"- {scenario}: CPU ours/naive {ours['cpu'] / naive['cpu']:.2f}, ours/SDK {ours['cpu'] / sdk['cpu']:.2f}; "
            f"wall ours/naive {ours['wall'] / naive['wall']:.2f}; "
            f"peak RSS ours/SDK {ours['peak_rss'] / sdk['peak_rss']:.2f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1:2] == ["fanout"]:
        fanout_worker(sys.argv[2])
    else:
        main()
