"""The control panel without a browser: set widget values, click buttons, run generations on an
asyncio loop against the real local server, and check what the widgets and records say."""

from __future__ import annotations

import asyncio
import html
import re
import time

import pytest
from IPython.core.error import UsageError

import imagemagic
from imagemagic.controlpanel import Panel, cell_text, panel


def text(widget):
    """What an HTML widget reads as, tags and entities removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def set_values(p, **values):
    for name, value in values.items():
        p.controls[name].value = value


async def click_and_wait(p):
    p.generate_button.click()
    return await p.task


def generate(p, **values):
    """Set values, click Generate on a fresh loop, return the finished Run."""
    set_values(p, **values)
    return asyncio.run(click_and_wait(p))


@pytest.fixture
def served(server_url, tmp_path):
    """A panel that sends to the session's local server and saves into a temporary folder."""
    return panel(base_url=server_url, folder=tmp_path / "saved")


# --- what the model lets you set ---------------------------------------------------------------


def test_unsupported_options_are_disabled_with_the_reason_as_tooltip():
    p = panel()
    assert p.controls["style"].disabled and p.controls["style"].tooltip == "gpt-image-2 does not support style"
    assert p.controls["response_format"].tooltip == "gpt-image-2 does not support response_format"
    assert not p.controls["stream"].disabled
    assert p.controls["quality"].tooltip == (
        "One of standard, hd, low, medium, high, auto, xhigh, max (which model takes which: --models)."
    )
    set_values(p, stream=True, partial_images=2, background="opaque")
    p.controls["model"].value = "dall-e-3"
    names = ("stream", "partial_images", "background", "output_format", "output_compression", "moderation")
    for name in (*names, "resolution"):
        assert p.controls[name].disabled
        assert p.controls[name].tooltip == f"dall-e-3 does not support {name}"
    assert (p.controls["stream"].value, p.controls["partial_images"].value, p.controls["background"].value) == (
        False,
        None,
        None,
    )
    assert not p.controls["style"].disabled
    assert [v for _, v in p.controls["style"].options] == [None, "vivid", "natural"]
    offered = ("square", "landscape", "portrait", "1:1", "1024x1024", "1792x1024", "1024x1792")  # exact aspects only
    assert p.controls["size"].options == offered


def test_a_model_outside_the_catalog_gets_every_option():
    p = panel()
    p.controls["model"].value = "my-gateway-model"
    assert not any(control.disabled for control in p.controls.values())
    qualities = [None, "standard", "hd", "low", "medium", "high", "auto", "xhigh", "max"]
    assert [v for _, v in p.controls["quality"].options] == qualities
    assert p.controls["size"].options == (
        "256x256",
        "512x512",
        "1024x1024",
        "1792x1024",
        "1024x1792",
        "1536x1024",
        "1024x1536",
        "auto",
    )


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"partial_images": 2}, "partial_images=2 needs stream=True"),
        ({"output_compression": "80"}, "output_compression=80 needs output_format jpeg or webp (it is png)"),
        (
            {"size": "1000x1000"},
            "size=1000x1000 does not fit gpt-image-2: both sides must be divisible by 16 — did you mean 1008x1008?",
        ),
        (
            {"model": "dall-e-3", "size": "1536x1024"},
            "size=1536x1024 is not allowed for dall-e-3: use 1024x1024, 1792x1024, 1024x1792 — did you mean 1792x1024?",
        ),
        (
            {"output_format": "jpeg", "output_compression": "120"},
            "output_compression=120 is out of range: use 0 to 100",
        ),
    ],
)
def test_an_invalid_combination_is_explained_before_generate_in_the_magics_words(ip, values, hint):
    p = panel()
    set_values(p, prompt="a red kite", **values)
    assert text(p.hint) == hint
    with pytest.raises(UsageError) as magic:
        ip.run_cell_magic("imagegen", cell_text(p.request()).splitlines()[0].removeprefix("%%imagegen"), "a red kite")
    assert str(magic.value) == hint


@pytest.mark.parametrize(
    ("values", "hint"),
    [  # settings no %%imagegen flag can carry
        ({"output_compression": "much"}, "output_compression='much' must be a whole number"),
    ],
)
def test_settings_the_magic_cannot_express_are_explained_too(values, hint):
    p = panel()
    set_values(p, prompt="a red kite", **values)
    assert text(p.hint) == hint


def test_a_value_the_new_model_refuses_stays_visible_and_is_explained():
    p = panel()
    set_values(p, prompt="a red kite", model="dall-e-3", quality="hd")
    p.controls["model"].value = "gpt-image-2"
    assert p.controls["quality"].value == "hd"
    assert text(p.hint) == "quality='hd' is not allowed for gpt-image-2: use low, medium, high, auto"


def test_an_experimental_size_is_a_warning_not_a_problem():
    p = panel()
    set_values(p, prompt="a red kite", size="3840x2160")
    assert text(p.hint) == "size=3840x2160 is above 2560x1440, which gpt-image-2 treats as experimental"


# --- generating ------------------------------------------------------------------------------


def test_generate_fills_the_gallery_images_and_history(served):
    run = generate(served, prompt="a red kite", size="1536x1024")
    assert run.error is None and served.history == [run]
    assert [img.size for img in served.images] == [(1536, 1024)]
    assert text(served.status).startswith("done: 1 image in ")
    slot = served.cards[0].slots[0]
    assert slot.picture.value == run.result.images[0].data and slot.picture.format == "png"
    assert "imagemagic-final" in slot.picture._dom_classes
    assert slot.caption.value == "1536x1024 png"
    header = text(served.cards[0].header)
    assert header.startswith("#1 a red kite") and "gpt-image-2 · 1536x1024 · " in header and " tokens (input " in header
    assert not served.generate_button.disabled and served.cancel_button.disabled


def test_newest_run_on_top_and_images_of_the_latest_run(served):
    first = generate(served, prompt="a red kite")
    second = generate(served, prompt="a blue sea", n=2, output_format="jpeg")
    assert served.history == [first, second]
    assert served.gallery.children == (served.cards[1].box, served.cards[0].box)
    assert [img.format for img in served.images] == ["JPEG", "JPEG"]
    assert [s.caption.value for s in served.cards[1].slots] == ["1024x1024 jpeg", "1024x1024 jpeg"]
    assert second.cell_text() == "%%imagegen --model gpt-image-2 --n 2 --output-format jpeg\na blue sea"


def test_generate_returns_at_once_and_the_loop_stays_free(start_server):
    p = panel(base_url=start_server(delay=1.0))
    set_values(p, prompt="a red kite")

    async def main():
        started = time.monotonic()
        p.generate_button.click()
        clicked = time.monotonic() - started
        ticks = 0
        while not p.task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return clicked, ticks, time.monotonic() - started

    clicked, ticks, whole = asyncio.run(main())
    assert clicked < whole / 10 and ticks > 30
    assert p.history[0].error is None


def test_cancel_mid_stream_keeps_the_latest_partial(start_server):
    p = panel(base_url=start_server(delay=3.0))
    set_values(p, prompt="a red kite", stream=True, partial_images=2)

    async def main():
        p.generate_button.click()
        assert text(p.status).startswith("generating")
        assert p.generate_button.disabled and not p.cancel_button.disabled
        slot = p.cards[0].slots[0]
        clicked = time.monotonic()
        while slot.image is None:
            await asyncio.sleep(0.01)
        cancelled = time.monotonic()
        p.cancel_button.click()
        run = await p.task
        return run, time.monotonic() - cancelled, cancelled - clicked

    run, took, first_partial = asyncio.run(main())
    assert took < first_partial / 4  # cancelling takes a fraction of the wait for one partial
    assert run.error == "cancelled: the connection was closed"
    assert run.result.partial and len(run.images) == 1 and run.result.images[0].partial_index == 0
    assert re.fullmatch(
        r"cancelled: the connection was closed; kept 1 image \(partial\) after \d+\.\d s", text(p.status)
    )
    assert not p.generate_button.disabled and p.cancel_button.disabled
    assert p.cards[0].slots[0].caption.value == "1024x1024 png · partial"


def test_an_api_error_is_one_line_in_the_panel_and_nothing_in_the_log(start_server, capfd, caplog):
    p = panel(base_url=start_server(api_key="sk-right"))
    run = generate(p, prompt="a red kite")
    assert re.fullmatch(
        r"HTTP 401 \(type=invalid_request_error, code=invalid_api_key\): "
        r"Incorrect API key provided\. \[request id \S+\]",
        run.error,
    )
    assert text(p.status) == f"{run.error}; kept 0 images after {run.elapsed:.1f} s"
    assert run.images == [] and p.images == []
    assert capfd.readouterr() == ("", "") and caplog.records == []
    assert not p.generate_button.disabled


def test_generate_with_problems_sends_nothing(served):
    assert served.generate() is None
    assert text(served.status) == "prompt is empty: write what the image should show"
    assert served.history == [] and served.gallery.children == ()


def test_generate_needs_a_running_loop(served):
    set_values(served, prompt="a red kite")
    assert served.generate() is None
    assert text(served.status) == "the panel generates on a running event loop: use it in a Jupyter kernel"


# --- keeping the good ones -------------------------------------------------------------------


def test_save_writes_the_selected_images_bytes_and_never_overwrites(served, tmp_path):
    run = generate(served, prompt="a red kite", n=2)
    assert served.save() == []
    assert text(served.status) == "nothing selected: press select under the images to save"
    served.cards[0].slots[1].select.value = True
    first = served.save()
    again = served.save()
    folder = tmp_path / "saved"
    assert first == [folder / "imagegen-1-2.png"] and again == [folder / "imagegen-1-2-2.png"]
    assert first[0].read_bytes() == again[0].read_bytes() == run.result.images[1].data
    assert text(served.status) == f"saved {again[0]}"


def test_save_reports_a_folder_it_cannot_write(served, tmp_path):
    generate(served, prompt="a red kite")
    (tmp_path / "file").write_text("")
    served.folder.value = str(tmp_path / "file" / "below")
    served.cards[0].slots[0].select.value = True
    assert served.save() == []
    assert text(served.status) == f"could not save into {tmp_path / 'file' / 'below'}: Not a directory"


def test_copy_as_cell_shows_the_magic_cell():
    p = panel()
    set_values(p, prompt="  A lighthouse\non a cliff  ", size="1536x1024", stream=True, partial_images=2, n=3)
    assert p.cell.layout.display == "none"
    p.copy_button.click()
    assert (
        p.cell.value
        == p.cell_text()
        == (
            "%%imagegen --model gpt-image-2 --size 1536x1024 --n 3 "
            "--stream --partial-images 2\nA lighthouse\non a cliff"
        )
    )
    assert p.cell.layout.display is None


@pytest.mark.parametrize(
    "values",
    [
        {"size": "1536x1024", "stream": True, "partial_images": 2, "n": 2},
        {
            "output_format": "jpeg",
            "output_compression": "55",
            "quality": "low",
            "background": "opaque",
            "moderation": "low",
        },
        {"model": "dall-e-3", "quality": "hd", "style": "natural", "response_format": "url"},
        {"model": "openai/gpt-image-2", "size": "1280x720"},
    ],
)
def test_the_copied_cell_sends_the_same_request(ip, values):
    p = panel()
    set_values(p, prompt="A lighthouse on a cliff at dawn,\n'watercolor' & ink", **values)
    line, body = p.cell_text().split("\n", 1)
    ip.run_cell_magic("imagegen", line.removeprefix("%%imagegen") + " --out seen", body)
    assert ip.user_ns["seen"].request == p.request()


def test_the_panel_is_exported_and_has_a_line_magic(ip):
    shown = ip.run_line_magic("imagegen_panel", "")
    assert isinstance(shown, Panel) and imagemagic.panel is panel
    assert repr(shown) == "<imagemagic panel: 0 runs>"
    bundle = shown._repr_mimebundle_()
    assert bundle["text/plain"] == "<imagemagic panel: 0 runs>"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == shown.model_id


def test_cancel_before_the_task_starts_still_returns_to_idle(served):
    set_values(served, prompt="a red kite")

    async def main():
        served.generate_button.click()
        served.cancel_button.click()
        return await served.task

    run = asyncio.run(main())
    assert run.error == "cancelled: the connection was closed" and run.images == []
    assert not served.generate_button.disabled and served.cancel_button.disabled


@pytest.mark.parametrize("index", [None, "first", 1.5])
def test_a_partial_without_a_whole_number_index_is_shown_not_fatal(scripted, tmp_path, index):
    from helpers.scripted import completed_event, event, png_b64, stream

    fields = {} if index is None else {"partial_image_index": index}
    odd = event("image_generation.partial_image", b64_json=png_b64(colour=(90, 90, 90)), **fields)
    server = scripted(stream(odd, completed_event()))
    p = panel(base_url=server.url, folder=tmp_path)
    run = generate(p, prompt="a red kite", stream=True, partial_images=1)
    assert run.error is None and len(run.images) == 1  # the same tolerance as the magic's
    assert text(p.status).startswith("done: 1 image")
