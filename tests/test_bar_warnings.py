"""A warning said while a sweep's text bar is drawn starts on its own line (the bar is cleared, the warning
written, the bar drawn again), in the real output of a Python sweep and of %%imagegen --grid in IPython."""

from __future__ import annotations

import subprocess
import sys

import pytest

KEY = "wrong-key-0123456789"
PYTHON_SWEEP = """
import sys
import imagemagic
from imagemagic.settings import Settings
settings = Settings(api_key=sys.argv[1], base_url=sys.argv[2], max_concurrency=1, max_retries=0)
imagemagic.sweep("a {animal}", animal=["fox", "owl", "cat"], settings=settings)
"""
MAGIC_SWEEP = "%%imagegen --grid animal=fox,owl,cat\na {animal}"


def screen(text):
    """The lines a terminal shows for `text`: each carriage return goes back to the start of the line and
    what follows overwrites what was there."""
    shown = []
    for line in text.split("\n"):
        row = ""
        for piece in line.split("\r"):
            row = piece + row[len(piece) :]
        shown.append(row.rstrip())
    return shown


def stop_line(error):
    return (
        f"warning: stopped: {error}; 1 request got this answer and 2 were not sent: "
        "no other request of this run could get past it"
    )


@pytest.mark.parametrize("front_end", ["python", "magic"])
def test_a_warning_during_a_bar_starts_on_its_own_line(start_server, monkeypatch, front_end):
    url = start_server(api_key="right-key-0123456789")
    if front_end == "python":
        command = [sys.executable, "-c", PYTHON_SWEEP, KEY, url]
    else:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        magic = (
            "ip = get_ipython(); ip.run_line_magic('load_ext', 'imagemagic'); "
            f"ip.run_line_magic('config', 'ImageGenMagics.max_concurrency = 1'); ip.run_cell({MAGIC_SWEEP!r})"
        )
        command = [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor", "-c", magic]
    done = subprocess.run(command, capture_output=True, timeout=120)  # bytes: text mode reads each \r as \n
    lines = screen(done.stderr.decode())
    warnings = [line for line in lines if "warning:" in line]
    assert len(warnings) == 1, done.stderr
    error = warnings[0].split("stopped: ", 1)[-1].split("; 1 request")[0]
    assert error.startswith("HTTP 401 (type=invalid_request_error, code=invalid_api_key)")
    assert warnings == [stop_line(error)]
    below = lines[lines.index(warnings[0]) + 1 :]  # the bar drawn again, below the warning
    assert below[0].startswith("images:  33%|") and below[0].endswith("image/s, failed 1, cached 0, price unknown]")


def test_a_warning_during_a_bar_is_still_caught_as_a_warning(start_server):
    from imagemagic import ImageMagicWarning, sweep
    from imagemagic.settings import Settings

    url = start_server(api_key="right-key-0123456789")
    settings = Settings(api_key=KEY, base_url=url, max_concurrency=1, max_retries=0)
    with pytest.warns(ImageMagicWarning) as caught:
        result = sweep("a {animal}", animal=["fox", "owl", "cat"], settings=settings)
    said = [f"warning: {w.message}" for w in caught if issubclass(w.category, ImageMagicWarning)]
    assert said == [stop_line(result[0].error)]
