"""The issue's two examples in a real IPython shell, offline: `%%imagegen --image ...` edits."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError


def test_the_two_examples(ip, capsys):
    ip.run_cell_magic("imagegen", "--out hero", "A lighthouse on a cliff at dawn")
    ip.run_cell("import imagemagic; logo = imagemagic.generate('a round logo', size='1024x1024')[0]")
    ip.run_cell("sky_mask = imagemagic.mask_from((0, 0, 1024, 400), size=hero[0].size)")
    ip.run_cell_magic("imagegen", "--image hero --out night", "The same lighthouse at night, stars above")
    night = ip.user_ns["night"]
    assert night.request.images[0].data == ip.user_ns["hero"].images[0].data
    ip.run_cell_magic(
        "imagegen",
        "--image hero[0] --image logo --mask sky_mask --size 1536x1024 --stream --partial-images 2 --out v2",
        "Replace the sky with an aurora; put the logo on the lighthouse",
    )
    v2 = ip.user_ns["v2"]
    assert [img.size for img in v2] == [(1536, 1024)]
    assert not v2.partial
    meta = json.loads(v2.files[0].with_suffix(".json").read_text())
    hero_file = str(ip.user_ns["hero"].files[0])
    assert [i["file"] for i in meta["inputs"]][0] == hero_file
    assert meta["mask"]["sha256"] == v2.request.mask.sha256
    assert "image_edit" not in capsys.readouterr().err


def test_a_file_name_is_an_image_too(ip, tmp_path):
    from helpers.images import image_bytes

    path = tmp_path / "photo.png"
    path.write_bytes(image_bytes())
    ip.run_cell_magic("imagegen", f"--image {path} --out edited", "in watercolor")
    assert ip.user_ns["edited"].request.images[0].data == path.read_bytes()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--input-fidelity high", "--input-fidelity applies to edits only: add --image NAME (the image to edit)"),
        ("--mask m", "--mask applies to edits only: add --image NAME (the image to edit)"),
        ("--image nowhere", "--image nowhere: NameError: name 'nowhere' is not defined (and no such file)"),
        (
            "--image x --moderation low",
            "'moderation' is not a parameter of edit: use model, size, resolution, quality, n, ",
        ),
        (
            "--image x --image x --mask x",
            "the mask has no alpha channel: transparent pixels mark what to edit (imagemagic.mask_from makes one)",
        ),
    ],
)
def test_refusals_are_one_line(ip, line, message):
    from helpers.images import image_bytes

    ip.user_ns["x"] = image_bytes()
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("imagegen", line, "a prompt")
    assert type(info.value) is UsageError
    assert str(info.value).startswith(message)


def test_help_lists_the_edit_flags(ip):
    from imagemagic.magics import ImageGenMagics

    doc = ImageGenMagics.imagegen.__doc__
    for flag in ("--image EXPR", "--mask EXPR", "--input-fidelity INPUT_FIDELITY", "--moderation MODERATION"):
        assert flag in doc
