"""Moderation refusals over real HTTP (a scripted server on 127.0.0.1): each trigger is its own error type,
sent exactly once (never retried), recorded in the history without an image, unbilled, and shown as a
card in the notebook rather than a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.scripted import event, reply, stream
from IPython.utils.capture import capture_output

import imagemagic
from imagemagic import ContentPolicyViolationError
from imagemagic.display import RefusalCard
from imagemagic.errors import BadRequestError
from imagemagic.session import Session
from imagemagic.settings import Settings

BLOCKED = {"message": "Your request was rejected by the safety system.", "type": "image_generation_user_error"}
TRIGGERS = {
    "moderation_blocked": reply(400, body={"error": {**BLOCKED, "code": "moderation_blocked"}},
                                headers={"x-should-retry": "true"}),
    "safety_violations": reply(400, body={"error": {**BLOCKED, "code": None, "safety_violations": ["violence"]}},
                               headers={"x-should-retry": "true"}),
    "empty-data": reply(body={"created": 1, "data": []}),
    "stream-error": stream(event("error", error={**BLOCKED, "code": "moderation_blocked"})),
}  # fmt: skip
LINES = {
    "moderation_blocked": "HTTP 400 (type=image_generation_user_error, code=moderation_blocked): Your request was "
    "rejected by the safety system. [request id req_test]",
    "safety_violations": "HTTP 400 (type=image_generation_user_error): Your request was rejected by the safety "
    "system. [request id req_test]",
    "empty-data": "HTTP 200: 127.0.0.1 answered with no images (an empty data list): its moderation refused the "
    "request [request id req_test]",
    "stream-error": "error in stream (type=image_generation_user_error, code=moderation_blocked): Your request was "
    "rejected by the safety system. [request id req_test]",
}


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_a_refusal_is_its_own_error_sent_once_recorded_and_unbilled(scripted, trigger):
    server = scripted(TRIGGERS[trigger])
    session = Session()
    settings = Settings(base_url=server.url, max_retries=2)
    with pytest.raises(ContentPolicyViolationError) as caught:
        imagemagic.generate("a kite", settings=settings, session=session, stream=trigger == "stream-error" or None)
    assert isinstance(caught.value, BadRequestError) and str(caught.value) == LINES[trigger]
    assert len(server.requests) == 1  # never retried, whatever x-should-retry says
    if trigger == "safety_violations":
        assert caught.value.safety_violations == ("violence",)
    records = list(Path(os.environ["IMAGEMAGIC_HOME"]).glob("images/*/*-refused.json"))
    record = json.loads(records[0].read_text())
    assert len(records) == 1 and record["refused"] == LINES[trigger] and record["billed"] is False
    assert record["prompt"] == "a kite" and not list(records[0].parent.glob("*.png"))
    totals = session.ledger.models["gpt-image-2"]
    assert (totals.refused, totals.calls, session.ledger.spent) == (1, 0, 0.0)


def test_the_magic_shows_a_refusal_as_a_card_not_an_error(ip, scripted):
    server = scripted(TRIGGERS["moderation_blocked"])
    ip.run_line_magic("config", f"ImageGenMagics.base_url = {server.url!r}")
    with capture_output() as captured:
        ip.run_cell("%imagegen --out x a kite")
    line = "refused by the provider's moderation (not billed, recorded in the history): " + LINES["moderation_blocked"]
    cards = [o.data for o in captured.outputs if o.data.get("text/plain", "").startswith("refused")]
    assert len(cards) == 1 and cards[0]["text/plain"] == line
    assert RefusalCard(ContentPolicyViolationError("<no>"), "a <kite>")._repr_html_() == (
        "<div style='border:1px solid #c0392b;border-radius:6px;padding:8px 12px;max-width:36em'><b>Refused by "
        "moderation</b><div style='opacity:.7'>a &lt;kite&gt;</div><div>refused by the provider&#x27;s moderation (not "
        "billed, recorded in the history): error in stream: &lt;no&gt;</div></div>"
    )
    assert "UsageError" not in captured.stderr and "Traceback" not in captured.stdout + captured.stderr
    assert len(server.requests) == 1 and "x" not in ip.user_ns


def test_a_refused_request_of_a_sweep_is_a_card_on_the_contact_sheet_and_the_others_go_on(scripted):
    from helpers.scripted import ok_body

    server = scripted(TRIGGERS["moderation_blocked"], default=reply(body=ok_body()))
    settings = Settings(base_url=server.url, max_concurrency=1)
    result = imagemagic.sweep("a {animal}", animal=["fox", "owl"], settings=settings, progress=False)
    refused, made = result
    assert isinstance(refused.error, ContentPolicyViolationError) and len(made.thumbnails) == 1
    cells = result.cells()
    assert [c.caption for c in cells][0] == "refused (unbilled)" and cells[0].thumbnail is not None
    assert len(server.requests) == 2 and result.cost is not None  # the refusal costs nothing, the sweep adds up


def test_the_panel_says_a_refusal_as_one(scripted, tmp_path):
    from helpers.panels import generate

    from imagemagic.controlpanel import panel

    server = scripted(TRIGGERS["moderation_blocked"])
    run = generate(panel(base_url=server.url, folder=tmp_path), prompt="a kite")
    assert run.error == (
        "refused by the provider's moderation (not billed, recorded in the history): " + LINES["moderation_blocked"]
    )
    assert run.images == [] and len(server.requests) == 1
