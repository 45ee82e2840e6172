"""Chat-completions image models (api="chat"): the request's rules and body, and the one run path over the real
local server's /v1/chat/completions (history, cache, budget, recipes, sweeps, refinement chains, streams)."""

from __future__ import annotations

import json

import pytest
from helpers.servers import serve_in_thread
from helpers.warned import said as warned
from IPython.core.error import UsageError

import imagemagic
from imagemagic import Settings
from imagemagic.server.asgi import create_app
from imagemagic.session import Session
from imagemagic.settings import prepare

FLASH = "google/gemini-2.5-flash-image"
PRO = "google/gemini-3-pro-image-preview"


class Recording:
    """The local server, recording each chat body it answers."""

    def __init__(self):
        self.bodies: list[dict] = []
        app = create_app()

        async def recording(scope, receive, send):
            if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
                await app(scope, receive, send)
                return
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            self.bodies.append(json.loads(b"".join(chunks)))
            replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

            async def replayed():  # the body once, then the client's own messages (a stream waits for disconnect)
                return replay.pop() if replay else await receive()

            await app(scope, replayed, send)

        self.base, self.stop = serve_in_thread(recording)


@pytest.fixture
def chat():
    server = Recording()
    yield server
    server.stop()


def _settings(server, **options):
    return Settings(base_url=server.base + "/v1", api_key="test-chat-key", **options)


def test_a_known_chat_model_goes_as_a_chat_with_its_shape():
    plan = prepare("a fox", {"model": FLASH, "size": "16:9"}, settings=Settings(offline=True))
    assert plan.request.api == "chat"
    assert plan.request.wire_body() == {
        "model": FLASH,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a fox"}]}],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},
    }
    assert plan.request.size == "1344x768" and plan.warnings == ()


@pytest.mark.parametrize(("resolution", "dollars"), [(None, 0.134404), ("1K", 0.134404), ("2K", 0.134404),
                                                    ("4K", 0.240004)])  # fmt: skip
def test_gemini_3_pro_is_quoted_at_its_price_per_resolution(resolution, dollars):
    """Google bills 1,120 image tokens at 1K and 2K ($0.134) and 2,000 at 4K ($0.24), at $120 per 1M; the prompt's
    2 tokens at $2. Before: 4K was quoted at 1,120 tokens, so a budget let through runs that passed it."""
    from imagemagic.usage import quote

    plan = prepare("a fox", {"model": PRO, "size": "21:9", "resolution": resolution}, settings=Settings(offline=True))
    assert quote(plan.request).amount == pytest.approx(dollars)


def test_a_size_maps_to_the_nearest_aspect_and_a_resolution_to_image_size():
    plan = prepare("a fox", {"model": PRO, "size": "1536x1000", "resolution": "2k"}, settings=Settings(offline=True))
    assert plan.request.wire_body()["image_config"] == {"aspect_ratio": "3:2", "image_size": "2K"}
    assert plan.warnings == (f"size=1536x1000 is aspect_ratio 3:2 on {PRO}: the closest",)
    plain = prepare("a fox", {"model": FLASH, "size": "auto"}, settings=Settings(offline=True))
    assert "image_config" not in plain.request.wire_body()  # nothing asked, nothing sent (never a null)


def test_what_chat_models_do_not_take_is_refused_before_sending():
    with pytest.raises(imagemagic.ValidationError) as caught:
        prepare("a fox", {"model": FLASH, "quality": "high", "resolution": "4K"}, settings=Settings(offline=True))
    assert [p.message for p in caught.value.problems] == [
        "quality='high' is not taken by chat-completions image models: leave it out",
        f"resolution='4K' is not taken by {FLASH}: it makes 1K images; leave it out",
    ]
    with pytest.raises(imagemagic.ValidationError) as caught:
        prepare("a fox", {"model": "gpt-image-2"}, settings=Settings(offline=True, api="chat"))
    assert str(caught.value.problems[0].message) == (
        "model=gpt-image-2 is an Images API model, not a chat-completions image model: use api='images', "
        "or a model such as google/gemini-2.5-flash-image"
    )


def test_history_cache_recipe_over_the_local_server(chat):
    session = Session()
    first = imagemagic.generate("a red fox", model=FLASH, size="portrait", settings=_settings(chat), session=session)
    assert first.images[0].pil.size == (832, 1248)
    assert first.usage["completion_tokens_details"] == {"image_tokens": 1290, "reasoning_tokens": 0}
    assert first.usage["cost"] == pytest.approx(0.0387, abs=1e-4)
    entry = imagemagic.history(1)[0]
    assert entry.meta["parameters"]["size"] == "portrait" and chat.bodies[0]["image_config"] == {"aspect_ratio": "2:3"}
    again = imagemagic.generate("a red fox", model=FLASH, size="portrait", settings=_settings(chat), session=session)
    assert len(chat.bodies) == 1 and again.images[0].data == first.images[0].data  # the cache answered
    cell = imagemagic.recipe(entry).cell()
    assert cell.startswith(f"%%imagegen --model {FLASH} --size portrait ") and cell.endswith("\na red fox")


def test_a_budget_prices_a_chat_run_before_sending_and_counts_what_it_billed(chat):
    session = Session()
    with pytest.raises(imagemagic.BudgetError) as caught:
        imagemagic.generate("a kite", model=FLASH, n=2, session=session, settings=_settings(chat, budget=0.05))
    assert str(caught.value).startswith("budget: this run would cost about $0.077, more than the $0.050 left of")
    assert chat.bodies == []  # refused before sending
    result = imagemagic.generate("a kite", model=FLASH, session=session, settings=_settings(chat, budget=0.05))
    assert len(chat.bodies) == 1 and result.cost_source == "provider"
    assert result.cost == pytest.approx(1290 * 30.0 / 1e6, rel=0.01)  # the server's usage.cost: its image tokens


def test_a_two_cell_sweep_and_a_stream(chat):
    sweep = imagemagic.sweep(
        "a {animal}", rows=[{"animal": "fox"}, {"animal": "owl"}], model=FLASH, settings=_settings(chat),
        progress=False,
    )  # fmt: skip
    assert len(sweep) == 2 and sorted(b["messages"][0]["content"][0]["text"] for b in chat.bodies) == [
        "a fox",
        "a owl",
    ]
    streamed = imagemagic.generate("a heron", model=FLASH, stream=True, settings=_settings(chat))
    assert chat.bodies[-1]["stream"] is True and streamed.usage["cost"] > 0 and len(streamed) == 1


def test_a_two_step_refinement_continues_the_conversation(chat):
    first = imagemagic.generate("a red fox", model=FLASH, size="16:9", settings=_settings(chat))
    step = imagemagic.refine(first, "now at night", settings=_settings(chat))
    sent = chat.bodies[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == [{"type": "text", "text": "a red fox"}]
    assert sent[1]["images"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert sent[2]["content"] == [{"type": "text", "text": "now at night"}]
    assert step.images[0].pil.size == (1344, 768)  # the step keeps the size
    chain = imagemagic.history(1)[0].chain()
    assert [e.meta["prompt"] for e in chain] == ["a red fox", "now at night"]


def test_the_magic_picks_chat_for_a_chat_model_and_continues_it(ip):
    ip.run_cell_magic("imagegen", f"--model {FLASH} --size 16:9 --out fox", "A red fox in a snowy forest")
    ip.run_cell_magic("imagegen", "--continue fox --out fox2", "Now at night")
    fox, fox2 = ip.user_ns["fox"], ip.user_ns["fox2"]
    assert fox.request.api == fox2.request.api == "chat" and fox2[0].size == (1344, 768)
    assert [m["role"] for m in fox2.request.messages()] == ["user", "assistant", "user"]
    ip.run_line_magic("config", "ImageGenMagics.api = 'chat'")
    with pytest.raises(UsageError, match="is not taken by chat-completions image models"):
        ip.run_cell_magic("imagegen", f"--model {FLASH} --quality high", "A red fox")


def test_the_local_chat_route_is_bounded_like_the_others(server_url):
    import httpx

    url = server_url + "/chat/completions"
    ask = {"model": PRO, "messages": [{"role": "user", "content": "x"}], "modalities": ["image", "text"]}
    too_big = httpx.post(url, json={**ask, "image_config": {"aspect_ratio": "1:1", "image_size": "4K"}})
    assert too_big.status_code == 400 and too_big.json()["error"]["param"] == "size"  # 4096x4096: past the pixels
    unknown = httpx.post(url, json={**ask, "tools": []})
    assert unknown.json()["error"] == {
        "message": "Unknown parameter: 'tools'.",
        "type": "invalid_request_error",
        "param": "tools",
        "code": "unknown_parameter",
    }
    flash_2k = httpx.post(url, json={**ask, "model": FLASH, "image_config": {"image_size": "2K"}})
    assert flash_2k.json()["error"]["message"] == f"Invalid 'image_config.image_size' for {FLASH}: use 1K."
    huge = httpx.post(url, content=b"{" + b" " * (65 * 2**20) + b"}", headers={"content-type": "application/json"})
    assert huge.status_code == 413


def test_answers_as_gateways_send_them(scripted):
    """Gemini-style inline_data parts, image_url parts, and a chunk stream whose image comes in delta.images."""
    from helpers.scripted import png_b64, reply, stream

    inline = {"inline_data": {"mime_type": "image/png", "data": png_b64((8, 6))}}
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png_b64((4, 4))}}
    answer = {"object": "chat.completion", "choices": [{"message": {"content": [inline, part]}}], "usage": {"cost": 1}}

    def chunk(delta, **extra):
        return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [{'delta': delta}], **extra})}\n\n"

    images = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + png_b64((5, 3))}}]
    chunks = [
        chunk({"role": "assistant"}),
        chunk({"images": images}),
        chunk({}, usage={"cost": 0.04}),
        "data: [DONE]\n\n",
    ]
    server = scripted(reply(body=answer), stream(*(c.encode() for c in chunks)))
    settings = Settings(base_url=server.url, api_key="test-chat-scripted-key", max_retries=0)
    with pytest.warns(imagemagic.ImageMagicWarning) as said:  # two images for n=1: the first is kept, as for any API
        one = imagemagic.generate("a fox", model=FLASH, settings=settings)
    assert [img.pil.size for img in one.images] == [(8, 6)]
    assert warned(said) == ["the server sent 2 images for n=1: kept 1, ignored 1"]
    streamed = imagemagic.generate("an owl", model=FLASH, stream=True, settings=settings)
    assert streamed.images[0].pil.size == (5, 3) and streamed.usage == {"cost": 0.04}


def test_an_answer_without_an_image_is_one_line(scripted):
    from helpers.scripted import reply

    said = {"id": "gen-1", "object": "chat.completion", "choices": [{"message": {"content": "I can't."}}]}
    server = scripted(reply(body=said))
    with pytest.raises(imagemagic.ImageMagicError) as caught:
        settings = Settings(base_url=server.url, api_key="test-chat-scripted-key", max_retries=0)
        imagemagic.generate("a fox", model=FLASH, settings=settings)
    assert str(caught.value).endswith('the chat completion holds no image; the model answered: "I can\'t."')


def test_the_openrouter_profile_reaches_the_chat_route_under_api_v1(chat):
    settings = Settings(base_url=chat.base + "/api/v1", api_key="test-chat-key", profile="openrouter")
    result = imagemagic.generate("a kite", model=FLASH, size="9:16", settings=settings)
    assert result.images[0].pil.size == (768, 1344) and chat.bodies[-1]["image_config"] == {"aspect_ratio": "9:16"}
    assert (result.cost_source, result.cost) == ("provider", result.usage["cost"])


def test_a_default_a_chat_model_has_no_place_for_is_left_out_with_a_note_a_given_one_refused(recwarn):
    """Before: `%config ImageGenMagics.quality = 'high'` made every chat model's run a refusal, from every front end."""
    settings = Settings(offline=True, defaults={"model": "gpt-image-2", "quality": "high"})
    result = imagemagic.generate("a kite", model=FLASH, settings=settings)
    assert len(result) == 1
    assert f"{FLASH} does not take quality: the default quality='high' is left out" in warned(recwarn)
    with pytest.raises(imagemagic.ValidationError) as caught:
        imagemagic.generate("a kite", model=FLASH, quality="high", settings=settings)
    assert str(caught.value) == "quality='high' is not taken by chat-completions image models: leave it out"
