"""A canary key's bytes appear nowhere: an executed notebook and its saved .ipynb, the history,
exception messages and reprs, DEBUG logs of every logger (httpx and httpcore included), %config."""

from __future__ import annotations

import logging
import traceback

import nbformat
import pytest
from helpers.scripted import refused_url
from nbclient import NotebookClient

import imagemagic
from imagemagic.client import AsyncImagesClient, ImagesClient
from imagemagic.endpoint import Endpoint, resolve
from imagemagic.errors import APIError, TransportError

CANARY = "canary-key-0123456789abcdefABCDEF"


def _history_bytes(home):
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_executed_notebook_and_history_never_hold_the_key(start_server, clean_env, monkeypatch, tmp_path):
    url = start_server(api_key=CANARY)
    other = start_server(api_key="sk-someone-else")
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(source)
            for source in (
                "%load_ext imagemagic",
                "%%imagegen --size 1024x1024 --stream --partial-images 1 --out pic\na red kite",
                "%imagegen_history",
                "%config ImageGenMagics",
                "import imagemagic, os\nimagemagic.ImagesClient(), imagemagic.ImagesClient().endpoint, pic",
                f"%config ImageGenMagics.base_url = {other!r}",
                "%%imagegen --size 1024x1024\nrefused",
                f"try:\n    imagemagic.generate('x', base_url={other!r})\n"
                "except imagemagic.APIError as exc:\n    print(repr(exc), exc.__dict__)",
                "%imagegen_usage",
            )
        ]
    )
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    saved = path.read_bytes()
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any(o.get("name") == "stderr" and o["text"].startswith("UsageError: HTTP 401 (") for o in outputs)
    assert "<Endpoint openai-compatible" in saved.decode() and ", key set>" in saved.decode()
    assert CANARY.encode() not in saved
    assert CANARY.encode() not in _history_bytes(clean_env)
    assert list(clean_env.rglob("*.png"))


def test_errors_and_reprs_never_show_the_key(start_server):
    url = start_server(api_key="sk-someone-else")
    endpoint = resolve(api_key=CANARY, base_url=url)
    texts = [repr(endpoint), str(endpoint), repr(ImagesClient(endpoint)), repr(AsyncImagesClient(endpoint))]
    for target in (url, refused_url()):
        with pytest.raises((APIError, TransportError)) as caught:
            imagemagic.generate("a kite", base_url=target, api_key=CANARY)
        texts += [
            str(caught.value),
            repr(caught.value),
            repr(vars(caught.value)),
            "".join(traceback.format_exception(caught.value)),
        ]
    assert "Incorrect API key provided." in texts[4]
    assert all(CANARY not in text for text in texts)
    assert (
        repr(Endpoint("https://api.openai.com/v1", CANARY))
        == "<Endpoint openai-compatible https://api.openai.com/v1, key set>"
    )


def test_debug_logs_of_every_logger_never_hold_the_key(start_server, caplog):
    url = start_server(api_key=CANARY)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "uvicorn", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    imagemagic.generate("a kite", base_url=url, api_key=CANARY, stream=True)
    with pytest.raises(APIError):
        imagemagic.generate("a kite", base_url=start_server(api_key="sk-other"), api_key=CANARY)
    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"httpx", "httpcore"} <= names
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert CANARY not in logged
