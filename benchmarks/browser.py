"""Real-browser benchmark: from the last byte at the kernel to the final image painted in JupyterLab.

    python benchmarks/browser.py        # from the project's virtual environment; about three minutes

JupyterLab on 127.0.0.1 and headless Debian chromium (/usr/bin/chromium) through Playwright, as the
browser tests run. A replay server streams the photo payload of benchmarks/run.py (3840x2160, about
17 MB of PNG: three full-size partials and the final) to three cells of one notebook:

- ours: `%%imagegen --size 3840x2160 --stream --partial-images 3` (default display bound, 2048);
- ours, display_max_side = 0: the same, every image passed through as the wire's base64;
- naive: the official SDK's events → base64 decode → PIL → `display()` of each partial and the final.

The kernel notes each response chunk's arrival (its httpx and httpx2 transports, as run.py does); the
page notes when each image of the cell's outputs is decoded and painted (a MutationObserver, then
`img.decode()` and two animation frames). The figure is the last paint minus the last byte, both on the
machine's wall clock; best of 2. Once on loopback as it is, once with the page's network throttled to
100 Mbit/s (CDP Network.emulateNetworkConditions).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
MBIT = 100
REPEAT = int(os.environ.get("BENCH_REPEAT", 2))

SETUP = f"""
import sys, time
sys.path.insert(0, {str(HERE)!r})
import httpx, httpx2
from run import timestamp_chunks
arrivals = []
for module in (httpx, httpx2):
    timestamp_chunks(arrivals, module)
OFFSET = time.time() - time.perf_counter()
%load_ext imagemagic
%config ImageGenMagics.display = 'inline'
"""
FLAGS = "--fresh --size 3840x2160 --stream --partial-images 3"
CELLS = {
    "ours (default bound)": f"get_ipython().run_cell_magic('imagegen', '{FLAGS}', 'a photo')",
    "ours, display_max_side = 0": (
        "%config ImageGenMagics.display_max_side = 0\n"
        f"get_ipython().run_cell_magic('imagegen', '{FLAGS}', 'a photo')\n"
        "%config ImageGenMagics.display_max_side = 2048"
    ),
    "naive": """
import base64, io, openai
from PIL import Image
from IPython.display import display
for event in openai.OpenAI().images.generate(
    model="gpt-image-2", prompt="a photo", size="3840x2160", stream=True, partial_images=3
):
    display(Image.open(io.BytesIO(base64.b64decode(event.b64_json))))
""",
}
MEASURED = "arrivals.clear()\n{code}\nprint('LASTBYTE', max(arrivals) + OFFSET)"

RECORD = """cell => {
    window.paints = [];
    const seen = new WeakSet();
    const note = img => {
        if (seen.has(img)) return;
        seen.add(img);
        img.decode().then(() => requestAnimationFrame(() => requestAnimationFrame(() =>
            window.paints.push({t: performance.timeOrigin + performance.now(), w: img.naturalWidth}))))
            .catch(() => {});
    };
    window.observer = new MutationObserver(() => cell.querySelectorAll('.jp-OutputArea-output img').forEach(note));
    window.observer.observe(cell, {childList: true, subtree: true, attributes: true, attributeFilter: ['src']});
}"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(root, state, env):
    """JupyterLab on loopback with a random token; (process, url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    env = {
        **env,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--IdentityProvider.token={token}"]
        + ["--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
        + ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env,
        stdout=open(state / "lab.log", "wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200:
                return proc, url, token
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((state / "lab.log").read_text()[-3000:])
        time.sleep(0.2)


def run_cell(page, notebook, index, timeout_s=float(os.environ.get("BENCH_CELL_TIMEOUT", 300))):
    """Run the `index`-th code cell and wait until its prompt shows it finished."""
    cell = notebook.locator(".jp-CodeCell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    prompt.click()
    page.keyboard.press("Shift+Enter")
    try:
        page.wait_for_function(
            "([el, before]) => el.innerText !== before && /\\[\\d+\\]/.test(el.innerText)",
            arg=[prompt.element_handle(), before],
            timeout=timeout_s * 1000,
        )
    except Exception as exc:
        (HERE.parent / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=HERE.parent / "test-artifacts" / "browser-benchmark-failure.png")  # gitignored
        text = cell.inner_text()[-2000:]
        raise RuntimeError(f"cell {index} did not finish: prompt {prompt.inner_text()!r}, {text}") from exc
    return cell


def settle(page, quiet_s=3.0, limit_s=120.0):
    """Wait until no image has been painted for `quiet_s` seconds; return the paints."""
    started = time.monotonic()
    count, since = -1, time.monotonic()
    while time.monotonic() - started < limit_s:
        paints = page.evaluate("window.paints")
        if len(paints) != count:
            count, since = len(paints), time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.2)
    return page.evaluate("window.observer.disconnect(), window.paints")


def measure(page, notebook, index):
    """Seconds from the kernel's last byte to the last image painted in cell `index`."""
    cell = notebook.locator(".jp-CodeCell").nth(index)
    cell.evaluate(RECORD)
    run_cell(page, notebook, index)
    paints = settle(page)
    text = cell.locator(".jp-OutputArea").inner_text()
    try:
        last_byte = float(text.rsplit("LASTBYTE ", 1)[1].split()[0])
    except (IndexError, ValueError):
        raise RuntimeError(f"cell {index} did not finish as expected:\n{text[-3000:]}") from None
    final = max(p["t"] for p in paints if p["w"] >= 1920) / 1000
    return final - last_byte


def main():
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(HERE))
    from run import photo_events, replay_server

    photo_url = replay_server(photo_events())
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as state:
        root, state = Path(root), Path(state)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "IMAGEMAGIC_"))}
        env.update(OPENAI_BASE_URL=photo_url, OPENAI_API_KEY="sk-bench", IMAGEMAGIC_HOME=str(state / "home"))
        cells = [SETUP] + [MEASURED.format(code=code) for code in CELLS.values()]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "bench.ipynb")
        proc, url, token = start_lab(root, state, env)
        results = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(f"{url}/lab/workspaces/{secrets.token_hex(4)}/tree/bench.ipynb?reset&token={token}")
                notebook = page.locator(".jp-NotebookPanel").first
                notebook.locator(".jp-CodeCell").first.wait_for(timeout=60_000)
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=60_000)
                page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=60_000)
                run_cell(page, notebook, 0)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                for link, rate in (("localhost", -1), (f"{MBIT} Mbit/s", MBIT * 1e6 / 8)):
                    cdp.send(
                        "Network.emulateNetworkConditions",
                        {"offline": False, "latency": 0, "downloadThroughput": rate, "uploadThroughput": rate},
                    )
                    for index, name in enumerate(CELLS, start=1):
                        times = [measure(page, notebook, index) for _ in range(REPEAT)]
                        results[link, name] = min(times)
                        print(f"  {link:>12} {name:<28} " + " ".join(f"{t * 1000:.0f}" for t in times) + " ms")
                browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("\n| link | ours (default bound) ms | ours, max_side 0 ms | naive ms | ours / naive | ours / pass-through |")
    print("|---|---|---|---|---|---|")
    for link in ("localhost", f"{MBIT} Mbit/s"):
        ours, passthrough, naive = (results[link, name] for name in CELLS)
        print(
            f"| {link} | {ours * 1000:.0f} | {passthrough * 1000:.0f} | {naive * 1000:.0f} "
            f"| {ours / naive:.3f}× | {ours / passthrough:.3f}× |"
        )
    print(json.dumps({f"{link} / {name}": round(t, 4) for (link, name), t in results.items()}))


if __name__ == "__main__":
    main()
