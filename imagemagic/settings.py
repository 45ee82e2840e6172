"""What decides a call besides its prompt, and the one path from input to a ready call.

`Settings` holds the parameter defaults and the options (endpoint, timeouts, retries, history,
prices, cache, display). `%config ImageGenMagics.<name>` fills it (the traits are derived from the
parameter table and from these fields: see magics.py); `Settings.current()` reads it from the
running IPython shell, so the magic, the panel, `generate()` and the CLI all see the same values.

`prepare(prompt, params, settings)` is the one preparation path every front end uses: defaults
under the given parameters, every problem listed before anything is sent, the endpoint as plain
data, and the warnings to show.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from .catalog import CHAT_NOT_TAKEN, DEFAULT_MODEL, DEFAULT_RESPONSES_MODEL, chat_model, lookup
from .endpoint import Endpoint, resolve
from .errors import Problem, ValidationError, choice_line, quoted
from .params import for_operation, unknown_names
from .profiles import PROFILE_CHOICES, PROFILE_NOUN

if TYPE_CHECKING:  # loaded when a request is made, not at %load_ext (which needs Settings only)
    from .capabilities import Capability
    from .request import EditRequest, ImageRequest

API_CHOICES = ("images", "responses", "chat")


def _option(default, help, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Settings:
    """Parameter defaults (`defaults`, by parameter name) and every option a call needs."""

    defaults: dict = field(default_factory=lambda: {"model": DEFAULT_MODEL})
    base_url: str | None = _option(
        None, "Base URL of an OpenAI-compatible API, including /v1; overrides OPENAI_BASE_URL."
    )
    offline: bool = _option(False, "Always use the built-in offline preview server, even when a key is set.")
    timeout: float = _option(
        600.0,
        "Seconds for each attempt's whole answer to arrive, stream included (generations can take minutes); "
        "a URL download gets the same, at most 60 s; connecting waits at most 10 s.",
    )
    max_retries: int = _option(2, "Retries for rate limits, server errors and failed connections.")
    max_concurrency: int = _option(4, "Requests in flight at once when -n is fanned out (streams, dall-e-3).")
    display: str = _option(
        "auto",
        "inline: images in the notebook; files: save and print paths; auto: inline unless in a terminal.",
        choices=("auto", "inline", "files"),
        noun="a display of imagemagic",
    )
    prices: dict = _option(
        None,
        "Price overrides in USD per 1M tokens, e.g. "
        "{'gpt-image-2': {'text_input': 5, 'image_input': 8, 'image_output': 30}}.",
    )
    cache: bool = _option(
        True,
        "Re-running a cell with an identical request (prompt, parameters, model, endpoint) shows its stored "
        "images instead of paying again; --fresh overrides.",
    )
    edit_format: str = _option(
        "multipart",
        "How edits are sent: multipart (as the official SDK does) or json (data URLs; some gateways take only that).",
        choices=("multipart", "json"),
        noun="a wire form of edits",
    )
    history_limit_mb: float = _option(1024.0, "Size cap of the image history in MiB; the oldest images go first.")
    max_answer_mb: float = _option(
        256.0, "Largest answer (or stream event) accepted from a server, in MiB; a 4K PNG is 20-30 MB of base64."
    )
    sweep_limit: int = _option(
        24,
        "A grid or table run of more images than this sends nothing until allowed with --limit N (limit= in Python).",
    )
    display_max_side: int = _option(
        2048,
        "Longest side in pixels of the images shown inline; larger ones are shown as smaller copies (JPEG, or PNG "
        "with transparency) while the originals stay in the history and the namespace. 0 shows originals.",
    )
    budget: float | None = _option(
        None,
        "Dollars (a finite number, 0 or more) this session may spend online; a run whose estimate would pass what is "
        "left sends nothing, and concurrent requests hold their estimates. None: no limit.",
    )
    daily_budget: float | None = _option(
        None,
        "Dollars (a finite number, 0 or more) that may be spent online per day (by budget_timezone's clock), counted "
        "across kernels and restarts (kept in the history folder); each request holds its estimate while it runs, "
        "and one that would pass what is left is not sent. None: no limit.",
    )
    budget_timezone: str = _option(
        "UTC",
        "The clock of daily_budget's day: UTC, or an IANA time zone such as 'Europe/Paris'; every kernel counts "
        "the same day, whatever its own time zone.",
    )
    api: str = _option(
        "images",
        "Which API makes the images: images (the Images API), responses (the Responses API's image_generation "
        "tool, where a refinement continues the conversation by previous_response_id) or chat (chat completions, "
        "for multimodal image models such as google/gemini-2.5-flash-image; chosen by itself for those).",
        choices=API_CHOICES,
        noun="an API of imagemagic",
    )
    profile: str = _option(
        "auto",
        "The gateway's profile: auto (from the base URL), openai, azure (api-key header, deployments as model "
        "names), openrouter (image models through chat completions, its listing, its usage.cost), litellm "
        "(its usage.cost) or local. See the README's provider table.",
        choices=PROFILE_CHOICES,
        noun=PROFILE_NOUN,
    )
    capabilities: dict = _option(
        None,
        "What models accept, over the catalog and the endpoint's /models, e.g. {'my-model': {'api': 'chat', "
        "'max_n': 1, 'takes': ['size'], 'size': ['1024x1024']}}; keys: api, takes, max_n, max_inputs, stream, "
        "or a parameter and its allowed values.",
    )
    responses_model: str = _option(
        DEFAULT_RESPONSES_MODEL,
        "The mainline model of Responses API calls (its tokens are billed besides the image tool's).",
    )
    api_key: str | None = field(default=None, repr=False, metadata={"secret": True})

    def __post_init__(self) -> None:
        problems = [Problem(f.name, line) for f in options() if (line := option_problem(f.name, getattr(self, f.name)))]
        if problems:
            raise ValidationError(problems)

    @classmethod
    def current(cls) -> Settings:
        """The settings of the running IPython shell's `%config ImageGenMagics`, else the defaults."""
        try:
            from IPython import get_ipython
        except ImportError:
            return cls()
        shell = get_ipython()
        magics = shell.magics_manager.registry.get("ImageGenMagics") if shell is not None else None
        return magics.settings() if magics is not None else cls()

    def but(self, **changes: Any) -> Settings:
        """A copy with `changes`; None values change nothing."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_POSITIVE = {"timeout": "seconds", "max_answer_mb": "MiB"}  # limits that would refuse everything at zero
_AT_LEAST = {"max_retries": 0, "max_concurrency": 1, "sweep_limit": 0, "display_max_side": 0, "history_limit_mb": 0}
_KIND_WORDS = {bool: "True or False", int: "a whole number", float: "a number", str: "text", dict: "a dict"}


def option_problem(name: str, value: Any) -> str | None:
    """The line refusing `value` for the option `name`, or None when it is allowed. Settings() and %config judge by
    it: the option's type (its annotation), its choices, a budget is a finite number of dollars, 0 or more (or
    None), timeouts and caps are finite and in range, budget_timezone a zone zoneinfo knows, capabilities and prices as
    capabilities.override_problems and usage.prices_problems say."""
    if name in ("budget", "daily_budget"):
        if value is None:
            return None
        from .usage import is_amount  # only when a budget is set: %load_ext loads no usage module

        if is_amount(value):
            return None
        shown = f"{value:g}" if isinstance(value, float) else quoted(value)
        return f"{name}={shown} must be a finite number of dollars, 0 or more (None: no limit)"
    if name == "capabilities":
        from .capabilities import override_problems

        return "; ".join(override_problems(value)) or None
    if name == "prices":
        from .usage import prices_problems

        return "; ".join(prices_problems(value)) or None
    kind, optional, meta = _kinds()[name]
    if value is None:
        return None if optional else f"{name}=None must be {_KIND_WORDS[kind]}"
    if not _of_kind(value, kind):
        return f"{name}={quoted(value)} must be {_KIND_WORDS[kind]}{' or None' if optional else ''}"
    if "choices" in meta and value not in meta["choices"]:
        return choice_line(name, value, meta["choices"], meta["noun"])
    if name in _POSITIVE and not (_finite(value) and value > 0):
        return f"{name} must be a positive number of {_POSITIVE[name]}"
    if name in _AT_LEAST and not (_finite(value) and value >= _AT_LEAST[name]):
        return f"{name}={quoted(value)} must be {_KIND_WORDS[kind]}, {_AT_LEAST[name]} or more"
    if name == "budget_timezone" and time_zone(value) is None:
        return f"budget_timezone={quoted(value)} is not a time zone: give an IANA name such as 'UTC' or 'Europe/Paris'"
    return None


@functools.cache
def _kinds() -> dict[str, tuple[Any, bool, Mapping]]:
    """Each option's type, whether it may be None, and its metadata (choices), from Settings' fields."""
    hints = typing.get_type_hints(Settings)
    kinds: dict[str, tuple[Any, bool, Mapping]] = {}
    for f in options():
        parts = typing.get_args(hints[f.name]) or (hints[f.name],)
        kind = next(t for t in parts if t is not type(None))
        kinds[f.name] = (kind, f.default is None or type(None) in parts, f.metadata)
    return kinds


def _of_kind(value: Any, kind: type) -> bool:
    if kind in (int, float):  # a float option takes whole numbers too; neither takes True/False
        return isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _finite(value: float) -> bool:
    """Whether `value` is a number a float can hold (not NaN, not infinite, not a whole number beyond 1e308)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def time_zone(name: Any) -> tzinfo | None:
    """The zone of an IANA name (UTC needs no time zone database), or None when zoneinfo does not know it."""
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo  # on first use of another zone: %load_ext needs none

    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, TypeError, OSError):  # unknown, not a key, not a string, a folder of zones
        return None


def options() -> tuple[dataclasses.Field, ...]:
    """The configurable options (not the defaults, never the key), each with its help in `.metadata`."""
    return tuple(f for f in dataclasses.fields(Settings) if "help" in f.metadata)


@dataclass(frozen=True)
class Plan:
    """A validated request, where it goes, with which settings, and the advice to show before sending."""

    request: ImageRequest | EditRequest
    endpoint: Endpoint
    settings: Settings
    warnings: tuple[str, ...] = ()
    parent: Any = None  # the step a refinement continues (refinement.Parent), recorded in the history
    capability: Capability | None = None  # what the model accepts here (capabilities.py): dialect, n per call


def request_for(
    prompt,
    params=None,
    *,
    settings,
    extra_body=None,
    operation="generate",
    image=None,
    mask=None,
    previous_response_id=None,
    capability=None,
    plain=False,
):
    """The request `settings`' defaults and `params` (None: not given) describe, not yet validated.

    `capability` (capabilities.Capability): what the model accepts; a default it does not take is left out
    (a key given in `params` stays, and is refused by the request's rules).

    An edit takes its input images from `image` and `mask` (any kind inputs.collect accepts). With
    `settings.api == "responses"` it is carried by the Responses API's image tool (a ResponsesRequest;
    `previous_response_id` continues an earlier turn).
    With `api_for(...) == "chat"` it is carried by a chat completion (a ChatRequest); `plain`: the Images API's
    request whatever the api.
    Raises ValidationError for a name that is not a parameter of `operation` or an input that is no image.
    """
    if not plain and api_for(params, settings, capability) == "chat":
        from .chat_request import ChatRequest

        given = {k: v for k, v in (params or {}).items() if v is not None}
        shape = {**{k: settings.defaults.get(k) for k in ("size", "resolution")}, **given}
        rest = {k: v for k, v in given.items() if k not in ("size", "resolution")}
        defaults = {k: v for k, v in settings.defaults.items() if k not in ("size", "resolution")}
        defaults = _taken(defaults, params, capability, chat=True)[0]
        image_request = request_for(
            prompt, rest, settings=settings.but(defaults=defaults), extra_body=extra_body, operation=operation,
            image=image, mask=mask, capability=capability, plain=True,
        )  # fmt: skip
        return ChatRequest(image_request, shape.get("size"), shape.get("resolution"))
    if settings.api == "responses":
        from .responses_request import ResponsesRequest

        image_request = request_for(
            prompt, params, settings=settings.but(api="images"), extra_body=extra_body, operation=operation,
            image=image, mask=mask, capability=capability,
        )  # fmt: skip
        return ResponsesRequest(image_request, settings.responses_model, previous_response_id)
    from .request import EditRequest, ImageRequest  # on first use: %load_ext needs Settings only

    params = dict(params or {})
    unknown = unknown_names(params, operation)
    if unknown:
        raise ValidationError([Problem(name, line) for name, line in unknown])
    values, chosen = _sized(params, settings, operation)
    if chosen.problem:
        raise ValidationError([Problem(chosen.param, chosen.problem)])
    values = _taken(values, params, capability)[0]
    if operation == "edit":
        from .inputs import collect

        images = collect(image) if image is not None else ()
        masks = collect(mask, "mask") if mask is not None else (None,)
        if len(masks) != 1:
            raise ValidationError([Problem("mask", f"mask stands for {len(masks)} images: give one")])
        return EditRequest(
            prompt=prompt,
            images=images,
            mask=masks[0],
            form=settings.edit_format,
            extra_body=dict(extra_body or {}),
            capability=capability,
            **values,
        )
    return ImageRequest(prompt=prompt, extra_body=dict(extra_body or {}), capability=capability, **values)


def api_for(params: Mapping[str, Any] | None, settings: Settings, capability: Any = None) -> str:
    """The API a request goes through: `settings.api`, or, under the default images, chat for a known
    chat-completions image model (e.g. google/gemini-2.5-flash-image) or one whose `capability` says chat (an
    OpenRouter listing's) that is no Images API model of the catalog."""
    model = (params or {}).get("model") or settings.defaults.get("model")
    said = getattr(capability, "api", None) == "chat" and not (isinstance(model, str) and lookup(model))
    return "chat" if settings.api == "images" and (chat_model(model) is not None or said) else settings.api


def prepare(
    prompt: str,
    params: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    extra_body: Mapping[str, Any] | None = None,
    operation: str = "generate",
    image: Any = None,
    mask: Any = None,
    previous_response_id: str | None = None,
) -> Plan:
    """Defaults under `params` (None: not given) → a validated request, its endpoint and warnings.

    `operation="edit"` makes an edit of `image` (one input or a list) with an optional `mask`. With
    `settings.api == "responses"` the request goes through the Responses API's image tool
    (`previous_response_id` continues an earlier turn).
    Raises ValidationError listing every problem (unknown parameter names included); nothing is sent.
    """
    from .remote import capability, shutdowns

    settings = settings or Settings.current()  # its options were judged when it was made (option_problem)
    endpoint = resolve(
        api_key=settings.api_key, base_url=settings.base_url, offline=settings.offline, profile=settings.profile
    )
    values, chosen = _sized(params, settings, operation)
    model = values.get("model")
    cap, cap_notes = capability(endpoint, model, settings.capabilities) if isinstance(model, str) else (None, [])
    request = request_for(
        prompt, params, settings=settings, extra_body=extra_body, operation=operation, image=image, mask=mask,
        previous_response_id=previous_response_id, capability=cap,
    ).validated()  # fmt: skip
    reported = shutdowns(endpoint.base_url)  # the endpoint's dates if already cached; never fetched here
    notes = [
        *cap_notes,
        *_taken(values, params, cap, chat=getattr(request, "api", "images") == "chat")[1],
        chosen.note,
        *request.warnings(endpoint.base_url, shutdowns=reported, offline=endpoint.offline),
    ]
    return Plan(request, endpoint, settings, tuple(note for note in notes if note), capability=cap)


def _taken(values, params, capability, chat=False):
    """(values without the defaults `capability` does not take, or a chat completion has no place for when `chat`,
    a note for each): capabilities.left_out."""
    from .capabilities import left_out

    explicit = {k for k, v in (params or {}).items() if v is not None}
    return left_out(values, explicit, capability, CHAT_NOT_TAKEN if chat else ())


def _sized(params, settings, operation):
    """settings' defaults under `params` (None: not given), with the size an aspect comes to; and that choice."""
    from .sizes import apply as apply_sizes

    takes = {p.name for p in for_operation(operation)}
    values = {k: v for k, v in settings.defaults.items() if v is not None and k in takes}
    values.update({k: v for k, v in (params or {}).items() if v is not None})
    return apply_sizes(values, lookup(values["model"]) if isinstance(values.get("model"), str) else None)
