"""Properties of validation: random parameters and random flag lines never raise anything but the
documented errors, and nothing invalid ever reaches the network. Recorders prove the last part:
an httpx.MockTransport for the client, a real HTTP server on loopback for the magic."""

from __future__ import annotations

import base64
import io
import json
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from helpers.schemas import schema_errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from PIL import Image

import imagemagic
from imagemagic.catalog import MODELS, lookup
from imagemagic.client import ImagesClient
from imagemagic.endpoint import Endpoint
from imagemagic.errors import ValidationError
from imagemagic.params import NAMES
from imagemagic.request import ImageRequest

MODEL_NAMES = [*MODELS, "openai/dall-e-3", "openai/gpt-image-2", "gpt-image-3-nova", "local-diffusion"]
VALUES = {
    "size": [
        "auto",
        "256x256",
        "1024x1024",
        "1792x1024",
        "1536x864",
        "1536x856",
        "3840x2160",
        "2176x3840",
        "3088x1024",
        "4000x1000",
        "0x0",
        "big",
    ],
    "quality": ["standard", "hd", "low", "medium", "high", "auto", "max"],
    "background": ["transparent", "opaque", "auto"],
    "moderation": ["low", "auto", "high"],
    "output_format": ["png", "jpeg", "webp", "gif"],
    "response_format": ["url", "b64_json"],
    "style": ["vivid", "natural"],
    "user": ["user-1"],
    "n": [1, 2, 10, 0, 11],
    "output_compression": [0, 50, 100, -1, 101],
    "partial_images": [0, 1, 3, 4],
    "stream": [True, False],
}
ANY = st.one_of(st.booleans(), st.integers(-3, 120), st.floats(allow_nan=False), st.text(max_size=8))
free_size = st.builds(
    "{}x{}".format, st.integers(1, 300).map(lambda k: 16 * k), st.integers(1, 300).map(lambda k: 16 * k)
)


def value(name, wild):
    """Mostly absent or plausible; when `wild`, sometimes any JSON-ish value at all."""
    plausible = st.sampled_from(VALUES[name])
    if name == "size":
        plausible = st.one_of(plausible, free_size)
    return st.one_of(st.none(), st.none(), st.none(), plausible, *([ANY] if wild else []))


def request_strategy(wild):
    prompt, model = st.text(min_size=1).filter(str.strip), st.sampled_from(MODEL_NAMES)
    if wild:
        prompt = st.one_of(prompt, st.integers(0, 33000).map("x".__mul__), st.text(max_size=3), st.none())
        model = st.one_of(model, st.text(max_size=12), st.none())
    return st.builds(
        ImageRequest,
        prompt=prompt,
        model=model,
        extra_body=st.one_of(
            st.dictionaries(st.sampled_from(["seed", "quality", "future_knob"]), st.integers(), max_size=2),
            *([st.lists(st.integers(), max_size=1)] if wild else []),
        ),
        **{name: value(name, wild) for name in VALUES},
    )


requests = st.one_of(request_strategy(wild=False), request_strategy(wild=True))


NEWER_VALUES = {"quality": ("xhigh", "max"), "output_format": ("gif", "svg")}  # than the schema (see its $comment)
NEWER_FIELDS = ("complexity", "frame_count", "frame_duration_ms")


def tiny_png():
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


PNG = tiny_png()


def check_sent(body):
    """A body that went out: valid by our wire rules and, for a model we know, by the official schema."""
    assert ImageRequest.from_body(body).wire_problems() == []
    if lookup(body["model"]) is not None:  # less what is newer than the schema
        older = {k: v for k, v in body.items() if k not in NEWER_FIELDS and v not in NEWER_VALUES.get(k, ())}
        assert schema_errors(older, "CreateImageRequest") == []


@settings(max_examples=400, deadline=None)
@given(requests)
def test_validation_only_ever_lists_problems(request):
    problems = request.problems()
    for problem in problems:
        assert problem.param in ("prompt", *NAMES, "extra_body") or problem.param in request.extra_body
        assert problem.message and "\n" not in problem.message
    request.warnings("https://api.openai.com/v1")
    if problems:
        with pytest.raises(ValidationError) as caught:
            request.validated()
        assert caught.value.problems == problems
    else:
        assert request.validated() is request


@settings(max_examples=300, deadline=None)
@given(requests)
def test_an_invalid_request_never_reaches_the_network(request):
    sent = []

    def answer(http_request):
        body = json.loads(http_request.content)
        sent.append(body)
        return httpx.Response(200, json={"created": 0, "data": [{"b64_json": PNG}] * body.get("n", 1)})

    client = ImagesClient(Endpoint("http://recorder.test/v1"), transport=httpx.MockTransport(answer), max_retries=0)
    if request.problems():
        with pytest.raises(ValidationError):
            client.generate(request)
        assert sent == []
        return
    result = client.generate(request)
    assert len(result) == request.count
    assert sum(body.get("n", 1) for body in sent) == request.count
    assert {body["model"] for body in sent} == {request.model}
    for body in sent:
        check_sent(body)


def test_the_client_sends_each_parameter_named_as_on_the_wire():
    sent = []
    client = ImagesClient(
        Endpoint("http://recorder.test/v1"),
        transport=httpx.MockTransport(
            lambda r: (
                sent.append(json.loads(r.content))
                or httpx.Response(200, json={"created": 0, "data": [{"b64_json": PNG}]})
            )
        ),
    )
    client.generate(
        ImageRequest(
            "a kite",
            model="openai/gpt-image-1",
            size="1024x1536",
            quality="high",
            background="transparent",
            moderation="low",
            output_format="webp",
            output_compression=80,
            user="u1",
            extra_body={"seed": 3},
        )
    )
    assert sent == [
        {
            "prompt": "a kite",
            "model": "openai/gpt-image-1",
            "size": "1024x1536",
            "quality": "high",
            "background": "transparent",
            "moderation": "low",
            "output_format": "webp",
            "output_compression": 80,
            "user": "u1",
            "seed": 3,
        }
    ]
    check_sent({k: v for k, v in sent[0].items() if k != "seed"})


class Recorder(BaseHTTPRequestHandler):
    """Records every body POSTed and refuses it with an OpenAI-shaped 400."""

    bodies = []

    def do_POST(self):
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        payload = json.dumps(
            {"error": {"message": "recorded", "type": "invalid_request_error", "param": None, "code": "recorded"}}
        )
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def recorder():
    """Base URL of a recording server on 127.0.0.1, and the list of bodies it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", Recorder.bodies
    server.shutdown()
    server.server_close()


@pytest.fixture
def recorded_ip(ip, recorder):
    """The real shell with %%imagegen pointed at the recorder; yields (shell, bodies received)."""
    url, bodies = recorder
    ip.run_line_magic("config", f"ImageGenMagics.base_url = {url!r}")
    bodies.clear()
    return ip, bodies


def run_magic(ip, line):
    """Run `%imagegen line`; return the UsageError's message (None when it finished)."""
    try:
        ip.run_line_magic("imagegen", line)
    except UsageError as exc:
        assert type(exc) is UsageError  # a subclass would print a full traceback
        return str(exc)
    return None


REFUSED = "HTTP 400 (type=invalid_request_error, code=recorded): recorded"


def test_the_recorder_sees_what_the_magic_sends(recorded_ip):
    ip, bodies = recorded_ip
    assert run_magic(ip, "--model dall-e-3 -n 2 --quality hd a kite").startswith(REFUSED)
    assert bodies == [{"prompt": "a kite", "model": "dall-e-3", "n": 1, "quality": "hd"}] * 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "--quality max a kite",
            "quality='max' is not allowed for gpt-image-2: use low, medium, high, auto"
            " (the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        (
            "--model openai/dall-e-3 --size 1536x1024 --stream a kite",
            "size=1536x1024 is not allowed for dall-e-3: use 1024x1024, 1792x1024, 1024x1792 "
            "— did you mean 1792x1024?; "
            "stream=True is not supported by dall-e-3: leave it out",
        ),
        (
            "--size 1000x1000 --background transparent a kite",
            "size=1000x1000 does not fit gpt-image-2: both sides must be divisible by 16 — did you mean 1008x1008?; "
            "background='transparent' is not allowed for gpt-image-2: use opaque, auto"
            " (the gpt-image-2.5 and gpt-image-2.6 families support it)",
        ),
        ("--output-compression 50 a kite", "output_compression=50 needs output_format jpeg or webp (it is png)"),
        ("--extra quality=high a kite", "quality is a known parameter: set it directly, not through extra_body"),
    ],
)
def test_the_magic_refuses_invalid_requests_in_one_line_without_sending(recorded_ip, line, message):
    ip, bodies = recorded_ip
    assert run_magic(ip, line) == message
    assert bodies == []


def test_the_magic_sends_what_an_unknown_model_asks_for(recorded_ip):
    ip, bodies = recorded_ip
    assert run_magic(ip, "--model gpt-image-3-nova --quality max --size 7x9 --extra seed=5 a kite").startswith(REFUSED)
    assert bodies == [{"prompt": "a kite", "model": "gpt-image-3-nova", "size": "7x9", "quality": "max", "seed": 5}]


def test_the_python_api_refuses_before_sending(recorder):
    url, bodies = recorder
    bodies.clear()
    with pytest.raises(
        ValidationError,
        match=r"^quality='max' is not allowed for gpt-image-2: use low, medium, high, auto \(the gpt-image-2.5 and "
        r"gpt-image-2.6 families support it\)$",
    ):
        imagemagic.generate("a kite", quality="max", base_url=url)
    assert bodies == []


word = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=6)  # one line: no control characters
FLAGS = [
    "--model",
    "--size",
    "--quality",
    "-n",
    "--n",
    "--background",
    "--output-format",
    "--output-compression",
    "--moderation",
    "--partial-images",
    "--style",
    "--response-format",
    "--user",
    "--extra",
    "--out",
]
SWITCHES = ["--stream", "--no-stream"]
flag_value = st.one_of(
    *(st.sampled_from(v).map(str) for v in VALUES.values()),
    st.sampled_from(MODEL_NAMES),
    st.sampled_from(["seed=5", "quality=high", "=x", "k=", "kite", "x y"]),
    word,
)
lines = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(FLAGS), flag_value).map(lambda t: f"{t[0]} {shlex.quote(t[1])}"),
        st.sampled_from(SWITCHES),
        word.map(shlex.quote),
    ),
    max_size=6,
).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=lines)
def test_random_flag_lines_raise_only_usage_error_and_send_nothing_invalid(recorded_ip, line):
    ip, bodies = recorded_ip
    bodies.clear()
    message = run_magic(ip, line)
    if bodies:
        assert message.startswith(REFUSED)
    else:
        assert message and "\n" not in message
    for body in bodies:
        check_sent(body)


# -- absurd values: a message quotes a bounded part of what it refuses ---------------------------------------------

ABSURD = {
    "5,000 digits": 10**5000,
    "100,000 characters": "x" * 100_000,
    "a long list": [1] * 100_000,
    "NaN": float("nan"),
    "infinity": float("inf"),
    "an object": object(),
}
DIALECTS = {"images": {}, "unknown model": {"model": "house-model"}, "chat": {"model": "gemini-2.5-flash-image"},
            "responses": {"api": "responses"}}  # fmt: skip
LINE_MAX = 400  # characters of the longest refusal of one absurd value


def one_bounded_line(refused: Exception) -> str:
    line = str(refused)
    assert "\n" not in line and len(line) <= LINE_MAX, line[:200]
    return line


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_absurd_value_of_any_parameter_is_refused_in_one_bounded_line_or_sendable(dialect):
    """Before: 5,000 digits raised ValueError wherever a message quoted them (repr refuses them), and the cache key
    or the body could not be written; 100,000 characters made a message of 100,000 characters."""
    from imagemagic.settings import Settings, prepare

    settings = Settings(base_url="https://example.com/v1", api_key="k-test", api=DIALECTS[dialect].get("api", "images"))
    model = {k: v for k, v in DIALECTS[dialect].items() if k == "model"}
    for name in (*NAMES, "resolution", "extra_body"):
        for label, value in ABSURD.items():
            params = {**model, name: value} if name != "extra_body" else model
            extra = {"seed": value} if name == "extra_body" else None
            try:
                plan = prepare("a kite", params, settings=settings, extra_body=extra)
            except ValidationError as refused:
                one_bounded_line(refused)
            else:  # what would be sent is JSON a server can read
                assert json.loads(json.dumps(plan.request.body(), allow_nan=False)), (name, label)


OPTION_VALUES = {**ABSURD, "a negative number": -1, "a dict": {"a": 1}}


def test_every_option_refuses_what_it_cannot_use_in_one_line_the_same_in_python_and_config(ip):
    """Before: Settings(timeout='xx') was taken and failed as a TypeError at the first request; Settings(
    max_concurrency=0, display='weird', cache='no', prices={'m': 5}) were taken silently (the last failed as a
    TypeError at the first estimate); only %config checked, in traitlets' words."""
    from IPython.utils.capture import capture_output

    from imagemagic.settings import Settings, options

    magics = ip.magics_manager.registry["ImageGenMagics"]
    for option in options():
        for label, value in OPTION_VALUES.items():
            try:
                Settings(**{option.name: value})
            except ValidationError as refused:
                line = one_bounded_line(refused)
                before = getattr(magics, option.name)
                ip.user_ns["value"] = value
                with capture_output() as captured:
                    ip.run_line_magic("config", f"ImageGenMagics.{option.name} = value")
                assert captured.stderr == f"UsageError: {line} (ImageGenMagics keeps its settings)\n", label
                assert getattr(magics, option.name) is before
            else:
                assert option.name in ("base_url", "responses_model"), (option.name, label)  # any text, checked later


def test_config_takes_exactly_what_settings_takes_and_never_converts(ip):
    """Before: traitlets converted for %config what Settings refuses: `%config ImageGenMagics.n = 2.5` made n 2,
    `max_retries = '3'` made 3 and `max_concurrency = True` made 1, silently."""
    from IPython.utils.capture import capture_output

    from imagemagic.magics import OPTION_NAMES
    from imagemagic.params import NAMES
    from imagemagic.settings import Settings

    magics = ip.magics_manager.registry["ImageGenMagics"]
    for name in (*OPTION_NAMES, "n", "partial_images", "output_compression"):
        for value in ("3", 2.5, True, 3, 0.5):
            ip.user_ns["value"], before = value, getattr(magics, name)
            with capture_output() as captured:
                ip.run_line_magic("config", f"ImageGenMagics.{name} = value")
            try:
                problem = magics._default_problem(name, value) if name in NAMES else Settings(**{name: value}) and None
            except ValidationError as refused:
                problem = str(refused)
            if problem:  # as a cell or Settings() refuses it
                assert captured.stderr == f"UsageError: {problem} (ImageGenMagics keeps its settings)\n", (name, value)
                assert getattr(magics, name) is before
            else:
                taken = getattr(magics, name)
                assert (captured.stderr, taken, isinstance(taken, bool)) == ("", value, isinstance(value, bool)), name
                ip.user_ns["value"] = before
                ip.run_line_magic("config", f"ImageGenMagics.{name} = value")
