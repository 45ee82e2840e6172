"""The models we know, as data: sizes, options, limits and lifecycle dates.

One row per model. A name outside the catalog is never blocked: a provider prefix
(`openai/dall-e-3`) borrows the row of the name after the last slash, and anything else
gets only generic checks (see `request.py`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import NamedTuple

from .params import BY_NAME

DEFAULT_MODEL = "gpt-image-2"
RESOLUTIONS = {"1K": 1024, "2K": 2048, "4K": 3840}  # the long side each resolution name asks for
DEFAULT_RESOLUTION = "1K"  # an aspect without a resolution (free-size models)

DEFAULT_RESPONSES_MODEL = "gpt-5.5"  # the mainline model of a Responses API call; the image model is the tool's


@dataclass(frozen=True)
class ImageTool:
    """What the Responses API's image_generation tool takes: the parameters it carries (the rest of a request
    is refused before sending), the output formats, and its image models' family."""

    takes: tuple[str, ...] = (
        "model", "size", "quality", "background", "output_format", "output_compression", "moderation",
        "input_fidelity", "partial_images", "stream", "user", "safety_identifier",
    )  # fmt: skip
    beside: tuple[str, ...] = ("stream", "user", "safety_identifier")  # of those, sent in the body, not the tool
    output_formats: tuple[str, ...] = ("png", "webp", "jpeg")
    family: str = "gpt-image"
    max_partial_images: int = 3


IMAGE_TOOL = ImageTool()


@dataclass(frozen=True)
class FreeSizes:
    """Any WIDTHxHEIGHT within these bounds (gpt-image-2)."""

    multiple: int = 16
    max_ratio: float = 3.0
    max_long_side: int = 3840
    max_short_side: int = 2160
    max_pixels: int = 8_294_400  # 3840x2160
    experimental_above: tuple[int, int] = (2560, 1440)  # more pixels than this: a warning, not an error
    warn_below_pixels: int = 655_360  # client libraries refuse fewer; OpenAI's reference states no minimum


@dataclass(frozen=True)
class Animation:
    """What output_format gif takes (gpt-image-2.6 family): frames, their pace, and what it refuses."""

    min_frames: int = 2
    max_frames: int = 16
    default_frames: int = 9
    min_frame_ms: int = 20
    default_frame_ms: int = 200
    refuses: tuple[str, ...] = ("stream", "partial_images", "mask", "output_compression")


@dataclass(frozen=True)
class Model:
    """What one model accepts. An empty tuple means the parameter is not supported."""

    name: str
    family: str  # the wire dialect: dall-e-2, dall-e-3 or gpt-image
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
    replacements: tuple[str, ...] = ()  # what OpenAI names as the way forward once it shuts down
    series: str = ""  # the generation it belongs to, e.g. gpt-image-2.6 (snapshots share their model's)
    animation: Animation | None = None  # set when output_format gif is offered

    def allowed(self, param):
        """The values `param` may take for this model (empty: not supported)."""
        return getattr(self, BY_NAME[param].choices)

    @property
    def resolutions(self) -> tuple[str, ...]:
        """The resolution names an aspect size may take (free-size models; fixed sizes take none)."""
        return tuple(RESOLUTIONS) if self.free_sizes else ()

    def is_shut_down(self, today=None):
        """True once OpenAI's shutdown date for this model has come."""
        return self.shutdown is not None and (today or _dt.date.today()) >= self.shutdown


_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
_GPT_QUALITIES = ("low", "medium", "high", "auto")
_NEW_QUALITIES = ("low", "medium", "high", "xhigh", "max", "auto")
_BACKGROUNDS = ("transparent", "opaque", "auto")
_FORMATS = ("png", "jpeg", "webp")
_D = _dt.date
_SUCCESSORS = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")


def _gpt_image(name, *, series=None, shutdown=None, free_sizes=None, **options):
    defaults = {"qualities": _GPT_QUALITIES, "backgrounds": _BACKGROUNDS, "output_formats": _FORMATS}
    return Model(
        name=name,
        family="gpt-image",
        series=series or name,
        sizes=_GPT_SIZES,
        max_n=10,
        prompt_limit=32000,
        moderations=("low", "auto"),
        streaming=True,
        max_partial_images=3,
        free_sizes=free_sizes,
        shutdown=shutdown,
        replacements=_SUCCESSORS if shutdown == _D(2026, 12, 1) else (),
        **{**defaults, **options},
    )


def _gpt_image_2(name, series):
    """gpt-image-2 and its successors: free sizes; transparent backgrounds from 2.5; 2.6 adds gif, svg, complexity."""
    if series == "gpt-image-2":
        return _gpt_image(name, series=series, free_sizes=FreeSizes(), backgrounds=("opaque", "auto"))
    newest = series == "gpt-image-2.6"
    return _gpt_image(
        name,
        series=series,
        free_sizes=FreeSizes(),
        qualities=_NEW_QUALITIES,
        output_formats=(*_FORMATS, "gif", "svg") if newest else _FORMATS,
        complexities=("low", "medium", "high") if newest else (),
        animation=Animation() if newest else None,
    )


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            name="dall-e-2",
            family="dall-e-2",
            series="dall-e-2",
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
            series="dall-e-3",
            sizes=("1024x1024", "1792x1024", "1024x1792"),
            qualities=("standard", "hd"),
            max_n=1,
            prompt_limit=4000,
            response_formats=("url", "b64_json"),
            styles=("vivid", "natural"),
            shutdown=_D(2026, 5, 12),
        ),
        # input_fidelity: the spec names gpt-image-1 and 1.5; the SDK gives 1-mini "low" only and gpt-image-2 none
        _gpt_image("gpt-image-1", shutdown=_D(2026, 10, 23), input_fidelities=("high", "low")),
        _gpt_image("gpt-image-1-mini", shutdown=_D(2026, 12, 1), input_fidelities=("low",)),
        _gpt_image("gpt-image-1.5", shutdown=_D(2026, 12, 1), input_fidelities=("high", "low")),
        _gpt_image("chatgpt-image-latest", shutdown=_D(2026, 12, 1)),
        _gpt_image_2("gpt-image-2", "gpt-image-2"),
        _gpt_image_2("gpt-image-2-2026-04-21", "gpt-image-2"),
        _gpt_image_2("gpt-image-2.5-flare", "gpt-image-2.5"),
        _gpt_image_2("gpt-image-2.5-flare-2026-09-08", "gpt-image-2.5"),
        _gpt_image_2("gpt-image-2.5-sunburst", "gpt-image-2.5"),
        _gpt_image_2("gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.5"),
        _gpt_image_2("gpt-image-2.6-flare", "gpt-image-2.6"),
        _gpt_image_2("gpt-image-2.6-sunburst", "gpt-image-2.6"),
    )
}


def base_name(name):
    """The model name without a gateway's provider prefix (`openai/dall-e-3` → `dall-e-3`)."""
    return name.rsplit("/", 1)[-1]


def lookup(name):
    """The catalog row for a model name, following a provider prefix; None if unknown."""
    return MODELS.get(name) or MODELS.get(base_name(name))


def series_taking(param, value):
    """The series of current models (no shutdown announced) that allow `value` for `param`, in catalog order."""
    found = [m.series for m in MODELS.values() if m.shutdown is None and value in m.allowed(param)]
    return list(dict.fromkeys(found))


def lifecycle(model, today=None, shutdown=None):
    """'shuts down 2026-12-01', 'shut down 2026-05-12', 'current, the default' or 'current'.

    `shutdown`: a date the endpoint reported, which wins over the catalog's."""
    date = shutdown or model.shutdown
    if date is None:
        return "current, the default" if model.name == DEFAULT_MODEL else "current"
    state = "shut down" if (today or _dt.date.today()) >= date else "shuts down"
    instead = f"; replaced by {', '.join(model.replacements)}" if model.replacements else ""
    return f"{state} {date.isoformat()}{instead}"


def describe(model, today=None):
    """One line per fact about a model, for `imagemagic models` and `%imagegen --models`."""
    sizes = ", ".join(model.sizes)
    if model.free_sizes:
        f = model.free_sizes
        sizes += (
            f", or any WxH: sides divisible by {f.multiple}, ratio up to {f.max_ratio:g}:1, "
            f"at most {f.max_long_side}x{f.max_short_side} and {f.max_pixels:,} pixels "
            f"(above {'x'.join(map(str, f.experimental_above))} experimental)"
        )
    options = [
        f"{param} {'/'.join(model.allowed(param))}"
        for param in ("quality", "style", "background", "output_format", "moderation", "response_format", "complexity")
        if model.allowed(param)
    ]
    if model.input_fidelities:
        options.append(f"input_fidelity {'/'.join(model.input_fidelities)} (edits)")
    if model.output_formats:
        options.append("output_compression 0-100 with jpeg/webp")
    if model.streaming:
        options.append(f"stream with partial_images 0-{model.max_partial_images}")
    if model.animation:
        a = model.animation
        options.append(
            f"gif: frame_count {a.min_frames}-{a.max_frames} (default {a.default_frames}), "
            f"frame_duration_ms {a.min_frame_ms} or more (default {a.default_frame_ms}), "
            f"no {', '.join(a.refuses)}"
        )
    n = "1" if model.max_n == 1 else f"1-{model.max_n}"
    return [
        f"{model.name} ({lifecycle(model, today)})",
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


CHAT_ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
CHAT_DIMS = {  # the pixels of each aspect at 1K, as Gemini's image models make them (2K doubles, 4K quadruples)
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
    "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
}  # fmt: skip
LONGEST_2K = 2 * max(max(dims) for dims in CHAT_DIMS.values())  # a 4K image's longest side is above this


class ChatImageModel(NamedTuple):  # not a dataclass: made at %load_ext, where one costs about 0.4 ms
    """A multimodal image model reached through /v1/chat/completions (api="chat"): the `image_config` it takes
    (aspect ratios; image sizes, empty when it makes 1K only), its tokens per image and prices per 1M tokens."""

    name: str
    image_sizes: tuple[str, ...] = ()
    image_tokens: int = 1290
    input_price: float = 0.30
    image_price: float = 30.0
    aspect_ratios: tuple[str, ...] = CHAT_ASPECTS
    tokens_4k: int | None = None  # tokens of a 4K image, when it bills more than 1K and 2K

    def tokens_for(self, size: str | None) -> int:
        """Output tokens of one image of `size` (WIDTHxHEIGHT as made; None: the model's default, 1K)."""
        sides = [int(x) for x in size.split("x")] if size and "x" in size else [0]
        return self.tokens_4k if self.tokens_4k and max(sides) > LONGEST_2K else self.image_tokens


CHAT_MODELS: dict[str, ChatImageModel] = {
    m.name: m
    for m in (
        ChatImageModel("gemini-2.5-flash-image"),
        ChatImageModel("gemini-2.5-flash-image-preview"),
        ChatImageModel("gemini-3-pro-image-preview", ("1K", "2K", "4K"), 1120, 2.0, 120.0, tokens_4k=2000),
    )
}


CHAT_NOT_TAKEN = (  # the Images API parameters a chat completion has no place for
    "quality", "background", "output_format", "output_compression", "moderation", "partial_images", "style",
    "response_format", "complexity", "frame_count", "frame_duration_ms", "input_fidelity",
)  # fmt: skip


def chat_model(name):
    """The chat-completions image model a name stands for (following a gateway prefix: google/…), or None."""
    return CHAT_MODELS.get(name) or CHAT_MODELS.get(base_name(name)) if isinstance(name, str) else None
