"""Configuration the Jupyter way: defaults in an IPython profile reach the wire; %config shows every trait."""

from __future__ import annotations

import os
import subprocess
import sys

from IPython.utils.capture import capture_output

from imagemagic.magics import ImageGenMagics


def test_profile_config_file_sets_the_defaults(recorder, tmp_path, clean_env):
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        'c.ImageGenMagics.model = "gpt-image-1"\nc.ImageGenMagics.size = "1024x1536"\n'
        'c.ImageGenMagics.quality = "low"\n'
    )
    env = {**os.environ, "OPENAI_BASE_URL": f"{recorder.base}/v1", "IMAGEMAGIC_HOME": str(clean_env)}
    code = "%load_ext imagemagic\n%imagegen --quality high --out k a kite\nprint(k[0].size)"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", f"--profile-dir={profile}", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "(1024, 1536)" in done.stdout, done.stderr
    assert recorder.requests[0]["body"] == {
        "prompt": "a kite",
        "model": "gpt-image-1",
        "size": "1024x1536",
        "quality": "high",
    }


def test_every_trait_has_help_and_none_holds_a_key(ip):
    traits = ImageGenMagics.class_traits(config=True)
    assert all(trait.help for trait in traits.values())
    assert not any("key" in name for name in traits)
    with capture_output() as captured:
        ip.run_line_magic("config", "ImageGenMagics")
    for name in (
        "model",
        "size",
        "quality",
        "n",
        "stream",
        "partial_images",
        "output_format",
        "base_url",
        "timeout",
        "offline",
    ):
        assert f"ImageGenMagics.{name}=" in captured.stdout
