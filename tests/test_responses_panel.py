"""The panel's "Refine" without a browser: a gallery image becomes the step Generate continues, over either API,
and three steps make one chain in the history."""

from __future__ import annotations

import html
import re

import pytest
from helpers.panels import generate

import imagemagic
from imagemagic import Settings
from imagemagic.controlpanel import panel


@pytest.mark.parametrize("api", ["images", "responses"])
def test_refine_makes_a_three_step_chain(server_url, tmp_path, api):
    p = panel(settings=Settings(base_url=server_url, api=api), folder=tmp_path)
    first = generate(p, prompt="a red fox in the snow", size="1536x1024")
    slot = p.cards[0].slots[0]
    assert not slot.refine.disabled
    slot.refine.click()
    label = html.unescape(re.sub(r"<[^>]+>", "", p.input_label.value))
    assert label == f"refining over the {api} API: Generate continues it"
    assert [t.value for t in p.input_thumbs.children] == [first.result.images[0].data]
    second = generate(p, prompt="now at night")
    third = generate(p, prompt="add a full moon")  # the panel goes on from the newest step
    assert second.error is None and third.error is None
    assert [img.size for img in p.images] == [(1536, 1024)]  # the chain keeps the first step's size
    chain = imagemagic.history(chain=third.result)
    assert [e.prompt for e in chain] == ["a red fox in the snow", "now at night", "add a full moon"]
    if api == "responses":
        assert third.request.previous_response_id == second.result.images[0].response_id
    else:
        assert third.request.images[0].data == second.result.images[0].data
    p.clear_inputs_button.click()
    assert p.refining is None and p.input_strip.layout.display == "none"


def test_the_image_tools_rules_are_explained_beforegenerate(server_url, tmp_path):
    p = panel(settings=Settings(base_url=server_url, api="responses"), folder=tmp_path)
    p.controls["prompt"].value = "a fox"
    p.controls["n"].value = 2
    line = "n=2: the Responses API's image tool makes one image per call: use n=1, or api='images'"
    assert html.unescape(re.sub(r"<[^>]+>", "", p.hint.value)) == line
    p.generate_button.click()  # nothing starts: the status says why
    assert html.unescape(re.sub(r"<[^>]+>", "", p.status.value)) == line
    assert p.history == [] and imagemagic.history(None) == []
