"""The client against hostile servers and odd keys, over real loopback HTTP: keys with line breaks are
refused by name in every front end, a key echoed in any server field is masked everywhere, downloads
never reach link-local or metadata addresses, nothing hangs past the timeout, answers are capped,
odd answers end in one line, and extra images are all kept."""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import os
import subprocess
import sys
import time

import pytest
from helpers.scripted import (
    completed_event,
    event,
    keep_alive,
    ok_body,
    partial_event,
    png_b64,
    redirect,
    reply,
    stream,
    trickle,
)
from helpers.warned import said as warned
from IPython.utils.capture import capture_output
from PIL import Image

import imagemagic
import imagemagic.display
from imagemagic.client import ImagesClient, Status
from imagemagic.controlpanel import panel
from imagemagic.display import LiveDisplay
from imagemagic.endpoint import Endpoint
from imagemagic.errors import APIError, APITimeoutError, CredentialError, ImageDataError, TransportError
from imagemagic.request import ImageRequest
from imagemagic.result import GeneratedImage

KEY = "canary-key-0123456789abcdefABCDEF"


def call(url, *, key=None, n=None, stream_=False, **options):
    """Generate from `url` with an ImagesClient; return (result or error, status lines, seconds taken)."""
    lines = []
    request = ImageRequest(prompt="a kite", model="gpt-image-2", n=n, stream=stream_ or None)
    client = ImagesClient(Endpoint(url, key), **options)
    started = time.monotonic()

    def on_event(item):
        if isinstance(item, Status):
            lines.append(item.message)

    try:
        return client.generate(request, on_event=on_event), lines, time.monotonic() - started
    except Exception as exc:  # the error is what the test looks at
        return exc, lines, time.monotonic() - started
    finally:
        client.close()


def magic(ip, url, flags=""):
    """Run a %%imagegen cell against `url` with the canary key; return the captured output."""
    os.environ["OPENAI_BASE_URL"] = url  # the ip fixture's monkeypatch restores it
    os.environ["OPENAI_API_KEY"] = KEY
    with capture_output() as captured:
        ip.run_cell(f"%%imagegen --model gpt-image-2 {flags}\na red kite")
    return captured


# --- 1. keys and ids that cannot be sent ------------------------------------------------------


def odd(name):
    return (
        f"{name} contains whitespace, control or non-ASCII characters inside it (a line break or a pasted header?); "
        "set it to the value alone; nothing was sent"
    )


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"OPENAI_API_KEY": f"{KEY}\r\nX-Other: 1"}, "OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": f"sk-{KEY} {KEY}"}, "OPENAI_API_KEY"),
        ({"AZURE_OPENAI_API_KEY": f"{KEY}\x1b[0m"}, "AZURE_OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": KEY, "OPENAI_ORG_ID": "org-1\nX-Other: 1"}, "OPENAI_ORG_ID"),
        ({"OPENAI_API_KEY": KEY, "OPENAI_PROJECT_ID": "proj-\x7f1"}, "OPENAI_PROJECT_ID"),
    ],
)
def test_a_key_or_id_with_odd_characters_inside_is_one_line_naming_it_in_every_front_end(
    ip, monkeypatch, scripted, tmp_path, env, name
):
    server = scripted()
    if "AZURE_OPENAI_API_KEY" in env:
        monkeypatch.delenv("OPENAI_BASE_URL")
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    line = odd(name)

    with pytest.raises(CredentialError) as caught:
        imagemagic.generate("a kite")
    assert str(caught.value) == line

    with capture_output() as captured:
        ip.run_cell("%%imagegen\na kite")
    assert captured.stderr == f"UsageError: {line}\n"

    cli = subprocess.run(
        [sys.executable, "-m", "imagemagic", "generate", "a kite", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (cli.returncode, cli.stdout, cli.stderr) == (2, "", f"imagemagic: error: {line}\n")

    p = panel()
    p.controls["prompt"].value = "a kite"

    async def click():
        return p.generate()

    assert asyncio.run(click()) is None
    assert html.unescape(p.status.value).endswith(f">{line}</span>")
    assert server.requests == []
    assert KEY not in line


def test_the_api_key_argument_is_named_too(scripted):
    server = scripted()
    with pytest.raises(CredentialError) as caught:
        imagemagic.generate("a kite", api_key=f"{KEY}\nX-Other: 1", base_url=server.url)
    assert str(caught.value) == odd("the api_key argument")
    assert server.requests == []


def test_an_endpoint_made_directly_is_checked_too():
    with pytest.raises(CredentialError) as caught:
        Endpoint("http://127.0.0.1:9/v1", f"{KEY}\r\nX-Other: 1")
    assert str(caught.value) == odd("the endpoint's api_key")
    assert Endpoint("http://127.0.0.1:9/v1", f" {KEY}\n").api_key == KEY


def test_whitespace_around_a_key_is_stripped(scripted, monkeypatch):
    server = scripted()
    monkeypatch.setenv("OPENAI_API_KEY", f"  {KEY}\n")
    monkeypatch.setenv("OPENAI_ORG_ID", "\torg-1 ")
    assert len(imagemagic.generate("a kite", base_url=server.url)) == 1
    head = server.requests[0][0]
    assert f"\r\nAuthorization: Bearer {KEY}\r\n" in head
    assert "\r\nOpenAI-Organization: org-1\r\n" in head


# --- 2. a key echoed in any field the server sends ----------------------------------------------


def _everything_written(home):
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


ECHO = {"x-request-id": f"req-{KEY}"}


@pytest.mark.parametrize(
    "step",
    [
        reply(body=ok_body(revised_prompt=f"a kite, as {KEY} asked"), headers=ECHO),
        stream(
            event(
                "image_generation.completed", b64_json=png_b64(), revised_prompt=f"a kite, as {KEY} asked", size="8x8"
            ),
            headers=ECHO,
        ),
    ],
    ids=["json", "stream"],
)
def test_a_key_echoed_in_a_successful_answer_reaches_nothing(ip, scripted, clean_env, step):
    server = scripted(step)
    captured = magic(ip, server.url, "--stream --out pic" if "stream" in repr(step) else "--out pic")
    pic = ip.user_ns["pic"]
    assert "[1] 8x8 png · revised prompt: a kite, as *** asked" in captured.stdout
    assert pic.request_ids == ["req-***"] and pic.images[0].revised_prompt == "a kite, as *** asked"
    texts = [captured.stdout, captured.stderr, repr(pic), repr(pic.images), repr(vars(pic))]
    texts += [json.dumps(o.data) for o in captured.outputs]
    assert all(KEY not in text for text in texts)
    written = _everything_written(clean_env)
    assert b"req-***" in written and KEY.encode() not in written


def test_a_key_echoed_in_every_field_of_an_error_reaches_nothing(ip, scripted):
    body = {"error": {"message": f"no {KEY}", "type": f"t-{KEY}", "param": {"key": KEY}, "code": KEY}}
    server = scripted(reply(401, body, ECHO), stream(event("error", **body), headers=ECHO))
    captured = magic(ip, server.url)
    assert captured.stderr == (
        'UsageError: HTTP 401 (type=t-***, param={"key": "***"}, code=***): no *** [request id req-***]\n'
    )
    error, _, _ = call(server.url, key=KEY, stream_=True)
    assert isinstance(error, APIError)
    assert str(error) == 'error in stream (type=t-***, param={"key": "***"}, code=***): no *** [request id req-***]'
    assert KEY not in repr(vars(error)) + captured.stdout


# --- 3. downloads go to http(s) only, never to link-local or metadata addresses ------------------


REFUSED = "a link-local or cloud metadata address"


@pytest.mark.parametrize(
    ("target", "line"),
    [
        ("http://169.254.169.254/latest/meta-data/", f"image 1: refused to download from 169.254.169.254: {REFUSED}"),
        ("http://169.254.10.20/a.png", f"image 1: refused to download from 169.254.10.20: {REFUSED}"),
        (
            "http://metadata.google.internal/a.png",
            f"image 1: refused to download from metadata.google.internal: {REFUSED}",
        ),
        ("http://metadata/a.png", f"image 1: refused to download from metadata: {REFUSED}"),
        ("http://[fe80::1]/a.png", f"image 1: refused to download from fe80::1: {REFUSED}"),
        ("http://[fd00:ec2::254]/a.png", f"image 1: refused to download from fd00:ec2::254: {REFUSED}"),
        (
            "http://[::ffff:169.254.169.254]/a.png",
            f"image 1: refused to download from ::ffff:169.254.169.254: {REFUSED}",
        ),
        ("gopher://127.0.0.1/a.png", "image 1: refused to download gopher: URL (only http and https)"),
    ],
)
@pytest.mark.parametrize("via", ["answer", "redirect"])
def test_downloads_never_reach_link_local_or_metadata_addresses(scripted, target, line, via):
    server = scripted()
    first = target if via == "answer" else f"http://127.0.0.1:{server.port}/files/a.png"
    server.steps += [reply(body={"created": 1, "data": [{"url": first}]})]
    if via == "redirect":
        server.steps += [redirect(target, 307)]
    error, _, _ = call(server.url)
    assert type(error) is ImageDataError and str(error) == line
    assert len(server.requests) == (1 if via == "answer" else 2)


def test_redirects_on_loopback_are_followed_and_bounded(scripted):
    server = scripted()
    png = base64.b64decode(png_b64((16, 8)))
    here = f"http://127.0.0.1:{server.port}"
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"{here}/files/a.png"}]}),
        redirect("/files/b.png", 301),
        redirect(f"http://localhost:{server.port}/files/c.png"),
        reply(raw=png, headers={"Content-Type": "image/png"}),
    ]
    result, _, _ = call(server.url)
    assert result[0].size == (16, 8)
    server.steps += [reply(body={"created": 1, "data": [{"url": f"{here}/files/a.png"}]})]
    server.steps += [redirect(f"{here}/files/loop.png") for _ in range(6)]
    error, _, _ = call(server.url)
    assert type(error) is TransportError and str(error) == "image 1: download refused after 5 redirects"


# --- 4. nothing hangs: the whole answer (and each download) within the timeout --------------------

BILLED = "the request was sent and may have been billed, so it was not retried"
KEPT_OPEN = (
    "no complete answer from 127.0.0.1 within 1 s (the timeout): the server kept the connection open "
    f"without finishing; {BILLED}"
)


def ordinary_call_seconds(scripted, **options):
    """The baseline: seconds the same client takes for an answer that comes at once, from the same kind of server."""
    result, _, took = call(scripted(reply(body=ok_body())).url, **options)
    assert len(result) == 1
    return took


def assert_cut_off_at(took, timeout, baseline):
    """Cut off by its timeout: not before it, and before a second one could end, beyond what ordinary calls take."""
    shown = f"{took:.2f} s (timeout {timeout} s, baseline {baseline:.2f} s)"
    assert 0.9 * timeout < took < 2 * timeout + 2 * baseline, shown


def test_keep_alive_comments_forever_are_cut_off_at_the_timeout(scripted):
    timeout = 1.0
    baseline = ordinary_call_seconds(scripted, timeout=timeout)
    server = scripted(keep_alive(0.1, head=partial_event()))
    error, _, took = call(server.url, stream_=True, timeout=timeout)
    assert type(error) is APITimeoutError and str(error) == KEPT_OPEN
    assert error.partial is not None and error.partial.partial  # the partial that came is kept
    assert_cut_off_at(took, timeout, baseline)


def test_an_answer_trickling_in_is_cut_off_at_the_timeout(scripted):
    timeout = 1.0
    baseline = ordinary_call_seconds(scripted, timeout=timeout)
    server = scripted(trickle(json.dumps(ok_body()).encode(), 0.1, "application/json"))
    error, _, took = call(server.url, timeout=timeout)
    assert type(error) is APITimeoutError and str(error) == KEPT_OPEN
    assert_cut_off_at(took, timeout, baseline)


def test_a_download_trickling_in_is_cut_off_at_the_timeout(scripted):
    timeout = 1.0
    baseline = ordinary_call_seconds(scripted, timeout=timeout)
    server = scripted()
    server.steps += [
        reply(body={"created": 1, "data": [{"url": f"http://127.0.0.1:{server.port}/files/a.png"}]}),
        trickle(base64.b64decode(png_b64()), 0.1),
    ]
    error, _, took = call(server.url, timeout=timeout)
    assert type(error) is APITimeoutError and str(error) == "image 1: download failed (not complete within 1 s)"
    assert_cut_off_at(took, timeout, baseline)


# --- 5. answers are capped ------------------------------------------------------------------------

CAP = 2**20
JUNK = "A" * (3 * CAP)


@pytest.mark.parametrize(
    ("step", "line"),
    [
        (reply(body=ok_body(JUNK)), "the answer"),
        (reply(body=ok_body(JUNK), length=False), "the answer"),
        (stream(partial_event(), event("image_generation.completed", b64_json=JUNK)), "a stream event"),
        (stream(b": " + JUNK.encode() + b"\n\n"), "a stream event"),
    ],
    ids=["json-declared", "json-counted", "stream-event", "stream-comment"],
)
def test_an_answer_or_event_past_the_cap_is_refused(scripted, step, line):
    server = scripted(step)
    error, _, _ = call(server.url, stream_=b"stream" in repr(step).encode(), max_answer_bytes=CAP)
    assert type(error) is TransportError
    assert str(error) == f"{line} from 127.0.0.1 is larger than 1 MiB (max_answer_mb); it was not read further"


def test_max_answer_mb_is_a_config_option_the_magic_uses(ip, scripted):
    ip.run_line_magic("config", "ImageGenMagics.max_answer_mb = 1")
    server = scripted(reply(body=ok_body(JUNK)))
    captured = magic(ip, server.url)
    assert captured.stderr == (
        "UsageError: the answer from 127.0.0.1 is larger than 1 MiB (max_answer_mb); it was not read further\n"
    )


# --- 6. odd answers: one line each, placeholders always end ---------------------------------------


def _bomb_b64():
    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


REDIRECTED = (
    "HTTP {} from 127.0.0.1: the server redirects to https://elsewhere.example/v1/images/generations; requests are "
    "not followed elsewhere (the key would go along): set the base URL to the new address if you trust it"
)


@pytest.mark.parametrize(
    ("step", "stream_", "line"),
    [
        (
            stream(b'event: odd\ndata: {"type": 5, "b64_json": "AAAA"}\n\n'),
            True,
            "a 'odd' event of the stream has a type that is not a string",
        ),
        (redirect("https://elsewhere.example/v1/images/generations", 301), False, REDIRECTED.format(301)),
        (redirect("https://elsewhere.example/v1/images/generations", 307), False, REDIRECTED.format(307)),
    ],
    ids=["type-not-a-string", "301", "307"],  # an empty data list is a moderation refusal: test_refusals.py
)
def test_odd_answers_end_in_one_line(scripted, step, stream_, line):
    server = scripted(step)
    error, _, _ = call(server.url, key=KEY, stream_=stream_)
    assert type(error) is TransportError and str(error) == line
    assert len(server.requests) == 1


def test_a_partial_that_is_a_decompression_bomb_is_skipped_with_a_status_line(scripted):
    server = scripted(stream(partial_event(_bomb_b64()), completed_event()))
    result, lines, _ = call(server.url, stream_=True)
    assert len(result) == 1 and not result.partial
    assert lines == [
        "partial skipped: image 1: refused as a possible decompression bomb (9000x9000 is more than 67,108,864 pixels)"
    ]


@pytest.fixture
def drawn(monkeypatch):
    """The lines of every placeholder drawn."""
    lines = []
    real = imagemagic.display.placeholder_png
    monkeypatch.setattr(
        imagemagic.display, "placeholder_png", lambda size, text: lines.append(text) or real(size, text)
    )
    return lines


def test_an_undecodable_partial_leaves_the_placeholder_with_a_line(ip, drawn):
    request = ImageRequest(prompt="x", stream=True, partial_images=1, size="1024x1024").validated()
    with capture_output() as captured:
        live = LiveDisplay(request)
        live.open()
        live.on_event(GeneratedImage(b64="@@@@", partial=True, partial_index=0))  # no loop: shown at once
        live.finish()
    assert drawn[1][2] == "skipped: image 1: the data is not a PNG, JP…"
    assert drawn[-1] == [
        "no image · gpt-image-2 · 1024x1024",
        "image 1 of 1 · 0 s · 1 partials coming",
        "the server sent no image for it",
    ]
    assert [out.data["text/plain"] for out in captured.outputs] == ["<image 1 of 1 · gpt-image-2 · 1024x1024>"] * 3


def test_a_slot_the_server_never_filled_ends_as_no_image(ip, scripted, drawn):
    server = scripted(reply(body=ok_body()))
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        magic(ip, server.url, "-n 2 --size 1024x1024 --out pic")
    assert len(ip.user_ns["pic"]) == 1 and warned(said) == ["1 of 2 images arrived (n=2)"]
    assert drawn[-1] == ["no image · gpt-image-2 · 1024x1024", "image 2 of 2 · 0 s", "the server sent no image for it"]


# --- 7. more images than requested: the first n kept, the rest ignored (the run path says so) ---------


@pytest.mark.parametrize(
    ("step", "stream_"),
    [
        (reply(body={**ok_body(), "data": [{"b64_json": png_b64()}, {"b64_json": png_b64(colour=(1, 2, 3))}]}), False),
        (stream(completed_event(), partial_event(), completed_event(png_b64(colour=(1, 2, 3)))), True),
    ],
    ids=["json", "stream"],
)
def test_more_images_than_requested_keep_the_first(scripted, step, stream_):
    server = scripted(step)
    result, lines, _ = call(server.url, stream_=stream_)
    assert [img.index for img in result.images] == [0] and not result.partial
    assert result[0].getpixel((0, 0)) != (1, 2, 3)
    assert lines == []  # said once by the run path (tests/test_answer_caps.py), not as a status line


def test_extra_images_of_a_fanned_out_stream_are_ignored(scripted):
    server = scripted(stream(completed_event(), completed_event()), stream(completed_event()))
    result, lines, _ = call(server.url, n=2, stream_=True)
    assert [img.index for img in result.images] == [0, 1]


def test_the_magic_binds_what_was_asked_and_says_the_rest(ip, scripted, clean_env):
    server = scripted(stream(completed_event(), completed_event()))
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        magic(ip, server.url, "--stream --out pic")
    assert len(ip.user_ns["pic"]) == 1
    assert warned(said) == ["the server sent 2 images for n=1: kept 1, ignored 1"]
    assert len(list(clean_env.rglob("*.png"))) == 1


# -- an error answer over the 64 KiB read for its message: its start, bounded --------------------------------------

HTML = {"Content-Type": "text/html"}
_LONG = {"error": {"message": f"Your prompt was refused ({KEY})", "type": "invalid_request_error", "param": None}}
_LONG["error"].update(code="moderation_blocked", details="x" * 200_000)


@pytest.mark.parametrize(
    ("answer", "said", "code"),
    [
        (  # the JSON cut: the error's fields from its first bytes
            reply(400, _LONG),
            "HTTP 400 (type=invalid_request_error, code=moderation_blocked): Your prompt was refused (***) "
            "[request id req_test]",
            "moderation_blocked",
        ),
        (
            reply(502, raw=f"<html>\n<title>upstream {KEY} down</title>".encode() + b" " * 200_000, headers=HTML),
            "HTTP 502: <html> <title>upstream *** down</title> (the start of an answer of over 64 KiB) "
            "[request id req_test]",
            None,
        ),
    ],
)
def test_an_error_answer_over_64_kib_says_its_start_in_one_line(scripted, answer, said, code):
    from imagemagic.files import BatchAPI

    server = scripted(answer, answer)
    error, _, _ = call(server.url, key=KEY, max_retries=0)
    assert (str(error), error.code) == (said, code)

    async def upload():
        async with BatchAPI(Endpoint(server.url, KEY), max_retries=0) as api:
            return await api.upload(b"{}\n", "in.jsonl")

    with pytest.raises(APIError) as caught:  # the Files client reads the same bounded start
        asyncio.run(upload())
    assert (str(caught.value), caught.value.code) == (said, code)
