"""The panel's edits without a browser: "Use as input" on a gallery image fills the input strip, and
Generate then sends an edit of those images to the real local server."""

from __future__ import annotations

import asyncio
import html
import re

from helpers.panels import generate

from imagemagic.controlpanel import panel
from imagemagic.request import EditRequest


def test_use_as_input_then_generate_sends_an_edit(server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path)
    first = generate(p, prompt="a lighthouse", n=2)
    slots = p.cards[0].slots
    assert p.input_strip.layout.display == "none"
    assert [s.use.disabled for s in slots] == [False, False]
    slots[1].use.click()
    assert p.input_strip.layout.display is None
    assert html.unescape(re.sub(r"<[^>]+>", "", p.input_label.value)) == "inputs (1): Generate edits it"
    assert [t.value for t in p.input_thumbs.children] == [first.result.images[1].data]
    assert isinstance(p.request(), EditRequest)
    second = generate(p, prompt="the same lighthouse at night", n=1)
    assert second.error is None
    assert isinstance(second.request, EditRequest)
    assert [img.data for img in second.request.images] == [first.result.images[1].data]
    assert second.request.images[0].file == str(first.result.files[1])
    assert [img.size for img in p.images] == [(1024, 1024)]
    p.clear_inputs_button.click()
    assert p.inputs == [] and p.input_strip.layout.display == "none"
    assert not isinstance(p.request(), EditRequest)


def test_a_generation_only_setting_is_explained_when_editing(server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path)
    generate(p, prompt="a kite")
    p.cards[0].slots[0].use.click()
    p.controls["moderation"].value = "low"
    assert "'moderation' is not a parameter of edit" in html.unescape(p.hint.value)
    p.generate_button.click()  # nothing starts: the status says why
    assert "'moderation' is not a parameter of edit" in html.unescape(p.status.value)
    assert len(p.history) == 1


def test_partials_cannot_be_inputs(start_server, tmp_path):
    p = panel(base_url=start_server(delay=2.0), folder=tmp_path)

    async def main():
        p.controls["prompt"].value = "a kite"
        p.controls["stream"].value = True
        p.controls["partial_images"].value = 2
        p.generate_button.click()
        slot = p.cards[0].slots[0]
        for _ in range(400):
            if slot.image is not None:
                break
            await asyncio.sleep(0.01)
        assert slot.image.partial and slot.use.disabled
        p.cancel()
        await p.task

    asyncio.run(main())


def test_copy_as_cell_keeps_an_edit_an_edit_and_sends_exactly_the_panels_request(ip, server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path)
    first = generate(p, prompt="a lighthouse", n=2)
    for slot in p.cards[0].slots:
        slot.use.click()
    p.controls["prompt"].value = "the same at night"
    p.controls["quality"].value = "low"
    cell = p.copy_as_cell()
    files = [str(f) for f in first.result.files]
    assert cell == (
        f"%%imagegen --model gpt-image-2 --quality low --n 2 --image {files[0]} --image {files[1]}\nthe same at night"
    )
    line, body = cell.split("\n", 1)
    ip.run_cell_magic("imagegen", line.removeprefix("%%imagegen") + " --out seen", body)
    seen = ip.user_ns["seen"].request
    assert isinstance(seen, EditRequest) and seen.body() == p.request().body()
    assert [img.data for img in seen.images] == [img.data for img in p.request().images]


def test_a_copied_cell_never_runs_code_from_the_prompt(ip, server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path)
    p.controls["prompt"].value = "a {__import__('os').getpid()} kite for $5"
    cell = p.copy_as_cell()
    assert cell == "%%imagegen --model gpt-image-2 --no-expand\na {__import__('os').getpid()} kite for $5"
    line, body = cell.split("\n", 1)
    ip.run_cell_magic("imagegen", line.removeprefix("%%imagegen") + " --out seen", body)
    assert ip.user_ns["seen"].request.prompt == "a {__import__('os').getpid()} kite for $5" == p.request().prompt
