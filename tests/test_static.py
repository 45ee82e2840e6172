"""Static representations (imagemagic.static): what a notebook saved and opened where nothing runs shows."""

from __future__ import annotations

import asyncio
import base64
import io

from helpers.images import decoded, image_bytes
from IPython.display import display
from IPython.utils.capture import capture_output
from PIL import Image

from imagemagic.controlpanel import panel
from imagemagic.static import WIDGET_VIEW, gallery_still, image_bundle

WIDGET_VIEW_KEYS = {"version_major", "version_minor", "model_id"}


def b64(data):
    return base64.b64encode(data).decode("ascii")


def animated_gif(frames=3):
    out = io.BytesIO()
    images = [Image.new("RGB", (40, 30), (80 * i, 40, 200 - 60 * i)) for i in range(frames)]
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def test_png_jpeg_and_svg_pass_through_as_they_are():
    png, jpeg = b64(image_bytes(fmt="PNG")), b64(image_bytes(fmt="JPEG"))
    assert image_bundle("image/png", png) == {"image/png": png}
    assert image_bundle("image/jpeg", jpeg) == {"image/jpeg": jpeg}
    assert image_bundle("image/svg+xml", "<svg/>") == {"image/svg+xml": "<svg/>"}


def test_webp_gets_a_jpeg_copy_or_a_png_one_when_transparent():
    opaque = image_bundle("image/webp", b64(image_bytes(size=(48, 32), fmt="WEBP")))
    assert list(opaque) == ["image/jpeg"]
    assert decoded(base64.b64decode(opaque["image/jpeg"])).size == (48, 32)
    out = io.BytesIO()
    Image.new("RGBA", (48, 32), (200, 40, 40, 100)).save(out, "WEBP")
    clear = image_bundle("image/webp", b64(out.getvalue()))
    assert list(clear) == ["image/png"]
    assert decoded(base64.b64decode(clear["image/png"])).mode == "RGBA"


def test_a_gif_gets_its_first_frame_and_an_animation_the_html_img_beside_it():
    still = image_bundle("image/gif", b64(image_bytes(size=(40, 30), fmt="GIF")))
    assert list(still) == ["image/png"]
    data = b64(animated_gif())
    moving = image_bundle("image/gif", data)
    assert set(moving) == {"image/png", "text/html"}
    assert decoded(base64.b64decode(moving["image/png"])).size == (40, 30)
    assert moving["text/html"] == f'<img src="data:image/gif;base64,{data}" alt="animated GIF image">'


def test_gallery_still_is_none_before_any_image():
    assert gallery_still([]) is None


def _outputs(captured):
    return [(o.data, o.metadata) for o in captured.outputs]


def test_the_panel_refreshes_its_displayed_still_after_each_run(ip, server_url, tmp_path):
    p = panel(base_url=server_url, folder=tmp_path)
    with capture_output() as captured:
        display(p)
    (shown,) = captured.outputs
    assert set(shown.data) == {"text/plain", WIDGET_VIEW}
    assert shown.data[WIDGET_VIEW] == {"version_major": 2, "version_minor": 0, "model_id": p.model_id}
    p.controls["prompt"].value = "a red kite"

    async def run():
        p.generate_button.click()
        return await p.task

    with capture_output() as after:
        asyncio.run(run())
    (refreshed,) = after.outputs  # update_display of the same output: the capture sees its new bundle
    assert refreshed.data["text/plain"] == "<imagemagic panel: 1 run>"
    assert refreshed.data[WIDGET_VIEW] == shown.data[WIDGET_VIEW]
    still = decoded(base64.b64decode(refreshed.data["image/png"]))
    assert still.width > 160 and still.height > 160  # the contact sheet of the run's thumbnail
    assert p._repr_mimebundle_()["image/png"] == refreshed.data["image/png"]
