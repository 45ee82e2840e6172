"""Issue 12: the catalog checked against an endpoint's GET /v1/models, cached for a day, over real HTTP."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from imagemagic import remote
from imagemagic.catalog import MODELS, catalog_text, chat_model, lookup
from imagemagic.endpoint import Endpoint
from imagemagic.server.models import TABLE
from imagemagic.settings import Settings, prepare

SERVED = [
    {"id": "gpt-image-2", "object": "model"},
    {"id": "gpt-image-1.5", "object": "model", "shutdown_date": "2020-01-15"},
    {"id": "openai/gpt-image-2.6-flare", "object": "model"},
    {"id": "house-model", "object": "model", "shutdown_date": "2027-03-01"},
    {"id": "dall-e-3", "object": "model", "shutdown_date": "2026-05-12"},
]
NOT_SERVED = [n for n in MODELS if n not in ("gpt-image-2", "gpt-image-1.5", "gpt-image-2.6-flare", "dall-e-3")]
COMPARED = [
    "  served, not in the catalog: house-model (shutdown 2027-03-01)",
    f"  in the catalog, not served: {', '.join(NOT_SERVED)}",
    "  shutdown dates that differ: gpt-image-1.5: endpoint 2020-01-15, catalog 2026-12-01",
]


def models_cli(*args):
    done = subprocess.run(
        [sys.executable, "-m", "imagemagic", "models", *args], capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout, done.stderr


def model_requests(recorder):
    return [r for r in recorder.requests if r["path"] == "/v1/models"]


def test_models_remote_lists_the_differences_and_caches_the_answer_for_a_day(recorder):
    recorder.models = SERVED
    code, out, err = models_cli("--remote", "--base-url", f"{recorder.base}/v1")
    assert (code, err) == (0, "")
    assert out.startswith(catalog_text() + "\n")
    head, *lines = out[len(catalog_text()) + 1 :].splitlines()
    assert head.startswith(f"{recorder.base}/v1/models: 5 models (fetched ") and head.endswith("; cached for a day)")
    assert lines == COMPARED
    assert len(model_requests(recorder)) == 1
    code, again, _ = models_cli("--remote", "--base-url", f"{recorder.base}/v1")
    assert "models (cached answer of " in again and again.splitlines()[-3:] == COMPARED
    assert len(model_requests(recorder)) == 1  # the second listing came from the cache


def test_an_endpoint_without_models_is_one_line(recorder):
    recorder.models = 404
    code, out, err = models_cli("--remote", "--base-url", f"{recorder.base}/v1")
    assert (code, err) == (0, "")
    last = out.splitlines()[-1]
    assert last.startswith(f"{recorder.base}/v1 has no /models list (404): nothing to compare, the catalog stands (")


def test_an_unreachable_endpoint_is_one_error_line():
    code, out, err = models_cli("--remote", "--base-url", "http://127.0.0.1:9/v1")
    assert (code, err) == (1, "imagemagic: error: could not reach http://127.0.0.1:9/v1/models (ConnectError)\n")
    assert out == catalog_text() + "\n"


def test_the_cache_lasts_a_day_per_endpoint(recorder, tmp_path):
    recorder.models = SERVED
    endpoint = Endpoint(f"{recorder.base}/v1")
    t0 = 1_800_000_000.0
    assert remote.served(endpoint, home=tmp_path, now=t0)[2] is False
    assert remote.served(endpoint, home=tmp_path, now=t0 + remote.MAX_AGE)[2] is True
    assert len(model_requests(recorder)) == 1
    assert remote.served(endpoint, home=tmp_path, now=t0 + remote.MAX_AGE + 1)[2] is False
    assert len(model_requests(recorder)) == 2
    assert remote.shutdowns(endpoint.base_url, home=tmp_path, now=t0 + remote.MAX_AGE + 1) == {
        "gpt-image-1.5": dt.date(2020, 1, 15),
        "house-model": dt.date(2027, 3, 1),
        "dall-e-3": dt.date(2026, 5, 12),
    }
    assert remote.shutdowns("http://elsewhere.test/v1", home=tmp_path, now=t0) == {}


@pytest.mark.parametrize("junk", [b"", b"{", b"[1, 2]", b'{"http://x/v1": {"fetched_at": "soon"}}'])
def test_a_damaged_cache_is_ignored(tmp_path, junk):
    (tmp_path / remote.CACHE_FILE).write_bytes(junk)
    assert remote.shutdowns("http://x/v1", home=tmp_path) == {}


def test_a_request_never_waits_on_models_and_warns_with_the_cached_date(recorder):
    recorder.models = SERVED
    settings = Settings(base_url=f"{recorder.base}/v1")
    assert prepare("a kite", {"model": "gpt-image-1.5"}, settings=settings).warnings == ()
    assert model_requests(recorder) == []  # preparing a request fetched nothing
    remote.served(Endpoint(f"{recorder.base}/v1"))
    assert prepare("a kite", {"model": "gpt-image-1.5"}, settings=settings).warnings == (
        "model gpt-image-1.5 was shut down on 2020-01-15 (the endpoint's date); the API will probably refuse it "
        "(replacements: gpt-image-2.6-flare, gpt-image-2.6-sunburst)",
    )


def test_the_local_server_agrees_with_the_catalog_from_the_magic(ip, capsys, server_url):
    ip.run_line_magic("imagegen", "--models --remote")
    out = capsys.readouterr().out.splitlines()
    served = list(TABLE)  # the server's one table: the catalog's image models, its chat models, Responses models
    mainline = [name for name in served if lookup(name) is None and chat_model(name) is None]
    assert mainline and len(served) > len(MODELS) + len(mainline)  # chat models are served too
    assert out[-4].startswith(f"{server_url}/models: {len(served)} models (fetched ")
    assert out[-3:] == [
        f"  served, not in the catalog: {', '.join(f'{name} (shutdown none)' for name in mainline)}",  # Responses
        "  in the catalog, not served: none",
        "  shutdown dates that differ: none",
    ]


def test_only_dates_both_sides_give_are_compared(recorder, tmp_path):
    """No date published is no differing date; a published one that differs still is."""
    recorder.models = [
        {"id": "gpt-image-1.5", "object": "model"},  # the catalog says 2026-12-01; the endpoint says nothing
        {"id": "gpt-image-1", "object": "model", "shutdown_date": "2026-11-30"},  # the catalog says 2026-10-23
        {"id": "gemini-2.5-flash-image", "object": "model"},  # a chat model of the catalog
    ]
    text = remote.remote_text(Endpoint(f"{recorder.base}/v1"), home=tmp_path)
    assert text.splitlines()[-1] == "  shutdown dates that differ: gpt-image-1: endpoint 2026-11-30, catalog 2026-10-23"
    assert text.splitlines()[1:2] == ["  served, not in the catalog: none"]


def test_offline_there_is_nothing_to_compare():
    assert remote.remote_text(Endpoint(None, offline=True)) == (
        "the offline preview server serves the catalog itself: nothing to compare (set a base URL or a key)"
    )
