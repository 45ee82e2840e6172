"""The message shapes hosted front ends have broken on, checked where they are made: a real kernel's iopub.

VS Code's notebook renderer once mixed up several display ids updated from one cell (vscode-jupyter
#12755, #13105, fixed 2023) and Colab replaces an output whole on each update, so: a fan-out's outputs each
have their own id, every update names one of them and carries a whole bundle (image and text), and one
output updated many times ends as its final image.
"""

from __future__ import annotations

import base64
import io

from helpers.kernels import kernel
from PIL import Image

IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/svg+xml")


def _displays(messages):
    """(msg_type, display_id, data) of each display message, in order."""
    return [
        (t, c["transient"]["display_id"], c["data"])
        for t, c in messages
        if t in ("display_data", "update_display_data") and "display_id" in c.get("transient", {})
    ]


def _size(data):
    return Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).size


def test_a_fan_out_updates_several_display_ids_from_one_cell_each_as_a_whole_bundle():
    with kernel(IMAGEMAGIC_PREVIEW_DELAY="0.5") as k:
        k.run("%config ImageGenMagics.offline = True\n%config ImageGenMagics.model = 'gpt-image-1'")
        shown = _displays(k.run("%%imagegen -n 4 --stream --partial-images 1 --size 1024x1024\nfour kites"))
    opened = [display_id for t, display_id, _ in shown if t == "display_data"]
    assert len(opened) == len(set(opened)) == 4  # one output per image, each opened once
    updates = [(display_id, data) for t, display_id, data in shown if t == "update_display_data"]
    assert {display_id for display_id, _ in updates} == set(opened)
    for _, data in updates:
        assert "text/plain" in data and any(m in data for m in IMAGE_MIMES), data.keys()
    finals = {display_id: data for display_id, data in updates}  # the last update of each output
    assert [finals[d]["text/plain"] for d in opened] == [
        f"<image {i} of 4 · gpt-image-1 · 1024x1024>" for i in (1, 2, 3, 4)
    ]
    assert all(_size(finals[d]) == (1024, 1024) for d in opened)
    order = [opened.index(display_id) for display_id, _ in updates]
    assert order != sorted(order)  # the updates of different outputs interleave: the shape that broke VS Code


def test_one_output_updated_many_times_ends_as_its_final_image():
    with kernel(IMAGEMAGIC_PREVIEW_DELAY="3") as k:
        k.run("%config ImageGenMagics.offline = True")
        shown = _displays(k.run("%%imagegen --stream --partial-images 3 --size 1024x1024\none kite"))
    (opened,) = [display_id for t, display_id, _ in shown if t == "display_data"]
    updates = [data for t, display_id, data in shown if t == "update_display_data"]
    assert all(display_id == opened for _, display_id, _ in shown)
    assert len(updates) >= 4  # three partials and the final (and placeholder ticks while none has come)
    assert all("text/plain" in data and "image/png" in data for data in updates)
    assert _size(updates[-1]) == (1024, 1024)
