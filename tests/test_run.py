"""The one run path: every front end stops, warns, caches and reports the same way, over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import html
import os
import subprocess
import sys

import httpx
import pytest
from helpers.scripted import ScriptedServer, reply
from IPython.core.error import UsageError

import imagemagic
from imagemagic.errors import ImageMagicWarning, NotFoundError, ValidationError
from imagemagic.session import Session
from imagemagic.settings import Settings
from imagemagic.sweeps import sweep

ANIMALS = ["fox", "owl", "cat", "dog", "elk", "yak", "emu", "bee"]


class Counting(httpx.AsyncHTTPTransport):
    """A real HTTP transport that counts the image requests it sends."""

    def __init__(self):
        super().__init__()
        self.sent = 0

    async def handle_async_request(self, request):
        if request.url.path.endswith("/images/generations"):
            self.sent += 1
        return await super().handle_async_request(request)


def said(caught):
    """The ImageMagicWarnings' lines (a test's own session may add a ResourceWarning for its loop)."""
    return [str(w.message) for w in caught if issubclass(w.category, ImageMagicWarning)]


def stop_line(error, got, unsent, whom="of this run"):
    return (
        f"stopped: {error}; {got} request{'s' if got != 1 else ''} got this answer and {unsent} "
        f"{'were' if unsent != 1 else 'was'} not sent: no other request {whom} could get past it"
    )


# --- stop rules ---------------------------------------------------------------------------------------


def test_a_wrong_key_stops_a_sweep_after_the_first_answer(start_server):
    url = start_server(api_key="right-key-0123456789")
    transport = Counting()
    settings = Settings(api_key="wrong-key-0123456789", base_url=url, max_concurrency=1)
    with pytest.warns(ImageMagicWarning) as caught:
        result = sweep("a {animal}", animal=ANIMALS, settings=settings, session=Session(transport=transport),
                       progress=False)  # fmt: skip
    assert transport.sent == 1
    assert str(result[0].error).startswith("HTTP 401 (type=invalid_request_error, code=invalid_api_key): ")
    assert said(caught) == [stop_line(result[0].error, 1, 7)] == [result.stopped]
    assert [run.sent for run in result] == [True] + [False] * 7
    assert result.summary().startswith("0 images from 8 requests in ")
    assert ": 0 from the cache, 1 failed, 7 not sent · est. cost " in result.summary()


def test_requests_in_flight_finish_but_no_new_one_is_sent(start_server):
    url = start_server(api_key="right-key-0123456789")
    transport = Counting()
    settings = Settings(api_key="wrong-key-0123456789", base_url=url, max_concurrency=3)
    with pytest.warns(ImageMagicWarning):
        result = sweep("a {animal}", animal=ANIMALS, settings=settings, session=Session(transport=transport),
                       progress=False)  # fmt: skip
    failed = [run for run in result if run.error is not None]
    assert 1 <= transport.sent == len(failed) <= 3
    assert sum(1 for run in result if not run.sent) == 8 - transport.sent


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (
            429,
            {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"},
        ),
        (404, {"message": "The model 'x' does not exist.", "type": "invalid_request_error", "code": "model_not_found"}),
        (403, {"message": "Your organization must be verified.", "type": "invalid_request_error", "code": None}),
    ],
)
def test_no_quota_an_unknown_model_or_no_permission_stop_the_run(status, error):
    server = ScriptedServer(default=reply(status, {"error": error}))
    try:
        settings = Settings(base_url=server.url, max_concurrency=1, max_retries=0)
        with pytest.warns(ImageMagicWarning) as caught:
            result = sweep("a {animal}", animal=ANIMALS[:4], settings=settings, session=Session(), progress=False)
        assert len(server.requests) == 1
        whom = "of this run" if status == 429 else "for gpt-image-2"  # a key or quota: all; a model: its own
        assert said(caught) == [stop_line(result[0].error, 1, 3, whom)]
    finally:
        server.close()


@pytest.mark.parametrize(("code", "attempts"), [("insufficient_quota", 1), ("rate_limit_exceeded", 3)])
def test_an_exhausted_quota_is_never_retried_a_rate_limit_is(code, attempts):
    """No wait gets past an exhausted quota: its 429 is not sent again (a rate limit's is, max_retries times)."""
    server = ScriptedServer(default=reply(429, {"error": {"message": "no", "type": code, "code": code}}))
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    try:
        settings = Settings(base_url=server.url, max_retries=2, cache=False)
        with pytest.raises(imagemagic.RateLimitError):
            imagemagic.generate("a kite", settings=settings, session=Session(sleep=sleep))
        assert len(server.requests) == attempts and len(waits) == attempts - 1
    finally:
        server.close()


def test_an_ordinary_failure_does_not_stop_the_run():
    bad = {"message": "Your prompt was rejected.", "type": "invalid_request_error", "code": "moderation_blocked"}
    server = ScriptedServer(reply(400, {"error": bad}))
    try:
        settings = Settings(base_url=server.url, max_concurrency=1, max_retries=0)
        result = sweep("a {animal}", animal=ANIMALS[:3], settings=settings, session=Session(), progress=False)
        assert len(server.requests) == 3 and result.stopped is None
        assert [run.error is None for run in result] == [False, True, True]
    finally:
        server.close()


def test_the_magic_says_the_stop_once_and_prints_no_line_per_request(ip, start_server, monkeypatch, capsys, recwarn):
    monkeypatch.setenv("OPENAI_BASE_URL", start_server(api_key="right-key-0123456789"))
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key-0123456789")
    ip.run_line_magic("config", "ImageGenMagics.max_concurrency = 1")
    ip.run_cell_magic("imagegen", "--grid animal=fox,owl,cat,dog --out grid", "a {animal}")
    grid = ip.user_ns["grid"]
    out = capsys.readouterr().out.splitlines()
    assert said(recwarn) == [stop_line(grid[0].error, 1, 3)]
    assert not [line for line in out if line.startswith("failed:")]
    assert out[-1] == grid.summary()


# --- names judged before expansion --------------------------------------------------------------------

TYPO = (
    "'qualty' is not a parameter of generate: did you mean 'quality'? use model, size, resolution, quality, n, "
    "background, output_format, output_compression, moderation, stream, partial_images, style, response_format, user, "
    "safety_identifier, complexity, frame_count, frame_duration_ms, or a variable the template uses"
)


def test_a_typo_is_refused_by_every_many_image_front_end_and_nothing_is_sent(ip, recorder, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    for call in (
        lambda: sweep("a fox", qualty=["low", "high"], progress=False),
        lambda: sweep("a fox", rows=[{"qualty": "low"}], progress=False),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert str(caught.value) == TYPO
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("imagegen", "--grid qualty=low,high", "a fox")
    assert str(caught.value) == TYPO
    assert recorder.requests == []


def test_a_template_variable_named_like_a_parameter_is_never_sent_and_noted_once(ip, recorder, monkeypatch, recwarn):
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.base + "/v1")
    ip.run_cell_magic("imagegen", "--grid user=alice,bob --grid style=watercolor,ink --out grid", "{user} in {style}")
    assert sorted(r["body"]["prompt"] for r in recorder.requests) == [
        "alice in ink", "alice in watercolor", "bob in ink", "bob in watercolor"
    ]  # fmt: skip
    assert all("user" not in r["body"] and "style" not in r["body"] for r in recorder.requests)
    assert said(recwarn) == [
        "'user' fills the template's {user} and is not sent as the user parameter",
        "'style' fills the template's {style} and is not sent as the style parameter",
    ]


# --- one history line, one base-URL line ---------------------------------------------------------------


def history_line(home):
    return (
        f"the history folder {home} cannot be written (Not a directory): images stay in the result only "
        "(keep them with .save(path)); cache and resume are off"
    )


def test_an_unusable_history_is_said_once_by_a_sweep(server_url, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path / "a-file" / "home"))
    settings = Settings(base_url=server_url)
    with pytest.warns(ImageMagicWarning) as caught:
        result = sweep("a {animal}", animal=ANIMALS[:3], settings=settings, progress=False)
    assert said(caught) == [history_line(tmp_path / "a-file" / "home")]
    assert len(result.images) == 3 and not result.failed


def test_the_cli_says_the_same_history_line(tmp_path):
    (tmp_path / "a-file").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    env["IMAGEMAGIC_HOME"] = str(tmp_path / "a-file" / "home")
    done = subprocess.run(
        [sys.executable, "-m", "imagemagic", "generate", "a kite", "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == f"warning: {history_line(tmp_path / 'a-file' / 'home')}"
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_a_base_url_without_a_scheme_is_one_line_everywhere(ip, monkeypatch, tmp_path):
    line = "the base URL 'localhost:8000/v1' is not an http(s) URL: did you mean 'http://localhost:8000/v1'? "
    with pytest.raises(ValidationError) as caught:
        imagemagic.generate("a kite", base_url="localhost:8000/v1")
    assert str(caught.value) == line + "nothing was sent"
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000/v1")
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("imagegen", "", "a kite")
    assert str(caught.value) == line.replace("the base URL", "OPENAI_BASE_URL") + "nothing was sent"
    env = {**os.environ, "OPENAI_BASE_URL": "localhost:8000/v1", "IMAGEMAGIC_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "imagemagic", "generate", "a kite"], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)  # fmt: skip
    assert (done.returncode, done.stderr) == (
        2, "imagemagic: error: " + line.replace("the base URL", "OPENAI_BASE_URL") + "nothing was sent\n"
    )  # fmt: skip


def test_a_base_url_without_v1_gets_a_hint_with_its_404(server_url):
    root = server_url.removesuffix("/v1")
    with pytest.raises(NotFoundError) as caught:
        imagemagic.generate("a kite", base_url=root)
    assert str(caught.value).endswith(
        f"; the base URL {root} does not end in /v1, where OpenAI-compatible APIs answer: try {root}/v1"
    )


# --- smaller things ------------------------------------------------------------------------------------


def test_a_sweep_leaves_no_client_in_the_session(server_url):
    session = Session()
    for _ in range(2):
        sweep("a {animal}", animal=ANIMALS[:2], settings=Settings(base_url=server_url), session=session, progress=False)
    assert session._clients == {}


def test_a_sweep_lets_each_finished_request_go_while_it_runs(server_url):
    """A finished request's Call (its images, their decoded pixels) is not kept by the run: only those in
    flight are alive, so a long sweep's memory stays flat (RSS figures: benchmarks/sweeps.py)."""
    from imagemagic.call import Call
    from imagemagic.expand import expand
    from imagemagic.planning import plan_all
    from imagemagic.run import RunPath

    settings = Settings(base_url=server_url, max_concurrency=1, cache=False)
    variants = expand("kite {i}", i=list(range(6)))
    path = RunPath(plan_all(variants, settings=settings), cache=False)
    alive = []

    def on_run(run, first):
        gc.collect()
        alive.append(sum(isinstance(o, Call) for o in gc.get_objects()))

    sweep_ = path.run_sync(path.many(variants, on_run=on_run))
    assert len(sweep_) == 6 and max(alive) <= 1, alive


def test_image_takes_a_python_list(ip, server_url):
    ip.run_cell_magic("imagegen", "--size 1024x1024 --out pics -n 2", "two kites")
    ip.run_cell("both = list(pics)")
    ip.run_cell_magic("imagegen", "--image both --out edited", "make them blue")
    assert len(ip.user_ns["edited"].request.images) == 2


def test_models_into_a_closed_pipe_ends_quietly(tmp_path):
    env = {**os.environ, "IMAGEMAGIC_HOME": str(tmp_path)}
    done = subprocess.run(
        f"{sys.executable} -m imagemagic models | head -2", shell=True, capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert len(done.stdout.splitlines()) == 2 and done.stderr == ""


def test_saving_into_a_file_path_is_one_line(server_url, tmp_path):
    result = imagemagic.generate("a kite", base_url=server_url)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError) as caught:
        result.save(tmp_path / "file")
    assert str(caught.value) == f"could not save into {tmp_path / 'file'}: File exists"


def test_an_unexpected_error_in_the_panels_task_shows_in_the_panel(served_panel, monkeypatch):
    from imagemagic.call import Call

    async def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Call, "run", broken)
    served_panel.controls["prompt"].value = "a kite"

    async def click():
        served_panel.generate_button.click()
        return await served_panel.task

    run = asyncio.run(click())
    assert run.error == "failed: RuntimeError: boom" and isinstance(run.exception, RuntimeError)
    assert served_panel.status.value.endswith("failed: RuntimeError: boom; kept 0 images after 0.0 s</span>")


@pytest.fixture
def served_panel(server_url):
    return imagemagic.panel(base_url=server_url)


def test_a_warning_is_one_line_in_a_notebook_from_the_magic_and_from_generate(tmp_path):
    from helpers.kernels import kernel

    line = (
        "warning: size=640x480 is 307,200 pixels, below the 655,360 that client libraries require; "
        "OpenAI's reference states no minimum, so it is sent as written\n"
    )
    with kernel(IMAGEMAGIC_HOME=str(tmp_path)) as k:
        for code in (
            "%%imagegen --size 640x480\na kite",
            "import imagemagic; imagemagic.generate('a kite', size='640x480')",
        ):
            errs = [c["text"] for kind, c in k.run(code) if kind == "stream" and c["name"] == "stderr"]
            assert errs == [line], code


def test_the_panel_shows_the_history_line_in_its_status(served_panel, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path / "a-file" / "home"))
    served_panel.controls["prompt"].value = "a kite"

    async def click():
        served_panel.generate_button.click()
        return await served_panel.task

    run = asyncio.run(click())
    assert run.notes == [history_line(tmp_path / "a-file" / "home")] and len(run.images) == 1
    assert f" · warning: {history_line(tmp_path / 'a-file' / 'home')}" in html.unescape(served_panel.status.value)


SCRIPT = """
import imagemagic, imagemagic.sweeps, IPython.utils.text, sys
print("ready", flush=True)
try:
    settings = imagemagic.Settings(base_url=sys.argv[1])
    imagemagic.sweep("a {animal}", animal=["fox", "owl", "cat"], settings=settings, progress=False)
except KeyboardInterrupt as stop:
    print(type(stop.partial).__name__, len(stop.partial), stop.partial.total)
"""


def test_in_plain_python_the_interrupt_propagates_with_the_sweep_so_far(start_server, tmp_path):
    import signal
    import time

    url = start_server(delay=30.0)
    env = {**os.environ, "IMAGEMAGIC_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    assert proc.stdout.readline() == "ready\n"
    time.sleep(2)  # the requests are out: the server takes 30 s per image
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert out == "Sweep 0 3\n", err


def test_the_cli_says_the_interrupt_in_one_line_and_exits_130(tmp_path):
    import signal
    import time

    env = {**os.environ, "IMAGEMAGIC_HOME": str(tmp_path), "IMAGEMAGIC_PREVIEW_DELAY": "30"}
    command = [sys.executable, "-m", "imagemagic", "generate", "a kite", "--offline", "--output-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr.readline().startswith("offline: using the offline preview server at http://127.0.0.1:")
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "interrupted: the connection was closed\n")


def test_an_unknown_model_stops_only_the_requests_for_that_model():
    unknown = {
        "message": "The model 'ghost' does not exist.",
        "type": "invalid_request_error",
        "code": "model_not_found",
    }
    server = ScriptedServer(reply(404, {"error": unknown}))
    try:
        settings = Settings(base_url=server.url, max_concurrency=1, max_retries=0)
        with pytest.warns(ImageMagicWarning) as caught:
            result = sweep("a {animal}", model=["ghost", "gpt-image-2"], animal=["fox", "owl"], settings=settings,
                           session=Session(), progress=False)  # fmt: skip
        assert len(server.requests) == 3
        assert [run.sent for run in result] == [True, False, True, True]
        assert len(result.images) == 2
        assert said(caught) == [
            f"stopped: {result[0].error}; 1 request got this answer and 1 was not sent: "
            "no other request for ghost could get past it"
        ]
    finally:
        server.close()


def test_help_lists_allowed_values_from_the_catalog():
    from imagemagic.catalog import MODELS
    from imagemagic.cli import _parser
    from imagemagic.flags import help_for

    assert help_for("quality") == (
        "One of standard, hd, low, medium, high, auto, xhigh, max (which model takes which: --models)."
    )
    generate = _parser()._subparsers._group_actions[0].choices["generate"]
    text = " ".join(generate.format_help().split("options:")[1].split())
    for name in ("quality", "output_format", "background", "moderation", "style"):
        for value in {v for m in MODELS.values() for v in m.allowed(name)}:
            assert value in text.split(f"--{name.replace('_', '-')} ")[1].split(" --")[0], (name, value)
