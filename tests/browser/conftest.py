"""JupyterLab and Notebook 7 on loopback (token auth, a temporary root) driven by Playwright in Debian's chromium.

One JupyterLab per session; its kernels inherit IMAGEMAGIC_PREVIEW_DELAY so streams are slow
enough to watch. Without /usr/bin/chromium every browser test is skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers.environment import ENDPOINT_VARIABLES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PREVIEW_DELAY = 3.0  # seconds per image on the kernels' offline server
_CLEARED = ENDPOINT_VARIABLES


def _require_chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) to run browser tests"
        )


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab: its root folder, base URL, token, and its kernels' preview delay."""

    delay = PREVIEW_DELAY

    def __init__(self, root, url, token):
        self.root, self.url, self.token = root, url, token

    def open(self, page, name):
        """Open a notebook of the root in a fresh workspace; wait until its kernel is idle; return its panel."""
        page.goto(f"{self.url}/lab/workspaces/{secrets.token_hex(4)}/tree/{name}?reset&token={self.token}")
        notebook = page.locator(".jp-NotebookPanel").first
        notebook.locator(".jp-CodeCell").first.wait_for()
        wait_idle(page)
        return notebook

    @staticmethod
    def run_cell(notebook, index):
        """Run the notebook's `index`-th code cell (command mode, Shift+Enter) and wait until it has started."""
        prompt = notebook.locator(".jp-CodeCell").nth(index).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        prompt.click()
        notebook.page.keyboard.press("Shift+Enter")
        notebook.page.wait_for_function(
            "([el, before]) => el.innerText !== before", arg=[prompt.element_handle(), before]
        )


def wait_idle(page, timeout=30_000):
    """Wait until the notebook's kernel is connected and idle (toolbar indicator and status bar)."""
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=timeout)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=timeout)


class Notebook7(Lab):
    """A running Jupyter Notebook 7: a notebook opens in its own page (no workspace, no status bar)."""

    def open(self, page, name):
        """Open a notebook of the root; wait until its kernel is idle; return its panel."""
        page.goto(f"{self.url}/notebooks/{name}?token={self.token}")
        notebook = page.locator(".jp-NotebookPanel").first
        notebook.locator(".jp-CodeCell").first.wait_for()
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=30_000)
        return notebook

    @staticmethod
    def run_cell(notebook, index):
        """Select the notebook's `index`-th code cell, run it with the toolbar's Run button (a first Shift+Enter can
        be lost while Notebook 7 settles), and wait until it has started."""
        from playwright.sync_api import TimeoutError as PageTimeout

        page = notebook.page
        prompt = notebook.locator(".jp-CodeCell").nth(index).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        for attempt in range(3):  # a click before Notebook 7 has settled can be dropped: try again, never twice
            prompt.click()
            page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:run-cell-and-select-next']").click()
            try:
                page.wait_for_function(
                    "([el, before]) => el.innerText !== before", arg=[prompt.element_handle(), before], timeout=10_000
                )
                return
            except PageTimeout:  # the click was dropped: screenshot, then click again
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / f"notebook7-run-cell-{attempt}.png")
        raise AssertionError(f"Notebook 7 did not start cell {index} (screenshots in {ARTIFACTS})")


def _serve(tmp_path_factory, app, options, kind):
    """Start `jupyter <app>` on 127.0.0.1 with a random token and a temporary root; yield `kind(...)` of it."""
    _require_chromium()
    root = tmp_path_factory.mktemp(f"{app}-root")
    state = tmp_path_factory.mktemp(f"{app}-state")
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        {
            "IMAGEMAGIC_PREVIEW_DELAY": str(PREVIEW_DELAY),
            "IMAGEMAGIC_HOME": str(state / "home"),
            "JUPYTER_CONFIG_DIR": str(state / "config"),
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "get notified about Jupyter news?" toast over the page
    log = open(state / f"{app}.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--no-browser",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            "--ServerApp.ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            *options,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"jupyter {app} did not start:\n{(state / f'{app}.log').read_text()[-3000:]}")
        time.sleep(0.2)
    shutil.copy(ROOT / "notebooks" / "panel.ipynb", root / "panel.ipynb")
    yield kind(root, url, token)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a random token and a temporary root; stopped after the session."""
    options = [
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    yield from _serve(tmp_path_factory, "lab", options, Lab)


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory):
    """Jupyter Notebook 7 on 127.0.0.1, as `lab`; stopped after the session."""
    pytest.importorskip("notebook", minversion="7", reason="the test extra installs Notebook 7")
    yield from _serve(tmp_path_factory, "notebook", [], Notebook7)


@pytest.fixture(params=["lab", "notebook7"])
def front_end(request):
    """Each Jupyter front end in turn: JupyterLab, then Notebook 7."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps its event loop marked running in this thread,
    which must not leak into tests that run their own loop.
    """
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page 1200 px wide; closed after the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts():
    """The folder for screenshots (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
