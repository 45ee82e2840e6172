"""Shared fixtures: a clean environment per test, the real local server on loopback, a real
IPython shell with the extension loaded, and the official JSON schemas."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from imagemagic.server import embedded

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCHEMA = json.loads((SHARED / "openai-images.schema.json").read_text())
_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "IMAGEMAGIC_PREVIEW_DELAY")


def schema_errors(instance, definition):
    """Messages of every way `instance` breaks the official schema `definition` (empty: valid)."""
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]})
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No keys or endpoints from the developer's environment; history in a temporary folder."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _start(**options):
    url, server, thread = embedded.start(**options)
    return url, lambda: (setattr(server, "should_exit", True), thread.join(5))


@pytest.fixture(scope="session")
def server_url():
    """Base URL (with /v1) of a real local server on 127.0.0.1, shared by the session."""
    url, stop = _start()
    yield url
    stop()


@pytest.fixture
def start_server():
    """Start extra servers with options (delay=, api_key=); all are stopped after the test."""
    stops = []

    def start(**options):
        url, stop = _start(**options)
        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def ip(server_url, monkeypatch):
    """A real IPython shell with %load_ext imagemagic, pointed at the session's local server, inline display."""
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "imagemagic")
    monkeypatch.setenv("OPENAI_BASE_URL", server_url)
    shell.run_line_magic("config", "ImageGenMagics.display = 'inline'")
    yield shell
    shell.run_line_magic("reset", "-f")
    from imagemagic.magics import ImageGenMagics

    magics = shell.magics_manager.registry["ImageGenMagics"]
    for name, trait in ImageGenMagics.class_traits(config=True).items():
        setattr(magics, name, trait.default())
