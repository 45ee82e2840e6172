"""%%imagegen and %imagegen in a real IPython shell: results bound, bad input stopped before sending,
config defaults reaching the wire and flags overriding them."""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output
from PIL import Image


def _run(ip, line, cell=None):
    with capture_output() as captured:
        if cell is None:
            ip.run_cell(f"%imagegen {line}")
        else:
            ip.run_cell(f"%%imagegen {line}\n{cell}")
    return captured


def test_cell_binds_pil_images_and_shows_each_inline(ip):
    captured = _run(
        ip, "--size 1024x1024 -n 2 --out imgs", "A lighthouse on a cliff at dawn"
    )  # within display_max_side
    imgs = ip.user_ns["imgs"]
    assert all(isinstance(i, Image.Image) for i in imgs)
    assert [i.size for i in imgs] == [(1024, 1024), (1024, 1024)]
    assert imgs.usage["total_tokens"] > 0 and len(imgs.request_ids) == 1 and not imgs.partial
    slots = {}
    for output in captured.outputs:  # placeholders, then in-place updates of the same display ids
        slots.setdefault(output.transient["display_id"], []).append(output)
    assert len(slots) == 2
    for history in slots.values():
        assert not history[0].update and all(o.update for o in history[1:])
        assert sorted(history[-1].data) == ["image/png", "text/plain"]
    final = [h[-1] for h in slots.values()]
    assert [f.data["image/png"] for f in final] == [i.wire_b64 for i in imgs.images]  # the wire's bytes, untouched
    assert final[0].data["text/plain"] == "<image 1 of 2 · gpt-image-2 · 1024x1024>"
    assert captured.stdout.splitlines()[:2] == ["[1] 1024x1024 png", "[2] 1024x1024 png"]


def test_line_magic_takes_the_prompt_on_the_line(ip):
    _run(ip, "--size 1024x1024 --out kite a red kite")
    assert ip.user_ns["kite"][0].size == (1024, 1024)
    assert ip.user_ns["kite"].request.prompt == "a red kite"


@pytest.fixture
def recorded(ip, recorder, monkeypatch):
    """The shell pointed at a recording endpoint."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    return recorder


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("", "   ", "prompt is empty: write what the image should show"),
        ("--colour=red", "a kite", "unrecognized arguments: --colour=red"),
        ("--size big", "a kite", "size='big' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"),
        ("-n many", "a kite", "argument -n/--n: invalid int value: 'many'"),
        (
            "extra words",
            "a kite",
            "in %%imagegen the prompt is the cell body; the line takes only --flags (found 'extra words')",
        ),
        ("--out 2fast", "a kite", "--out '2fast' is not a valid variable name"),
        (
            'a "kite',
            None,
            "could not read the line: No closing quotation (quote the prompt or put it in the cell body)",
        ),
        ("--extra seed", "a kite", "--extra 'seed' must look like KEY=VALUE (VALUE is JSON if it parses, else text)"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_sent(ip, recorded, line, cell, message):
    captured = _run(ip, line, cell)
    assert captured.stderr == f"UsageError: {message}\n"
    assert captured.outputs == [] and recorded.requests == []


def test_the_wire_body_is_exactly_what_was_asked(ip, recorded):
    _run(ip, "--out k a kite")
    assert recorded.requests[0]["raw"] == b'{"prompt":"a kite","model":"gpt-image-2"}'
    assert recorded.requests[0]["headers"]["content-type"] == "application/json"
    assert recorded.requests[0]["path"] == "/v1/images/generations"


def test_extra_parameters_are_sent_as_given(ip, recorded):
    _run(ip, '--extra seed=42 --extra tag=blue --extra opts={"a":1}', "a kite")
    assert recorded.requests[0]["body"] == {
        "prompt": "a kite",
        "model": "gpt-image-2",
        "seed": 42,
        "tag": "blue",
        "opts": {"a": 1},
    }


def test_config_defaults_reach_the_request_and_flags_override_them(ip, recorded):
    for setting in (
        'model = "gpt-image-1"',
        'size = "1024x1536"',
        'quality = "low"',
        'output_format = "jpeg"',
        "n = 2",
    ):
        ip.run_line_magic("config", f"ImageGenMagics.{setting}")
    _run(ip, "a kite")
    _run(ip, "--model gpt-image-2 --quality high -n 1 a kite")
    first, second = (r["body"] for r in recorded.requests)
    assert first == {
        "prompt": "a kite",
        "model": "gpt-image-1",
        "n": 2,
        "size": "1024x1536",
        "quality": "low",
        "output_format": "jpeg",
    }
    assert second == {
        "prompt": "a kite",
        "model": "gpt-image-2",
        "n": 1,
        "size": "1024x1536",
        "quality": "high",
        "output_format": "jpeg",
    }


def test_config_base_url_switches_endpoint_without_restart(ip, recorder):
    ip.run_line_magic("config", f'ImageGenMagics.base_url = "{recorder.base}/v1"')
    _run(ip, "--out k a kite")
    assert len(recorder.requests) == 1


def test_offline_flag_wins_over_a_key(ip, recorded, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used-0000000000")
    _run(ip, "--offline --out k a kite")
    assert recorded.requests == [] and ip.user_ns["k"][0].size == (1024, 1024)


def test_config_rejects_invalid_defaults_with_one_plain_line(ip, capsys):
    from traitlets import TraitError

    magics = ip.magics_manager.registry["ImageGenMagics"]
    with pytest.raises(TraitError, match=r"^n=11 is out of range: use 1 to 10$"):
        magics.n = 11
    gif = r"^output_format='gif' is not allowed for gpt-image-2: use png, jpeg, webp "
    gif += r"\(the gpt-image-2.6 family supports it\)$"
    with pytest.raises(TraitError, match=gif):
        magics.output_format = "gif"
    capsys.readouterr()
    ip.run_line_magic("config", "ImageGenMagics.partial_images = 4")
    ip.run_line_magic("config", "ImageGenMagics.timeout = 0")
    ip.run_line_magic("config", "ImageGenMagics.max_answer_mb = -1")
    assert capsys.readouterr().err.splitlines() == [
        "UsageError: partial_images=4 is out of range for gpt-image-2: use 0 to 3 (ImageGenMagics keeps its settings)",
        "UsageError: timeout must be a positive number of seconds (ImageGenMagics keeps its settings)",
        "UsageError: max_answer_mb must be a positive number of MiB (ImageGenMagics keeps its settings)",
    ]  # no 'ERROR:root:' prefix, no traceback
    assert (magics.n, magics.output_format, magics.partial_images, magics.timeout) == (None, None, None, 600.0)
    magics.partial_images = 2  # fine as a default: it applies when a cell streams
    assert magics.partial_images == 2
    magics.model = "dall-e-3"
    magics.quality = "hd"


def test_help_lists_every_api_parameter_as_a_flag(ip):
    doc = ip.find_cell_magic("imagegen").__doc__
    for flag in (
        "--model",
        "--size",
        "--quality",
        "-n",
        "--background",
        "--output-format",
        "--output-compression",
        "--moderation",
        "--stream",
        "--partial-images",
        "--style",
        "--response-format",
        "--user",
        "--out",
        "--extra",
    ):
        assert flag in doc


def test_usage_magic_sums_the_session_per_model(ip):
    from imagemagic.session import default

    default().ledger.models.clear()
    default().ledger.spent = 0.0
    _run(ip, "--model gpt-image-1 --out a a kite")
    _run(ip, "--model gpt-image-1 -n 2 --out b a kite")
    _run(ip, "--out c a kite")
    _run(ip, "--offline --out d a kite")
    with capture_output() as captured:
        ip.run_line_magic("imagegen_usage", "")
    assert captured.stdout.splitlines() == [
        "model        calls  images  input tokens  output tokens  est. cost (USD)  cost source",
        "gpt-image-1  2      3       2             3,168          $0.1267          tokens",
        "gpt-image-2  2      2       2             2,112          $0.0317          tokens/estimate",  # offline: free,
        "prices from openai.com/api/pricing as of 2026-11-29; estimates, not a bill",
        "spent this session: $0.16 (no budget set)",  # the local server is priced as the real endpoint: not offline
        "spent today (UTC): $0.16 (no daily_budget set)",
    ]
