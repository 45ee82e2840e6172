"""The cache: an identical request re-run by the magic shows its stored images and pays nothing;
--fresh, other parameters, another endpoint, or a pruned history generate anew."""

from __future__ import annotations

import base64

from helpers.kernels import kernel

import imagemagic
from imagemagic.endpoint import Endpoint
from imagemagic.request import ImageRequest
from imagemagic.session import default
from imagemagic.store import cache_key

CACHED = "(cached — add --fresh for a new generation)"


def _cell(ip, capsys, flags="", prompt="a red kite"):
    capsys.readouterr()
    ip.run_cell(f"%%imagegen --size 1024x1024 --out pic {flags}\n{prompt}")
    return capsys.readouterr().out


def test_rerun_reuses_the_stored_images_and_says_so(ip, capsys, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    first = _cell(ip, capsys)
    made = ip.user_ns["pic"]
    calls = default().ledger.models["gpt-image-2"].calls
    second = _cell(ip, capsys)
    assert len(recorder.requests) == 1
    assert CACHED not in first and second.endswith(f"1 image in 0.0 s · 10 tokens (input 3, output 7)\n{CACHED}\n")
    assert "est. cost" not in second
    cached = ip.user_ns["pic"]
    assert cached.cached and cached.images[0].data == made.images[0].data
    assert cached.usage == made.usage and cached.request_ids == made.request_ids == ["req_rec1"]
    assert default().ledger.models["gpt-image-2"].calls == calls  # nothing paid, nothing counted


def test_fresh_and_other_parameters_generate_anew(ip, capsys, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    _cell(ip, capsys)
    assert CACHED not in _cell(ip, capsys, "--fresh")
    assert CACHED not in _cell(ip, capsys, "--quality low")
    assert CACHED not in _cell(ip, capsys, prompt="a blue kite")
    assert len(recorder.requests) == 4
    assert CACHED in _cell(ip, capsys)  # the --fresh images are now the stored answer
    assert len(recorder.requests) == 4


def test_cache_can_be_switched_off(ip, capsys, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    ip.run_line_magic("config", "ImageGenMagics.cache = False")
    _cell(ip, capsys)
    _cell(ip, capsys)
    assert len(recorder.requests) == 2


def test_generate_follows_the_cache_setting_and_cache_false_pays_again(recorder):
    url = recorder.base + "/v1"
    imagemagic.generate("a kite", base_url=url)
    assert imagemagic.generate("a kite", base_url=url).cached
    assert len(recorder.requests) == 1
    assert not imagemagic.generate("a kite", base_url=url, cache=False).cached
    assert not imagemagic.generate("a kite", base_url=url, settings=imagemagic.Settings(cache=False)).cached
    assert len(recorder.requests) == 3


def test_pruned_or_damaged_images_are_generated_anew(recorder):
    url = recorder.base + "/v1"
    result = imagemagic.generate("a kite", base_url=url)
    result.files[0].unlink()
    result = imagemagic.generate("a kite", base_url=url, cache=True)
    assert not result.cached
    result.files[0].write_bytes(b"not an image any more")
    assert not imagemagic.generate("a kite", base_url=url, cache=True).cached
    assert len(recorder.requests) == 3


def test_endpoint_and_account_in_the_key_offline_servers_count_as_one():
    request = ImageRequest(prompt="a kite")
    offline = {cache_key(request, Endpoint(f"http://127.0.0.1:{port}/v1", offline=True)) for port in (1, 2)}
    online = {cache_key(request, Endpoint(f"http://127.0.0.1:{port}/v1")) for port in (1, 2)}
    assert len(offline) == 1 and len(online) == 2 and not offline & online
    url = "https://api.openai.com/v1"
    accounts = [("key-a", None, None), ("key-b", None, None), ("key-a", "org-1", None), ("key-a", None, "proj-1")]
    assert len({cache_key(request, Endpoint(url, *account)) for account in accounts}) == 4
    assert cache_key(request, Endpoint(url, "key-a")) == cache_key(request, Endpoint(url, "key-a"))


def _final_png(k, code):
    shown = [
        c["data"]["image/png"]
        for t, c in k.run(code)
        if t in ("display_data", "update_display_data") and "image/png" in c["data"]
    ]
    return shown[-1]


def test_restart_and_run_all_neither_bills_nor_changes_images(recorder):
    cell = "%%imagegen --model gpt-image-2 --size 1024x1024\na red kite"
    shown = []
    for _ in range(2):
        with kernel(OPENAI_BASE_URL=recorder.base + "/v1") as k:
            shown.append(_final_png(k, cell))
    assert len(recorder.requests) == 1
    assert shown[0] == shown[1] and base64.b64decode(shown[0]).startswith(b"\x89PNG")
