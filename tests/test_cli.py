"""The `imagemagic` command: generate offline to a folder, list models, refuse bad input with status 2."""

from __future__ import annotations

import os
import subprocess
import sys

from PIL import Image


def _cli(*args, home, cwd=None, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "imagemagic", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**base, **(env or {}), "IMAGEMAGIC_HOME": str(home)},
    )


def test_generate_writes_images_of_the_requested_size(tmp_path, clean_env):
    done = _cli(
        "generate",
        "a red kite",
        "--size",
        "640x480",
        "-n",
        "2",
        "--output-format",
        "webp",
        "--output-dir",
        str(tmp_path / "out"),
        home=clean_env,
    )
    assert done.returncode == 0, done.stderr
    paths = done.stdout.splitlines()
    assert len(paths) == 2
    for path in paths:
        with Image.open(path) as img:
            assert (img.size, img.format) == ((640, 480), "WEBP")
    small, offline = done.stderr.splitlines()[:2]
    assert small == (
        "warning: size=640x480 is 307,200 pixels, below the 655,360 that client libraries require; "
        "OpenAI's reference states no minimum, so it is sent as written"
    )
    assert offline.startswith("no OPENAI_API_KEY: using the offline preview server at http://127.0.0.1:")


def test_bad_input_exits_2_with_one_line(tmp_path, clean_env):
    done = _cli(
        "generate", "a kite", "--size", "big", "--model", "dall-e-3", "--quality", "low", home=clean_env, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == (
        "imagemagic: error: size='big' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto; "
        "quality='low' is not allowed for dall-e-3: use standard, hd\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_unknown_flag_exits_2(clean_env):
    done = _cli("generate", "a kite", "--colour", "red", home=clean_env)
    assert done.returncode == 2 and "unrecognized arguments: --colour red" in done.stderr


def test_python_dash_m_is_the_same_command(clean_env):
    done = _cli("models", home=clean_env)
    assert done.returncode == 0 and done.stdout.startswith("dall-e-2 (shut down 2026-05-12)")


def test_generate_says_fewer_images_than_n(tmp_path, scripted):
    from helpers.scripted import reply

    server = scripted(default=reply())
    env_key = {"OPENAI_API_KEY": "k-test", "OPENAI_BASE_URL": server.url}
    done = _cli("generate", "a kite", "-n", "3", "--output-dir", str(tmp_path / "out"), home=tmp_path / "home",
                env=env_key)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: 1 of 3 images arrived (n=3)" in done.stderr.splitlines()
