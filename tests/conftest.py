"""Shared fixtures: a clean environment per test, the real local server on loopback, a real
IPython shell with the extension loaded, and a recording endpoint."""

from __future__ import annotations

import json

import pytest
from helpers.environment import ENDPOINT_VARIABLES, SERVER_VARIABLES
from helpers.servers import serve_in_thread

from imagemagic.server import embedded

pytest_plugins = ("helpers.scripted",)  # the `scripted` fixture

_ENV = (*ENDPOINT_VARIABLES, *SERVER_VARIABLES)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No keys or endpoints from the developer's environment; history in a temporary folder."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEMAGIC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _start(**options):
    url, server, thread = embedded.start(**options)
    return url, lambda: (setattr(server, "should_exit", True), thread.join(5))


@pytest.fixture(scope="session")
def server_url():
    """Base URL (with /v1) of a real local server on 127.0.0.1, shared by the session."""
    url, stop = _start()
    yield url
    stop()


@pytest.fixture
def start_server():
    """Start extra servers with options (delay=, api_key=, batch_delay=); all are stopped after the test."""
    stops = []

    def start(**options):
        url, stop = _start(**options)
        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def rendered(monkeypatch):
    """The images local servers in this process render (a list, one item per image: counted where every route
    renders)."""
    from imagemagic.server.app import PreviewService

    count = []
    final = PreviewService.final

    def counting(self, req, index):
        count.append(index)
        return final(self, req, index)

    monkeypatch.setattr(PreviewService, "final", counting)
    return count


@pytest.fixture
def ip(server_url, monkeypatch):
    """A real IPython shell with %load_ext imagemagic, pointed at the session's local server, inline display."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()  # start_ipython returns None after its first call
    shell.run_line_magic("load_ext", "imagemagic")
    monkeypatch.setenv("OPENAI_BASE_URL", server_url)
    shell.run_line_magic("config", "ImageGenMagics.display = 'inline'")
    yield shell
    shell.run_line_magic("reset", "-f")
    from imagemagic.magics import ImageGenMagics

    magics = shell.magics_manager.registry["ImageGenMagics"]
    for name, trait in ImageGenMagics.class_traits(config=True).items():
        setattr(magics, name, trait.default())


class Recorder:
    """An endpoint that records every request (method, path, query, headers, body; a multipart body's
    fields as `body` and every part in order as `parts`) and answers like the Images API with tiny real
    PNGs of the requested size (non-streaming). Set `.models` to a list of model objects to serve them
    at GET /v1/models, or to 404 to have no such route. POST .../responses answers a Response object holding one
    image_generation_call."""

    def __init__(self):
        self.requests = []
        self.models = None

    async def __call__(self, scope, receive, send):
        import base64
        import io

        from PIL import Image
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        request = Request(scope, receive)
        raw = await request.body()
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        parts = await _parts(request) if multipart else None
        body = {p["name"]: p["value"] for p in parts if "value" in p} if multipart else json.loads(raw) if raw else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "raw": raw,
                "body": body,
                "parts": parts,
            }
        )
        if self.models is not None and request.url.path.endswith("/models"):
            answer = (
                JSONResponse({"error": {"message": "Not Found", "type": "invalid_request_error"}}, status_code=404)
                if self.models == 404
                else JSONResponse({"object": "list", "data": self.models})
            )
            await answer(scope, receive, send)
            return
        size = (body or {}).get("size") or "1024x1024"
        width, height = (int(x) for x in (size if size != "auto" else "1024x1024").split("x"))
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
        b64 = base64.b64encode(buffer.getvalue()).decode()
        if request.url.path.endswith("/responses"):  # a Responses API call: one image_generation_call
            await JSONResponse(_response_answer(len(self.requests), b64))(scope, receive, send)
            return
        count = int((body or {}).get("n") or 1)
        answer = {
            "created": 1,
            "data": [{"b64_json": b64} for _ in range(count)],
            "usage": {
                "input_tokens": 3,
                "output_tokens": 7,
                "total_tokens": 10,
                "input_tokens_details": {"text_tokens": 3, "image_tokens": 0},
            },
        }
        await JSONResponse(answer, headers={"x-request-id": f"req_rec{len(self.requests)}"})(scope, receive, send)


def _response_answer(number, b64):
    """A Responses API answer holding one image (the image tool's usage apart from the mainline model's)."""
    image_tokens = {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10}
    return {
        "id": f"resp_rec{number}",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "output": [{"id": f"ig_rec{number}", "type": "image_generation_call", "status": "completed", "result": b64}],
        "usage": {"input_tokens": 50, "output_tokens": 20, "total_tokens": 70},
        "tool_usage": {"image_gen": {**image_tokens, "input_tokens_details": {"text_tokens": 3, "image_tokens": 0}}},
    }


async def _parts(request):
    """A multipart body's parts in order: {name, value} for a field, {name, filename, content_type, data} for a file."""
    form = await request.form(max_files=64)
    parts = []
    for name, value in form.multi_items():
        if hasattr(value, "read"):
            data = await value.read()
            parts.append({"name": name, "filename": value.filename, "content_type": value.content_type, "data": data})
        else:
            parts.append({"name": name, "value": value})
    return parts


@pytest.fixture
def recorder():
    """A Recorder served on loopback: `.base` is its root URL (no /v1), `.requests` what it received."""
    rec = Recorder()
    rec.base, stop = serve_in_thread(rec)
    yield rec
    stop()
