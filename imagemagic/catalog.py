"""The models we know, as data: sizes, options, limits and lifecycle dates.

One row per model. A name outside the catalog is never blocked: a provider prefix
(`openai/dall-e-3`) borrows the row of the name after the last slash, and anything else
gets only generic checks (see `request.py`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from .params import BY_NAME

DEFAULT_MODEL = "gpt-image-2"


@dataclass(frozen=True)
class FreeSizes:
    """Any WIDTHxHEIGHT within these bounds (gpt-image-2)."""

    multiple: int = 16
    max_ratio: float = 3.0
    max_long_side: int = 3840
    max_short_side: int = 2160
    experimental_above: tuple[int, int] = (2560, 1440)  # more pixels than this: a warning, not an error


@dataclass(frozen=True)
class Model:
    """What one model accepts. An empty tuple means the parameter is not supported."""

    name: str
    family: str
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    max_n: int
    prompt_limit: int
    response_formats: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    moderations: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    complexities: tuple[str, ...] = ()
    streaming: bool = False
    max_partial_images: int = 0
    free_sizes: FreeSizes | None = None
    shutdown: _dt.date | None = None

    def allowed(self, param):
        """The values `param` may take for this model (empty: not supported)."""
        return getattr(self, BY_NAME[param].choices)

    def is_shut_down(self, today=None):
        """True once OpenAI's shutdown date for this model has come."""
        return self.shutdown is not None and (today or _dt.date.today()) >= self.shutdown


_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")


def _gpt_image(name, *, shutdown=None, free_sizes=None, backgrounds=("transparent", "opaque", "auto")):
    return Model(
        name=name,
        family="gpt-image",
        sizes=_GPT_SIZES,
        qualities=("low", "medium", "high", "auto"),
        max_n=10,
        prompt_limit=32000,
        backgrounds=backgrounds,
        output_formats=("png", "jpeg", "webp"),
        moderations=("low", "auto"),
        streaming=True,
        max_partial_images=3,
        free_sizes=free_sizes,
        shutdown=shutdown,
    )


_D = _dt.date
MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            name="dall-e-2",
            family="dall-e-2",
            sizes=("256x256", "512x512", "1024x1024"),
            qualities=("standard",),
            max_n=10,
            prompt_limit=1000,
            response_formats=("url", "b64_json"),
            shutdown=_D(2026, 5, 12),
        ),
        Model(
            name="dall-e-3",
            family="dall-e-3",
            sizes=("1024x1024", "1792x1024", "1024x1792"),
            qualities=("standard", "hd"),
            max_n=1,
            prompt_limit=4000,
            response_formats=("url", "b64_json"),
            styles=("vivid", "natural"),
            shutdown=_D(2026, 5, 12),
        ),
        _gpt_image("gpt-image-1", shutdown=_D(2026, 10, 23)),
        _gpt_image("gpt-image-1-mini", shutdown=_D(2026, 12, 1)),
        _gpt_image("gpt-image-1.5", shutdown=_D(2026, 12, 1)),
        _gpt_image("chatgpt-image-latest", shutdown=_D(2026, 12, 1)),
        _gpt_image("gpt-image-2", free_sizes=FreeSizes(), backgrounds=("opaque", "auto")),
        _gpt_image("gpt-image-2-2026-04-21", free_sizes=FreeSizes(), backgrounds=("opaque", "auto")),
    )
}


def base_name(name):
    """The model name without a gateway's provider prefix (`openai/dall-e-3` → `dall-e-3`)."""
    return name.rsplit("/", 1)[-1]


def lookup(name):
    """The catalog row for a model name, following a provider prefix; None if unknown."""
    return MODELS.get(name) or MODELS.get(base_name(name))


def describe(model, today=None):
    """One line per fact about a model, for `imagemagic models` and `%imagegen --models`."""
    sizes = ", ".join(model.sizes)
    if model.free_sizes:
        f = model.free_sizes
        sizes += (
            f", or any WxH: sides divisible by {f.multiple}, ratio up to {f.max_ratio:g}:1, "
            f"at most {f.max_long_side}x{f.max_short_side} "
            f"(above {'x'.join(map(str, f.experimental_above))} experimental)"
        )
    options = [
        f"{param} {'/'.join(model.allowed(param))}"
        for param in ("quality", "style", "background", "output_format", "moderation", "response_format")
        if model.allowed(param)
    ]
    if model.output_formats:
        options.append("output_compression 0-100 with jpeg/webp")
    if model.streaming:
        options.append(f"stream with partial_images 0-{model.max_partial_images}")
    if model.shutdown:
        state = "shut down" if model.is_shut_down(today) else "shuts down"
        life = f"{state} {model.shutdown.isoformat()}"
    else:
        life = "current, the default" if model.name == DEFAULT_MODEL else "current"
    n = "1" if model.max_n == 1 else f"1-{model.max_n}"
    return [
        f"{model.name} ({life})",
        f"  sizes: {sizes}",
        f"  n: {n} per request; prompt up to {model.prompt_limit} characters",
        f"  options: {'; '.join(options)}",
    ]


OTHER_NAMES = (
    "Other names: a provider prefix (openai/dall-e-3) follows the rules of the name after it, sent as written;\n"
    "any other model gets generic checks only (size WIDTHxHEIGHT or auto, n 1-10, types) "
    "and the server judges the rest."
)


def catalog_text(today=None):
    """The whole catalog as text, then how names outside it are treated."""
    return "\n".join([*(line for m in MODELS.values() for line in describe(m, today)), OTHER_NAMES])
