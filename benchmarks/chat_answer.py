"""A chat-completions image answer carrying a photo-sized image, ours against the official `openai` SDK.

    python benchmarks/chat_answer.py        # from the project's virtual environment; about half a minute

The replay server answers every request with one chat completion whose image is the 3840x2160 photo payload of
run.py (about 17 MB of PNG, 23 MB of base64) as OpenRouter sends it: a data URL in `message.images`, as JSON or
as a chunk stream (`delta.images`, usage in the last chunk).

- **ours**: `imagemagic.generate(prompt, model="gemini-2.5-flash-image")` (the chat dialect): the image is
  decoded as it arrives into a spool, checked, and stored in the history folder (fsynced).
- **sdk**: `OpenAI(...).chat.completions.create(...)` (stream consumed to the end), then the data URL's base64
  decoded to bytes (kept in memory; nothing stored).

Each path runs in its own process (fresh history folder), best of 7 for wall and CPU time (`time.process_time`);
peak RSS growth is VmHWM over the RSS after imports. Ratios ours/sdk are printed.
"""

from __future__ import annotations

import base64
import json
import sys
import time

from run import memory, photo_final, replay_server, spawn

MODEL = "gemini-2.5-flash-image"
REPEAT = 7  # best of: the calls take about 0.2 s, where a shared machine's noise is large
USAGE = {"prompt_tokens": 9, "completion_tokens": 1290, "completion_tokens_details": {"image_tokens": 1290}}


def answers():
    """(JSON answer, chunk stream) carrying the photo payload as a data URL."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + photo_final()}}
    message = {"role": "assistant", "content": "", "images": [image]}
    base = {"id": "gen-1", "created": int(time.time()), "model": MODEL}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    answer = {**base, "object": "chat.completion", "choices": [choice], "usage": USAGE}
    chunks = [{**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": message}]},
              {**base, "object": "chat.completion.chunk", "choices": [], "usage": USAGE}]  # fmt: skip
    stream = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
    return json.dumps(answer).encode(), stream


def ours(url, stream):
    import imagemagic
    from imagemagic import Settings

    settings = Settings(base_url=url, api_key="sk-bench", cache=False)
    result = imagemagic.generate("a lighthouse at dawn", model=MODEL, stream=stream, settings=settings)
    return result[0].size


def sdk(url, stream):
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="sk-bench")
    messages = [{"role": "user", "content": "a lighthouse at dawn"}]
    if stream:
        images = [
            image
            for chunk in client.chat.completions.create(model=MODEL, messages=messages, stream=True)
            for choice in chunk.choices
            for image in (choice.delta.model_extra or {}).get("images") or []
        ]
    else:
        answer = client.chat.completions.create(model=MODEL, messages=messages)
        images = (answer.choices[0].message.model_extra or {}).get("images") or []
    return len(base64.b64decode(images[0]["image_url"]["url"].partition(",")[2]))


def worker(path, url, form):
    run = {"ours": ours, "sdk": sdk}[path]
    import openai  # noqa: F401 - both paths' imports outside the measure

    import imagemagic  # noqa: F401

    baseline = memory("VmRSS")
    walls, cpus = [], []
    for _ in range(REPEAT):
        wall, cpu = time.perf_counter(), time.process_time()
        run(url, form == "stream")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(json.dumps({"wall": min(walls), "cpu": min(cpus), "rss_growth": memory("VmHWM") - baseline}))


def main():
    answer, stream = answers()
    urls = {"json": replay_server(answer, "application/json"), "stream": replay_server(stream)}
    print(f"payload: {len(answer) / 1e6:.1f} MB of JSON (one data URL)")
    print("| form | path | wall s | CPU s | peak RSS growth MiB |")
    print("|---|---|---|---|---|")
    ratios = []
    for form, url in urls.items():
        got = {path: spawn(__file__, "worker", path, url, form) for path in ("ours", "sdk")}
        for path, m in got.items():
            print(f"| {form} | {path} | {m['wall']:.3f} | {m['cpu']:.3f} | {m['rss_growth'] / 2**20:.0f} |")
        ratios.append((form, *(got["ours"][k] / got["sdk"][k] for k in ("wall", "cpu", "rss_growth"))))
    for form, wall, cpu, rss in ratios:
        print(f"{form}: ours/sdk wall {wall:.3f}×, CPU {cpu:.3f}×, peak RSS growth {rss:.3f}×")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(*sys.argv[2:])
    else:
        main()
