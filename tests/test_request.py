"""Each documented rule of issue 3, both sides of every boundary, messages asserted verbatim."""

from __future__ import annotations

import datetime as dt

import pytest

from imagemagic.errors import ValidationError
from imagemagic.request import ImageRequest

GPT_SIZES = "use 1024x1024, 1536x1024, 1024x1536, auto"
FREE = "does not fit gpt-image-2: "


def messages(model, prompt="a red kite", **params):
    """The messages of every problem a request for `model` with `params` has."""
    return [p.message for p in ImageRequest(prompt, model=model, **params).problems()]


def case(model, params, *expected):
    return pytest.param(model, params, list(expected), id=f"{model}-{params}")


@pytest.mark.parametrize(
    ("model", "length", "expected"),
    [
        ("dall-e-2", 1000, []),
        ("dall-e-2", 1001, ["prompt is 1001 characters; dall-e-2 takes at most 1000"]),
        ("dall-e-3", 4000, []),
        ("dall-e-3", 4001, ["prompt is 4001 characters; dall-e-3 takes at most 4000"]),
        ("openai/dall-e-3", 4001, ["prompt is 4001 characters; dall-e-3 takes at most 4000"]),
        ("gpt-image-1", 32000, []),
        ("gpt-image-2", 32001, ["prompt is 32001 characters; gpt-image-2 takes at most 32000"]),
        ("chatgpt-image-latest", 32001, ["prompt is 32001 characters; chatgpt-image-latest takes at most 32000"]),
        ("gpt-image-3-nova", 100_000, []),
    ],
)
def test_prompt_length_limit_per_model(model, length, expected):
    assert messages(model, prompt="x" * length) == expected


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_prompt_must_say_something(prompt):
    assert messages("gpt-image-2", prompt=prompt) == ["prompt is empty: write what the image should show"]


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-2", {"n": 1}),
        case("gpt-image-2", {"n": 10}),
        case("gpt-image-2", {"n": 0}, "n=0 is out of range: use 1 to 10"),
        case("gpt-image-2", {"n": 11}, "n=11 is out of range: use 1 to 10"),
        case("dall-e-2", {"n": 10}),
        case("dall-e-3", {"n": 10}),  # the client sends ten requests of one image each
        case("local-diffusion", {"n": 11}, "n=11 is out of range: use 1 to 10"),
        case("local-diffusion", {"n": -1}, "n=-1 is out of range: use 1 to 10"),
    ],
)
def test_n_between_1_and_10(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "n", "expected"),
    [
        ("dall-e-3", 1, []),
        ("dall-e-3", 2, ["n=2 is out of range for dall-e-3: use 1"]),
        ("openai/dall-e-3", 2, ["n=2 is out of range for dall-e-3: use 1"]),
        ("dall-e-2", 10, []),
        ("gpt-image-1", 10, []),
    ],
)
def test_n_per_request_on_the_wire(model, n, expected):
    assert [p.message for p in ImageRequest("a kite", model=model, n=n).wire_problems()] == expected


def test_fan_out_keeps_each_request_within_the_model_limit():
    assert [r.n for r in ImageRequest("k", model="dall-e-3", n=3).split()] == [1, 1, 1]
    assert [r.n for r in ImageRequest("k", n=3, stream=True).split()] == [1, 1, 1]
    assert [r.n for r in ImageRequest("k", n=3).split()] == [3]
    assert [r.n for r in ImageRequest("k", model="local-diffusion", n=3).split()] == [3]


@pytest.mark.parametrize("size", ["1024x1024", "7x9", "auto", "4096x4096"])
def test_any_wxh_passes_for_an_unknown_model(size):
    assert messages("local-diffusion", size=size) == []


@pytest.mark.parametrize("size", ["1024*1024", "1024X1024", "0x1024", "1024x0", "01024x1024", "big", "1024x", ""])
def test_size_must_be_wxh_or_auto(size):
    assert messages("local-diffusion", size=size) == [
        f"size={size!r} is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto"
    ]


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("dall-e-2", {"size": "256x256"}),
        case("dall-e-2", {"size": "512x512"}),
        case("dall-e-2", {"size": "1024x1024"}),
        case(
            "dall-e-2",
            {"size": "1792x1024"},
            "size=1792x1024 is not allowed for dall-e-2: use 256x256, 512x512, 1024x1024 — did you mean 1024x1024?",
        ),
        case("dall-e-2", {"size": "auto"}, "size=auto is not allowed for dall-e-2: use 256x256, 512x512, 1024x1024"),
        case("dall-e-3", {"size": "1792x1024"}),
        case("dall-e-3", {"size": "1024x1792"}),
        case(
            "dall-e-3",
            {"size": "512x512"},
            "size=512x512 is not allowed for dall-e-3: use 1024x1024, 1792x1024, 1024x1792 — did you mean 1024x1024?",
        ),
        case("gpt-image-1", {"size": "1536x1024"}),
        case("gpt-image-1-mini", {"size": "1024x1536"}),
        case("gpt-image-1.5", {"size": "auto"}),
        case(
            "gpt-image-1",
            {"size": "1536x864"},
            f"size=1536x864 is not allowed for gpt-image-1: {GPT_SIZES} — did you mean 1536x1024?",
        ),
        case(
            "chatgpt-image-latest",
            {"size": "1792x1024"},
            f"size=1792x1024 is not allowed for chatgpt-image-latest: {GPT_SIZES} — did you mean 1536x1024?",
        ),
    ],
)
def test_fixed_sizes_per_model(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1536x864", []),
        ("16x16", []),
        ("1536x856", [FREE + "both sides must be divisible by 16 — did you mean 1536x864?"]),
        ("1000x1024", [FREE + "both sides must be divisible by 16 — did you mean 1008x1024?"]),
        ("3072x1024", []),
        ("1024x3072", []),
        ("3088x1024", [FREE + "the aspect ratio must be between 1:3 and 3:1 — did you mean 3088x1040?"]),
        ("1024x3088", [FREE + "the aspect ratio must be between 1:3 and 3:1 — did you mean 1040x3088?"]),
        ("3840x2160", []),
        ("2160x3840", []),
        (
            "3856x2160",
            [
                FREE + "the largest size is 3840x2160 (either orientation)",
                FREE + "at most 8,294,400 pixels in all (it has 8,328,960) — did you mean 3840x2160?",
            ],
        ),
        (
            "2160x3856",
            [
                FREE + "the largest size is 3840x2160 (either orientation)",
                FREE + "at most 8,294,400 pixels in all (it has 8,328,960) — did you mean 2160x3840?",
            ],
        ),
        (
            "3840x2176",
            [
                FREE + "the largest size is 3840x2160 (either orientation)",
                FREE + "at most 8,294,400 pixels in all (it has 8,355,840) — did you mean 3840x2160?",
            ],
        ),
        ("2176x2176", [FREE + "the largest size is 3840x2160 (either orientation) — did you mean 2160x2176?"]),
        (
            "4000x1000",
            [
                FREE + "both sides must be divisible by 16",
                FREE + "the aspect ratio must be between 1:3 and 3:1",
                FREE + "the largest size is 3840x2160 (either orientation) — did you mean 3840x1280?",
            ],
        ),
    ],
)
def test_gpt_image_2_free_sizes(size, expected):
    prefix = f"size={size} "
    assert messages("gpt-image-2", size=size) == [prefix + m for m in expected]


@pytest.mark.parametrize(
    ("model", "rules"),
    [
        ("gpt-image-2-2026-04-21", "gpt-image-2-2026-04-21"),
        ("openai/gpt-image-2", "gpt-image-2"),
        ("azure/openai/gpt-image-2", "gpt-image-2"),
    ],
)
def test_free_sizes_follow_the_snapshot_and_provider_prefixes(model, rules):
    assert messages(model, size="1536x864") == []
    assert messages(model, size="1536x856") == [
        f"size=1536x856 does not fit {rules}: both sides must be divisible by 16 — did you mean 1536x864?"
    ]


@pytest.mark.parametrize(
    ("size", "warned"),
    [
        ("2560x1440", False),
        ("2576x1440", True),
        ("1440x2576", True),
        ("3840x2160", True),
        ("auto", False),
        (None, False),
    ],
)
def test_above_2560x1440_is_a_warning_not_an_error(size, warned):
    request = ImageRequest("k", size=size)
    assert request.problems() == []
    expected = [f"size={size} is above 2560x1440, which gpt-image-2 treats as experimental"] if warned else []
    assert request.warnings() == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("dall-e-2", {"quality": "standard"}),
        case("dall-e-2", {"quality": "hd"}, "quality='hd' is not allowed for dall-e-2: use standard"),
        case("dall-e-3", {"quality": "hd"}),
        case("dall-e-3", {"quality": "standard"}),
        case("dall-e-3", {"quality": "high"}, "quality='high' is not allowed for dall-e-3: use standard, hd"),
        case("gpt-image-1", {"quality": "low"}),
        case("gpt-image-2", {"quality": "auto"}),
        case(
            "gpt-image-2", {"quality": "hd"}, "quality='hd' is not allowed for gpt-image-2: use low, medium, high, auto"
        ),
        case(
            "gpt-image-2",
            {"quality": "max"},
            "quality='max' is not allowed for gpt-image-2: use low, medium, high, auto "
            "(the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        case("gpt-image-2.6-flare", {"quality": "max"}),
        case("openai/dall-e-3", {"quality": "hd"}),
        case("openai/dall-e-3", {"quality": "low"}, "quality='low' is not allowed for dall-e-3: use standard, hd"),
    ],
)
def test_quality_per_model(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("dall-e-3", {"style": "vivid"}),
        case("dall-e-3", {"style": "natural"}),
        case("dall-e-3", {"style": "anime"}, "style='anime' is not allowed for dall-e-3: use vivid, natural"),
        case("dall-e-2", {"style": "vivid"}, "style='vivid' is not supported by dall-e-2: leave it out"),
        case("gpt-image-1", {"style": "natural"}, "style='natural' is not supported by gpt-image-1: leave it out"),
        case("local-diffusion", {"style": "anime"}),
    ],
)
def test_style_only_for_dall_e_3(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("dall-e-2", {"response_format": "url"}),
        case("dall-e-3", {"response_format": "b64_json"}),
        case(
            "dall-e-2",
            {"response_format": "png"},
            "response_format='png' is not allowed for dall-e-2: use url, b64_json",
        ),
        case(
            "gpt-image-1",
            {"response_format": "b64_json"},
            "response_format='b64_json' is not supported by gpt-image-1: leave it out",
        ),
        case(
            "gpt-image-2",
            {"response_format": "url"},
            "response_format='url' is not supported by gpt-image-2: leave it out",
        ),
    ],
)
def test_response_format_only_for_dall_e(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-1", {"background": "transparent"}),
        case("gpt-image-1", {"background": "transparent", "output_format": "png"}),
        case("gpt-image-1.5", {"background": "transparent", "output_format": "webp"}),
        case(
            "gpt-image-1",
            {"background": "transparent", "output_format": "jpeg"},
            "background='transparent' needs output_format png or webp (it is jpeg)",
        ),
        case("gpt-image-1", {"background": "opaque", "output_format": "jpeg"}),
        case(
            "gpt-image-1-mini",
            {"background": "clear"},
            "background='clear' is not allowed for gpt-image-1-mini: use transparent, opaque, auto",
        ),
        case("gpt-image-2", {"background": "opaque"}),
        case("gpt-image-2", {"background": "auto"}),
        case(
            "gpt-image-2",
            {"background": "transparent"},
            "background='transparent' is not allowed for gpt-image-2: use opaque, auto "
            "(the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        case(
            "gpt-image-2-2026-04-21",
            {"background": "transparent"},
            "background='transparent' is not allowed for gpt-image-2-2026-04-21: use opaque, auto "
            "(the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        case("dall-e-2", {"background": "opaque"}, "background='opaque' is not supported by dall-e-2: leave it out"),
        case("local-diffusion", {"background": "transparent", "output_format": "jpeg"}),
    ],
)
def test_background(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-2", {"output_format": "png"}),
        case("gpt-image-2", {"output_format": "jpeg"}),
        case("gpt-image-2", {"output_format": "webp"}),
        case(
            "gpt-image-2",
            {"output_format": "gif"},
            "output_format='gif' is not allowed for gpt-image-2: use png, jpeg, webp "
            "(the gpt-image-2.6 family supports it)",
        ),
        case("dall-e-3", {"output_format": "png"}, "output_format='png' is not supported by dall-e-3: leave it out"),
        case("local-diffusion", {"output_format": "gif"}),
    ],
)
def test_output_format(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-2", {"output_format": "jpeg", "output_compression": 0}),
        case("gpt-image-2", {"output_format": "webp", "output_compression": 100}),
        case(
            "gpt-image-2",
            {"output_format": "jpeg", "output_compression": -1},
            "output_compression=-1 is out of range: use 0 to 100",
        ),
        case(
            "gpt-image-2",
            {"output_format": "webp", "output_compression": 101},
            "output_compression=101 is out of range: use 0 to 100",
        ),
        case(
            "gpt-image-2",
            {"output_format": "png", "output_compression": 50},
            "output_compression=50 needs output_format jpeg or webp (it is png)",
        ),
        case(
            "gpt-image-1",
            {"output_compression": 50},
            "output_compression=50 needs output_format jpeg or webp (it is png)",
        ),
        case(
            "gpt-image-1",
            {"output_compression": 150},
            "output_compression=150 is out of range: use 0 to 100",
            "output_compression=150 needs output_format jpeg or webp (it is png)",
        ),
        case(
            "dall-e-2", {"output_compression": 50}, "output_compression=50 is not supported by dall-e-2: leave it out"
        ),
        case("local-diffusion", {"output_compression": 900}),
    ],
)
def test_output_compression_0_to_100_with_jpeg_or_webp(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-2", {"moderation": "low"}),
        case("gpt-image-2", {"moderation": "auto"}),
        case("gpt-image-2", {"moderation": "high"}, "moderation='high' is not allowed for gpt-image-2: use low, auto"),
        case("dall-e-3", {"moderation": "low"}, "moderation='low' is not supported by dall-e-3: leave it out"),
    ],
)
def test_moderation(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case("gpt-image-2", {"stream": True}),
        case("gpt-image-2", {"stream": True, "partial_images": 0}),
        case("gpt-image-2", {"stream": True, "partial_images": 3}),
        case(
            "gpt-image-2",
            {"stream": True, "partial_images": 4},
            "partial_images=4 is out of range for gpt-image-2: use 0 to 3",
        ),
        case(
            "gpt-image-1",
            {"stream": True, "partial_images": -1},
            "partial_images=-1 is out of range for gpt-image-1: use 0 to 3",
        ),
        case("gpt-image-2", {"partial_images": 2}, "partial_images=2 needs stream=True"),
        case("gpt-image-2", {"stream": False, "partial_images": 0}),
        case("dall-e-2", {"stream": False}),
        case("dall-e-2", {"stream": True}, "stream=True is not supported by dall-e-2: leave it out"),
        case(
            "dall-e-3",
            {"stream": True, "partial_images": 1},
            "stream=True is not supported by dall-e-3: leave it out",
            "partial_images=1 is not supported by dall-e-3: leave it out",
        ),
        case("local-diffusion", {"stream": True, "partial_images": 7}),
    ],
)
def test_stream_and_partial_images(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"n": "3"}, "n='3' must be a whole number"),
        ({"n": 2.0}, "n=2.0 must be a whole number"),
        ({"n": True}, "n=True must be a whole number"),
        ({"partial_images": "1"}, "partial_images='1' must be a whole number"),
        ({"output_compression": 50.5}, "output_compression=50.5 must be a whole number"),
        ({"stream": "yes"}, "stream='yes' must be true or false"),
        ({"quality": 5}, "quality=5 must be text"),
        ({"size": 1024}, "size=1024 must be text"),
        ({"user": 42}, "user=42 must be text"),
        ({"model": ""}, "model must name a model, e.g. gpt-image-2"),
        ({"model": None}, "model must name a model, e.g. gpt-image-2"),
        ({"prompt": None}, "prompt must be text"),
        ({"extra_body": ["seed"]}, "extra_body must be a dict of parameter names to values"),
    ],
)
def test_types_for_every_model(params, expected):
    for model in ("gpt-image-2", "local-diffusion"):
        request = ImageRequest(**{"prompt": "a kite", "model": model, **params})
        assert [p.message for p in request.problems()] == [expected]


def test_user_is_free_text():
    assert messages("gpt-image-2", user="user-1234") == []


def test_every_violation_is_reported_at_once_naming_parameter_and_value():
    request = ImageRequest(
        "x" * 1001,
        model="dall-e-2",
        n=11,
        size="1792x1024",
        quality="hd",
        style="vivid",
        background="opaque",
        stream=True,
        output_compression=10,
        user=7,
        extra_body={"size": "1"},
    )
    with pytest.raises(ValidationError) as caught:
        request.validated()
    assert [(p.param, p.message) for p in caught.value.problems] == [
        ("user", "user=7 must be text"),
        ("prompt", "prompt is 1001 characters; dall-e-2 takes at most 1000"),
        ("size", "size is a known parameter: set it directly, not through extra_body"),
        ("n", "n=11 is out of range: use 1 to 10"),
        (
            "size",
            "size=1792x1024 is not allowed for dall-e-2: use 256x256, 512x512, 1024x1024 — did you mean 1024x1024?",
        ),
        ("quality", "quality='hd' is not allowed for dall-e-2: use standard"),
        ("background", "background='opaque' is not supported by dall-e-2: leave it out"),
        ("style", "style='vivid' is not supported by dall-e-2: leave it out"),
        ("output_compression", "output_compression=10 is not supported by dall-e-2: leave it out"),
        ("stream", "stream=True is not supported by dall-e-2: leave it out"),
    ]
    assert str(caught.value) == "; ".join(p.message for p in caught.value.problems)


def test_a_valid_request_is_returned_unchanged():
    request = ImageRequest("a kite", quality="high")
    assert request.validated() is request


def test_body_sends_the_explicit_model_and_only_what_is_set():
    assert ImageRequest("a kite").body() == {"prompt": "a kite", "model": "gpt-image-2"}
    assert ImageRequest(
        "a kite", model="openai/dall-e-3", quality="hd", stream=False, extra_body={"seed": 7}
    ).body() == {
        "prompt": "a kite",
        "model": "openai/dall-e-3",
        "quality": "hd",
        "stream": False,
        "seed": 7,
    }


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("openai/dall-e-3", "dall-e-3"),
        ("openai/gpt-image-2", "gpt-image-2"),
        ("a/b/dall-e-2", "dall-e-2"),
        ("gpt-image-3-nova", None),
        ("openai/gpt-image-9", None),
        ("DALL-E-3", None),
    ],
)
def test_provider_prefix_borrows_the_rules_of_the_name_after_the_slash(name, family):
    rules = ImageRequest("k", model=name).rules
    assert (rules.name if rules else None) == family


BEFORE, ON = dt.date(2026, 5, 11), dt.date(2026, 5, 12)
OPENAI = "https://api.openai.com/v1"
SHUT = "model {} was shut down on {} (OpenAI's date); the API will probably refuse it ({})"
SOON = "model {} shuts down on {} (OpenAI's date); move before then ({})"
DEFAULT = "current default: gpt-image-2"
SUCCESSORS = "replacements: gpt-image-2.6-flare, gpt-image-2.6-sunburst"


@pytest.mark.parametrize(
    ("model", "base_url", "today", "expected"),
    [
        ("dall-e-3", OPENAI, ON, [SHUT.format("dall-e-3", "2026-05-12", DEFAULT)]),
        ("dall-e-2", OPENAI, ON, [SHUT.format("dall-e-2", "2026-05-12", DEFAULT)]),
        ("dall-e-3", OPENAI, BEFORE, [SOON.format("dall-e-3", "2026-05-12", DEFAULT)]),
        ("gpt-image-1", OPENAI, dt.date(2026, 10, 23), [SHUT.format("gpt-image-1", "2026-10-23", DEFAULT)]),
        ("gpt-image-1", OPENAI, dt.date(2026, 10, 22), [SOON.format("gpt-image-1", "2026-10-23", DEFAULT)]),
        ("gpt-image-1.5", OPENAI, dt.date(2026, 12, 1), [SHUT.format("gpt-image-1.5", "2026-12-01", SUCCESSORS)]),
        ("gpt-image-1.5", OPENAI, dt.date(2026, 11, 29), [SOON.format("gpt-image-1.5", "2026-12-01", SUCCESSORS)]),
        (
            "gpt-image-1-mini",
            OPENAI,
            dt.date(2026, 11, 29),
            [SOON.format("gpt-image-1-mini", "2026-12-01", SUCCESSORS)],
        ),
        (
            "chatgpt-image-latest",
            OPENAI,
            dt.date(2026, 11, 30),
            [SOON.format("chatgpt-image-latest", "2026-12-01", SUCCESSORS)],
        ),
        ("openai/dall-e-3", OPENAI, ON, [SHUT.format("openai/dall-e-3", "2026-05-12", DEFAULT)]),
        ("dall-e-3", "https://openrouter.ai/api/v1", ON, []),
        ("dall-e-3", "http://127.0.0.1:8000/v1", ON, []),
        ("dall-e-3", "https://api.openai.com.evil.example/v1", ON, []),
        ("dall-e-3", None, ON, []),
        ("gpt-image-2", OPENAI, dt.date(2030, 1, 1), []),
        ("gpt-image-2.5-flare", OPENAI, dt.date(2030, 1, 1), []),
        ("gpt-image-2.6-sunburst", OPENAI, dt.date(2030, 1, 1), []),
        ("gpt-image-3-nova", OPENAI, ON, []),
    ],
)
def test_shut_down_models_warn_only_against_api_openai_com(model, base_url, today, expected):
    request = ImageRequest("a kite", model=model)
    assert request.problems() == []
    assert request.warnings(base_url, today=today) == expected


# Issue 12: the gpt-image-2.5 and 2.6 families, gif and svg, complexity, input_fidelity, pixel bounds.
F25, F26 = "gpt-image-2.5-flare", "gpt-image-2.6-flare"
NEW_Q = "use low, medium, high, xhigh, max, auto"


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        *(case(m, {"quality": q}) for m in (F25, "gpt-image-2.5-sunburst-2026-09-08", F26) for q in ("xhigh", "max")),
        case("gpt-image-2.6-sunburst", {"quality": "auto"}),
        case(F26, {"quality": "ultra"}, f"quality='ultra' is not allowed for {F26}: {NEW_Q}"),
        case(
            "gpt-image-1.5",
            {"quality": "xhigh"},
            "quality='xhigh' is not allowed for gpt-image-1.5: use low, medium, high, auto",
        ),
        case(F25, {"background": "transparent"}),
        case(F26, {"background": "transparent", "output_format": "webp"}),
        case(
            F26,
            {"background": "transparent", "output_format": "jpeg"},
            "background='transparent' needs output_format png or webp (it is jpeg)",
        ),
        case(
            F26,
            {"background": "transparent", "output_format": "gif"},
            "background='transparent' needs output_format png or webp (it is gif)",
        ),
        case(F26, {"complexity": "low"}),
        case(F26, {"complexity": "high"}),
        case(
            F26,
            {"complexity": "extreme"},
            f"complexity='extreme' is not allowed for {F26}: use low, medium, high",
        ),
        case(F25, {"complexity": "low"}, f"complexity='low' is not supported by {F25}: leave it out"),
        case("gpt-image-2", {"complexity": "low"}, "complexity='low' is not supported by gpt-image-2: leave it out"),
        case("local-diffusion", {"complexity": "extreme"}),
        case(F26, {"output_format": "gif"}),
        case(F26, {"output_format": "svg"}),
        case(F26, {"output_format": "svg", "stream": True, "partial_images": 2}),
        case(
            F25,
            {"output_format": "svg"},
            f"output_format='svg' is not allowed for {F25}: use png, jpeg, webp (the gpt-image-2.6 family supports it)",
        ),
        case(
            "gpt-image-2.6-sunburst",
            {"output_format": "bmp"},
            "output_format='bmp' is not allowed for gpt-image-2.6-sunburst: use png, jpeg, webp, gif, svg",
        ),
        case("gpt-image-1.5", {"input_fidelity": "high"}),
        case("gpt-image-1.5", {"input_fidelity": "low"}),
        case(
            "gpt-image-1.5",
            {"input_fidelity": "medium"},
            "input_fidelity='medium' is not allowed for gpt-image-1.5: use high, low",
        ),
        case(F26, {"input_fidelity": "high"}, f"input_fidelity='high' is not supported by {F26}: leave it out"),
        case("gpt-image-1", {"input_fidelity": "high"}),  # the spec: "gpt-image-1 and gpt-image-1.5 and later"
        case("gpt-image-1-mini", {"input_fidelity": "low"}),  # the SDK: "gpt-image-1-mini supports only low"
        case(
            "gpt-image-1-mini",
            {"input_fidelity": "high"},
            "input_fidelity='high' is not allowed for gpt-image-1-mini: use low",
        ),
        case(  # the SDK: "For gpt-image-2, omit this parameter"
            "gpt-image-2",
            {"input_fidelity": "high"},
            "input_fidelity='high' is not supported by gpt-image-2: leave it out",
        ),
    ],
)
def test_the_late_2026_options(model, params, expected):
    assert messages(model, **params) == expected


GIF = {"output_format": "gif"}


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        case(F26, {**GIF, "frame_count": 2}),
        case(F26, {**GIF, "frame_count": 16}),
        case(F26, {**GIF, "frame_count": 1}, f"frame_count=1 is out of range for {F26}: use 2 to 16"),
        case(F26, {**GIF, "frame_count": 17}, f"frame_count=17 is out of range for {F26}: use 2 to 16"),
        case(F26, {**GIF, "frame_duration_ms": 20}),
        case(F26, {**GIF, "frame_duration_ms": 60_000}),
        case(F26, {**GIF, "frame_duration_ms": 19}, f"frame_duration_ms=19 is too short for {F26}: use 20 or more"),
        case(F26, {"frame_count": 9}, "frame_count=9 needs output_format gif (it is png)"),
        case(
            F26,
            {"output_format": "svg", "frame_duration_ms": 200},
            "frame_duration_ms=200 needs output_format gif (it is svg)",
        ),
        case(F25, {"frame_count": 9}, f"frame_count=9 is not supported by {F25}: leave it out"),
        case(
            "gpt-image-2",
            {**GIF, "frame_duration_ms": 200},
            "output_format='gif' is not allowed for gpt-image-2: use png, jpeg, webp "
            "(the gpt-image-2.6 family supports it)",
            "frame_duration_ms=200 is not supported by gpt-image-2: leave it out",
        ),
        case(F26, {**GIF, "stream": False}),
        case(F26, {**GIF, "stream": True}, "stream=True is not supported with output_format gif: leave it out"),
        case(
            F26,
            {**GIF, "stream": True, "partial_images": 2},
            "stream=True is not supported with output_format gif: leave it out",
            "partial_images=2 is not supported with output_format gif: leave it out",
        ),
        case(
            F26,
            {**GIF, "output_compression": 80},
            "output_compression=80 needs output_format jpeg or webp (it is gif)",
        ),
        case("local-diffusion", {**GIF, "frame_count": 99, "stream": True}),
    ],
)
def test_gif_frames_and_what_gif_refuses(model, params, expected):
    assert messages(model, **params) == expected


@pytest.mark.parametrize("model", [F25, "gpt-image-2.5-sunburst", F26, "gpt-image-2.6-sunburst"])
@pytest.mark.parametrize(
    ("size", "why"),
    [
        ("3840x2160", None),
        ("1536x864", None),
        ("1536x856", "both sides must be divisible by 16 — did you mean 1536x864?"),
        ("3072x1024", None),
        ("3088x1024", "the aspect ratio must be between 1:3 and 3:1 — did you mean 3088x1040?"),
    ],
)
def test_the_new_families_take_sizes_as_gpt_image_2(model, size, why):
    assert messages(model, size=size) == ([f"size={size} does not fit {model}: {why}"] if why else [])


def test_total_pixels_are_bounded_at_3840x2160():
    assert messages("gpt-image-2", size="3840x2160") == []
    assert messages("gpt-image-2", size="3856x2176") == [
        "size=3856x2176 does not fit gpt-image-2: the largest size is 3840x2160 (either orientation)",
        "size=3856x2176 does not fit gpt-image-2: at most 8,294,400 pixels in all (it has 8,390,656)"
        " — did you mean 3840x2160?",
    ]


SMALL = (
    "size={} is {} pixels, below the 655,360 that client libraries require; "
    "OpenAI's reference states no minimum, so it is sent as written"
)


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        ("gpt-image-2", "1024x640", []),
        ("gpt-image-2", "640x1024", []),
        ("gpt-image-2", "1008x640", [SMALL.format("1008x640", "645,120")]),
        ("gpt-image-2", "16x16", [SMALL.format("16x16", "256")]),
        (F26, "1024x624", [SMALL.format("1024x624", "638,976")]),
        ("gpt-image-1", "1024x1024", []),
        ("local-diffusion", "16x16", []),
    ],
)
def test_below_655360_pixels_is_a_warning_not_an_error(model, size, expected):
    request = ImageRequest("k", model=model, size=size)
    assert request.problems() == []
    assert request.warnings() == expected


@pytest.mark.parametrize(
    ("model", "shutdowns", "today", "expected"),
    [
        (
            "gpt-image-2",
            {"gpt-image-2": dt.date(2027, 6, 1)},
            dt.date(2026, 11, 29),
            [
                "model gpt-image-2 shuts down on 2027-06-01 (the endpoint's date); move before then "
                "(current default: gpt-image-2)"
            ],
        ),
        (
            "gpt-image-1.5",
            {"gpt-image-1.5": dt.date(2026, 11, 15)},
            dt.date(2026, 11, 29),
            [
                "model gpt-image-1.5 was shut down on 2026-11-15 (the endpoint's date); "
                f"the API will probably refuse it ({SUCCESSORS})"
            ],
        ),
        (
            "house-model",
            {"house-model": dt.date(2026, 11, 29)},
            dt.date(2026, 11, 29),
            [
                "model house-model was shut down on 2026-11-29 (the endpoint's date); the API will probably refuse it "
                "(current default: gpt-image-2)"
            ],
        ),
        ("gpt-image-1.5", {"gpt-image-1.5": None}, dt.date(2026, 11, 29), []),
        ("gpt-image-1.5", {"other": dt.date(2026, 1, 1)}, dt.date(2026, 11, 29), []),
    ],
)
def test_the_endpoints_shutdown_date_wins_over_the_catalogs(model, shutdowns, today, expected):
    request = ImageRequest("a kite", model=model)
    assert request.warnings("http://127.0.0.1:9/v1", today=today, shutdowns=shutdowns) == expected


def test_the_endpoints_date_wins_also_against_api_openai_com():
    request = ImageRequest("a kite", model="gpt-image-1.5")
    later = {"gpt-image-1.5": dt.date(2027, 1, 1)}
    assert request.warnings(OPENAI, today=dt.date(2026, 12, 2), shutdowns=later) == [
        f"model gpt-image-1.5 shuts down on 2027-01-01 (the endpoint's date); move before then ({SUCCESSORS})"
    ]
