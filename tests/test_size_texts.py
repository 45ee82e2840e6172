"""Size texts of any shape (aspects, WIDTHxHEIGHT, resolutions) are a plan or one line of validation: never
a ZeroDivisionError, OverflowError or any other traceback, in the library or in a real IPython shell."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.utils.capture import capture_output

from imagemagic.catalog import MODELS
from imagemagic.errors import ValidationError
from imagemagic.settings import Settings, prepare

MODEL_NAMES = [*MODELS, "house-model"]
NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(1, 6000).map("9".__mul__),  # beyond a float, beyond int()'s 4300 digits
    st.integers(1, 400).map(lambda k: "0." + "0" * k + "1"),  # below the smallest float
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["0", "00", "nan", "inf", "1e400", "1e-400", "1_000", "١٦", "１６", " 16 ", ""]),
)
SIZE_TEXT = st.one_of(
    st.builds("{}:{}".format, NUMBER, NUMBER),
    st.builds("{}x{}".format, NUMBER, NUMBER),
    st.sampled_from(["square", "landscape", "portrait", "auto", "16:9", "1024x1024"]),
    st.text(max_size=12),
)
RESOLUTION = st.one_of(st.none(), st.sampled_from(["1K", "2k", "4K", "3K", "0K", "", "1e400K"]), st.text(max_size=4))


@settings(max_examples=600, deadline=None)
@given(size=SIZE_TEXT, resolution=RESOLUTION, model=st.sampled_from(MODEL_NAMES))
def test_no_size_text_raises_anything_but_one_line_of_validation(size, resolution, model):
    try:
        plan = prepare("a kite", {"size": size, "resolution": resolution, "model": model}, settings=Settings())
    except ValidationError as refused:
        assert str(refused) and "\n" not in str(refused)
        return
    assert plan.request.problems() == []  # what would be sent breaks no rule


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("0:9", "size=0:9 is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)"),
        ("1:0", "size=1:0 is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)"),
        (
            "1:" + "9" * 400,
            f"size='1:{'9' * 25}...{'9' * 28}' is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)",
        ),
        ("100000:1", "size=100000:1 is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)"),
        ("1e400:1", "size='1e400:1' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"),
        ("nan:1", "size='nan:1' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"),
        ("0x0", "size='0x0' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"),
        ("-5x5", "size='-5x5' is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"),
        (
            "99999999999999999999x1",
            "size=99999999999999999999x1 is too large: each side is at most 16384 pixels (e.g. 1024x1024)",
        ),
    ],
)
def test_an_extreme_size_text_is_one_line_saying_what_is_allowed(size, message):
    with pytest.raises(ValidationError) as refused:
        prepare("a kite", {"size": size, "model": "dall-e-3"}, settings=Settings())
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            f"--size 1:{'9' * 400}",
            f"size='1:{'9' * 25}...{'9' * 28}' is not an aspect: both parts must be from 0.01 to 10000 (e.g. 16:9)",
        ),
        (
            f"--size {'9' * 400}x1",
            f"size='{'9' * 27}...{'9' * 26}x1' is too large: each side is at most 16384 pixels (e.g. 1024x1024)",
        ),
        (
            "--size 1x99999 --model house-model",
            "size=1x99999 is too large: each side is at most 16384 pixels (e.g. 1024x1024)",
        ),
    ],
)
def test_the_magic_shows_an_extreme_size_as_one_line_and_sends_nothing(ip, recorder, monkeypatch, flags, message):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.base}/v1")
    with capture_output() as captured:
        ip.run_cell(f"%%imagegen {flags}\na kite")
    assert captured.stderr == f"UsageError: {message}\n"
    assert captured.outputs == [] and recorder.requests == []
