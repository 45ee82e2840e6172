"""Where requests go and exactly what they carry: OpenAI, Azure OpenAI, gateways, the offline server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from IPython.utils.capture import capture_output

from imagemagic.endpoint import AZURE_API_VERSION, OPENAI_BASE_URL, resolve

KEY = "test-endpoint-key-0123456789"


def test_a_key_alone_means_openai():
    endpoint = resolve(environ={"OPENAI_API_KEY": KEY, "OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj-1"})
    assert endpoint.base_url == OPENAI_BASE_URL == "https://api.openai.com/v1"
    assert endpoint.url("gpt-image-2") == "https://api.openai.com/v1/images/generations"
    assert endpoint.headers() == {
        "Authorization": f"Bearer {KEY}",
        "OpenAI-Organization": "org-1",
        "OpenAI-Project": "proj-1",
    }
    assert endpoint.params() == {}


def test_nothing_configured_means_the_local_server_and_one_line_saying_so(clean_env):
    script = (
        "import imagemagic; r = imagemagic.generate('a kite', n=2); "
        "imagemagic.generate('a kite'); print(len(r), r[0].size)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IMAGEMAGIC_HOME": str(clean_env)},
    )
    assert done.stdout == "2 (1024, 1024)\n"
    assert re.fullmatch(
        r"no OPENAI_API_KEY: using the offline preview server at http://127\.0\.0\.1:\d+/v1\n", done.stderr
    )


def test_base_url_overrides_and_azure_needs_both_variables():
    env = {
        "OPENAI_BASE_URL": "http://gw.local/v1/",
        "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "az",
    }
    assert resolve(environ=env).base_url == "http://gw.local/v1"
    del env["OPENAI_BASE_URL"]
    assert resolve(environ=env).azure_api_version == AZURE_API_VERSION
    del env["AZURE_OPENAI_API_KEY"]
    assert resolve(environ={**env, "OPENAI_API_KEY": KEY}).base_url == OPENAI_BASE_URL


def test_repr_never_shows_the_key():
    endpoint = resolve(environ={"OPENAI_API_KEY": KEY})
    assert KEY not in repr(endpoint) and KEY not in str(endpoint)
    assert repr(endpoint) == "<Endpoint openai-compatible https://api.openai.com/v1, key set>"


def _cell(ip, line, cell="a kite over the sea"):
    with capture_output() as captured:
        ip.run_cell(f"%%imagegen {line}\n{cell}")
    return captured


def test_openai_compatible_request_on_the_wire(ip, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-42")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-7")
    _cell(ip, "--size 1536x1024 --quality high --out k")
    [sent] = recorder.requests
    assert (sent["method"], sent["path"], sent["query"]) == ("POST", "/v1/images/generations", {})
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["headers"]["openai-organization"] == "org-42"
    assert sent["headers"]["openai-project"] == "proj-7"
    assert sent["headers"]["accept"] == "application/json"
    assert sent["headers"]["user-agent"].startswith("jupyter-imagemagic/")
    assert sent["raw"] == b'{"prompt":"a kite over the sea","model":"gpt-image-2","size":"1536x1024","quality":"high"}'


def test_azure_request_on_the_wire(ip, recorder, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", recorder.base)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-key")
    _cell(ip, "--model my-image-deployment --out k")
    monkeypatch.setenv("OPENAI_API_VERSION", "2026-01-01")
    _cell(ip, "--model my-image-deployment --out k")
    first, second = recorder.requests
    assert first["path"] == "/openai/deployments/my-image-deployment/images/generations"
    assert first["query"] == {"api-version": AZURE_API_VERSION}
    assert second["query"] == {"api-version": "2026-01-01"}
    assert first["headers"]["api-key"] == "azure-secret-key" and "authorization" not in first["headers"]
    assert first["body"] == {"prompt": "a kite over the sea", "model": "my-image-deployment"}


def test_gateway_prefixed_model_is_sent_verbatim_and_follows_its_family(ip, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    _cell(ip, "--model openai/gpt-image-2 --size 2048x1152 --out k")
    refused = _cell(ip, "--model openai/dall-e-3 --quality low --out k")
    assert [r["body"]["model"] for r in recorder.requests] == ["openai/gpt-image-2"]
    assert recorder.requests[0]["body"]["size"] == "2048x1152"
    assert refused.stderr.startswith("UsageError: quality='low' is not allowed for ")
    assert refused.stderr.endswith(": use standard, hd\n")


@pytest.mark.parametrize("n", [1, 3])
def test_images_come_back_at_the_requested_size(ip, recorder, monkeypatch, n):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    _cell(ip, f"--size 640x480 -n {n} --out k")
    assert [img.size for img in ip.user_ns["k"]] == [(640, 480)] * n
