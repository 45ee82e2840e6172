"""The recipe of any image we made, from its path, its PIL image, its bytes or a copy; the cell that makes it
again (nothing in it expanded); `%imagegen_recall`; and originals never rewritten (C2PA provenance kept)."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib

import pytest
from helpers.scripted import ok_body, reply
from IPython.utils.capture import capture_output
from PIL import Image

import imagemagic
from imagemagic.recipes import recipe
from imagemagic.store import history

MANIFEST = b"jumb\x00\x00\x00\x1ec2pa.signature: not a real manifest"


def png_with_provenance() -> bytes:
    """A PNG carrying a `caBX` chunk (where C2PA content credentials live in a PNG), right after IHDR."""
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    plain = out.getvalue()
    chunk = struct.pack(">I", len(MANIFEST)) + b"caBX" + MANIFEST + struct.pack(">I", zlib.crc32(b"caBX" + MANIFEST))
    return plain[:33] + chunk + plain[33:]  # 8-byte signature + the 25-byte IHDR chunk


def test_the_saved_file_is_the_received_bytes_provenance_chunk_included(scripted, tmp_path):
    original = png_with_provenance()
    server = scripted(reply(200, ok_body(base64.b64encode(original).decode())))
    result = imagemagic.generate("a kite", base_url=server.url, size="1024x1024")
    stored = result.files[0].read_bytes()
    assert stored == original and b"caBX" + MANIFEST in stored
    copy = result.save(tmp_path)[0]
    assert copy.read_bytes() == original
    assert result[0].size == (32, 24)  # opening it for display changed nothing on disk
    assert result.files[0].read_bytes() == original
    made = recipe(copy)  # a copy elsewhere is found by its bytes
    assert (made.file, made.sha256) == (result.files[0], hashlib.sha256(original).hexdigest())


def test_every_way_of_naming_an_image_gives_its_recipe(tmp_path):
    with pytest.warns(imagemagic.ImageMagicWarning, match="size=landscape is 1024x688"):
        result = imagemagic.generate("a red kite", offline=True, size="landscape", quality="low", n=2)
    entry = history(1)[0]
    second = result.images[1]
    copy = result.save(tmp_path)[1]
    for name in (result[1], second, result.files[1], str(result.files[1]), result.files[1].name, copy,
                 second.data, entry if entry.path == result.files[1] else result.files[1]):  # fmt: skip
        made = recipe(name)
        assert (made.file, made.prompt, made.operation) == (result.files[1], "a red kite", "generate")
        assert made.parameters == {"model": "gpt-image-2", "size": "1024x688", "quality": "low", "n": 2}
        assert made.chain == () and made.inputs == ()


def test_the_cell_makes_the_same_request_again_with_nothing_expanded(ip):
    ip.user_ns["kite"] = "SHOULD NOT APPEAR"
    first = imagemagic.generate("A {kite} for $kite", user="a$kite{kite}", size="1024x1024", quality="low")
    cell = recipe(first[0]).cell()
    assert cell == (
        "%%imagegen --model gpt-image-2 --size 1024x1024 --quality low --user a$$kite{{kite}} --no-expand\n"
        "A {kite} for $kite"
    )
    ip.run_cell(cell.replace("%%imagegen", "%%imagegen --out again", 1))
    again = recipe(ip.user_ns["again"][0])
    assert (again.prompt, again.parameters) == (recipe(first[0]).prompt, recipe(first[0]).parameters)


def test_an_edits_recipe_names_its_inputs_by_hash_and_file():
    source = imagemagic.generate("a kite", offline=True, size="1024x1024")
    edited = imagemagic.edit("make it blue", image=source, offline=True)
    made = recipe(edited[0])
    digest = hashlib.sha256(source.images[0].data).hexdigest()
    assert made.operation == "edit"
    assert made.inputs == ({"sha256": digest, "file": str(source.files[0])},)
    assert made.cell() == f"%%imagegen --model gpt-image-2 --image {source.files[0]} --no-expand\nmake it blue"


def test_recall_puts_the_cell_into_the_next_input(ip, monkeypatch):
    ip.run_cell("%imagegen --size 1024x1024 --out hero a lighthouse")
    taken = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: taken.append((text, replace)))
    ip.run_line_magic("imagegen_recall", "hero")
    ip.run_line_magic("imagegen_recall", ip.user_ns["hero"].files[0].name)
    expected = "%%imagegen --model gpt-image-2 --size 1024x1024 --no-expand\na lighthouse"
    assert taken == [(expected, False), (expected, False)]


def test_a_responses_image_recalls_a_cell_that_remakes_it_with_the_responses_api(ip, monkeypatch):
    ip.run_line_magic("config", "ImageGenMagics.api = 'responses'")
    ip.run_cell("%imagegen --size 1024x1024 --out fox a fox")
    taken = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: taken.append(text))
    ip.run_line_magic("imagegen_recall", "fox")
    expected = "%%imagegen --model gpt-image-2 --size 1024x1024 --api responses --responses-model gpt-5.5 --no-expand"
    assert taken == [f"{expected}\na fox"]
    ip.run_line_magic("config", "ImageGenMagics.api = 'images'")  # the cell alone says which API
    line, _, body = taken[0].partition("\n")
    ip.run_cell_magic("imagegen", line.removeprefix("%%imagegen ") + " --fresh --out again", body)
    again = recipe(ip.user_ns["again"].files[0])
    assert again.parameters["api"] == "responses" and again.meta.get("response_id")
    assert again.cell() == taken[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "UsageError: %imagegen_recall needs an image: a variable, a history file's name or a path"),
        ("nowhere.png", "UsageError: nowhere.png: nowhere.png: no such file, and no history image of that name"),
        ("number", "UsageError: number: a value of type int has no recipe: give a path, a PIL image or image we "
         "returned, a history entry, or the image's bytes"),
    ],
)  # fmt: skip
def test_recall_refuses_in_one_line(ip, line, message):
    ip.user_ns["number"] = 3
    with capture_output() as captured:
        ip.run_cell(f"%imagegen_recall {line}")
    assert captured.stderr.strip() == message


def test_an_image_made_elsewhere_has_no_recipe_and_says_why(tmp_path):
    other = tmp_path / "other.png"
    Image.new("RGB", (4, 4)).save(other)
    with pytest.raises(imagemagic.ValidationError) as caught:
        recipe(other)
    assert str(caught.value) == "no recipe: the history holds no image with these bytes (made elsewhere, or pruned)"


def test_a_recipe_is_embedded_only_in_a_copy_and_never_over_provenance(scripted, tmp_path):
    plain = imagemagic.generate("a kite", offline=True, size="1024x1024")
    made = recipe(plain[0])
    original = made.file.read_bytes()
    out = tmp_path / "out"
    copy = made.embed(out)
    assert made.file.read_bytes() == original  # the original is untouched
    with Image.open(copy) as img:
        assert img.text["parameters"] == made.cell() and img.size == (1024, 1024)
    signed = png_with_provenance()
    server = scripted(reply(200, ok_body(base64.b64encode(signed).decode())))
    received = imagemagic.generate("a kite", base_url=server.url, size="1024x1024")
    with pytest.raises(imagemagic.ValidationError) as caught:
        recipe(received[0]).embed(out)
    assert str(caught.value) == (
        f"{received.files[0].name} carries C2PA content credentials (a caBX chunk) that a changed copy would break: "
        "kept as received; its recipe stays in the history (.json beside the image)"
    )
    assert received.files[0].read_bytes() == signed and sorted(out.iterdir()) == [copy]


def test_the_cli_prints_the_recipe_cell_or_one_line_why_not(tmp_path, clean_env):
    import os
    import subprocess
    import sys

    made = imagemagic.generate("a kite", offline=True, size="1024x1024")
    env = {**os.environ, "IMAGEMAGIC_HOME": str(clean_env)}
    run = [sys.executable, "-m", "imagemagic", "recipe"]
    done = subprocess.run([*run, made.files[0].name], capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode, done.stdout) == (0, recipe(made[0]).cell() + "\n")
    missing = subprocess.run([*run, str(tmp_path / "nope.png")], capture_output=True, text=True, timeout=60, env=env)
    assert (missing.returncode, missing.stderr) == (
        2,
        f"imagemagic: error: {tmp_path / 'nope.png'}: no such file, and no history image of that name\n",
    )
