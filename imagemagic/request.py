"""ImageRequest: the parameters of images.generate, their defaults, and validation against the catalog.

Validation lists every problem at once, each naming the parameter, the value and what the
model allows. Models outside the catalog get generic checks only; the server judges the rest.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Self, get_type_hints
from urllib.parse import urlsplit

from .capabilities import Capability
from .catalog import DEFAULT_MODEL, Model, lookup, series_taking
from .errors import Problem, ValidationError, one_line, quoted, shown
from .inputimage import InputImage, input_problems
from .params import BY_NAME, WIRE, for_operation
from .sizes import broken_rules, nearest, nearest_fixed

_SIZE = re.compile(r"([1-9][0-9]*)x([1-9][0-9]*)")
MAX_SIDE = 16384  # pixels: no image API makes more on a side; beyond it a size is refused for any model
_OPENAI_HOST = "api.openai.com"


def _param(name: str, default: Any = None) -> Any:
    """A request field for the parameter `name`: None unless given, its table row (params.py) as metadata."""
    return field(default=default, metadata={"param": BY_NAME[name]})


def _not_taken() -> Any:
    """An EditRequest field for a parameter edits do not take: always None, not an argument, not shown."""
    return field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class ImageRequest:
    """One call of the Images API. Parameters left as None are not sent; `model` always is.

    Its fields are `prompt`, every parameter of the table in params.py (each field carries its row as
    metadata["param"]), and `extra_body` (parameters this release does not know, sent as given)."""

    prompt: str
    model: str | None = _param("model", DEFAULT_MODEL)
    size: str | None = _param("size")
    quality: str | None = _param("quality")
    n: int | None = _param("n")
    background: str | None = _param("background")
    output_format: str | None = _param("output_format")
    output_compression: int | None = _param("output_compression")
    moderation: str | None = _param("moderation")
    stream: bool | None = _param("stream")
    partial_images: int | None = _param("partial_images")
    style: str | None = _param("style")
    response_format: str | None = _param("response_format")
    user: str | None = _param("user")
    safety_identifier: str | None = _param("safety_identifier")
    input_fidelity: str | None = _param("input_fidelity")
    complexity: str | None = _param("complexity")
    frame_count: int | None = _param("frame_count")
    frame_duration_ms: int | None = _param("frame_duration_ms")
    extra_body: dict[str, Any] = field(default_factory=dict)
    # what the model accepts here (capabilities.Capability), merged from every source: the rules it judges by
    capability: Capability | None = field(default=None, compare=False, repr=False)

    operation: ClassVar[str] = "generate"

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Self:
        """Build a request from a JSON body as a server receives it; unknown keys go to extra_body."""
        known: dict[str, Any] = {"model": None, **{k: v for k, v in body.items() if k in WIRE_NAMES}}
        extra = {k: v for k, v in body.items() if k not in WIRE_NAMES}
        return cls(**known, extra_body=extra)

    @property
    def rules(self) -> Model | None:
        """The catalog row that judges this request (as the capability layer merged it, when it has one), or
        None for a model we do not know."""
        cap = self._capability
        if cap is not None:
            return cap.rules
        return lookup(self.model) if isinstance(self.model, str) else None

    @property
    def _capability(self) -> Capability | None:
        """`capability` when it is of this request's model (one made with another model judges nothing)."""
        cap = self.capability
        return cap if cap is not None and cap.model == self.model else None

    @property
    def count(self) -> int:
        """How many images this request asks for."""
        return self.n if isinstance(self.n, int) and self.n > 0 else 1

    def body(self) -> dict[str, Any]:
        """The JSON body as sent: the parameters that are set, then extra_body as given."""
        sent = {name: getattr(self, name) for name in WIRE_NAMES}
        return {**{k: v for k, v in sent.items() if v is not None}, **self.extra_body}

    def problems(self) -> list[Problem]:
        """Every rule this request breaks (an empty list when it may be sent)."""
        found = _type_problems(self)
        cleared: dict[str, Any] = {p.param: None for p in found}
        req = replace(self, **cleared)  # judge the rest as if bad values were absent
        found += _prompt_problems(req)
        found += _extra_problems(req)
        found += _range("n", req.n, 1, 10)
        found += _size_problems(req)
        if req.rules is not None:
            found += _model_problems(req, req.rules)
        if req._capability is not None:
            found += _capability_problems(req, req._capability, {p.param for p in found})
        return found

    def wire_problems(self) -> list[Problem]:
        """problems(), plus the per-request limit on n that the client's fan-out hides (for servers)."""
        found = self.problems()
        model = self.rules
        if model and self.count > model.max_n:
            found += _range("n", self.n, 1, model.max_n, model.name)
        return found

    def validated(self) -> Self:
        """Return self, or raise ValidationError listing every problem."""
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self

    def warnings(
        self,
        base_url: str | None = None,
        today: _dt.date | None = None,
        shutdowns: dict[str, _dt.date] | None = None,
        offline: bool = False,
    ) -> list[str]:
        """Advice that does not block sending: sizes outside the usual range, models that shut down.

        `shutdowns`: {model id: date} as the endpoint's /v1/models reported them (see remote.py); such a
        date wins over the catalog's, which applies to api.openai.com only — and to the offline preview
        (`offline`), which stands in for it, so a quickstart warns as the real endpoint would."""
        model, notes = self.rules, []
        dims, free = _dims(self.size), model.free_sizes if model else None
        if model and free and dims:
            pixels = dims[0] * dims[1]
            if pixels > free.experimental_above[0] * free.experimental_above[1]:
                above = "x".join(map(str, free.experimental_above))
                notes.append(f"size={self.size} is above {above}, which {model.name} treats as experimental")
            if pixels < free.warn_below_pixels:
                notes.append(
                    f"size={self.size} is {pixels:,} pixels, below the {free.warn_below_pixels:,} that client "
                    "libraries require; OpenAI's reference states no minimum, so it is sent as written"
                )
        note = self._shutdown_note(base_url, today or _dt.date.today(), shutdowns or {}, offline)
        return notes + ([note] if note else [])

    def _shutdown_note(
        self, base_url: str | None, today: _dt.date, shutdowns: dict[str, _dt.date], offline: bool = False
    ) -> str | None:
        model, date, source = self.rules, shutdowns.get(self.model or ""), "the endpoint's date"
        openai = offline or (base_url and urlsplit(base_url).hostname == _OPENAI_HOST)
        if date is None and model and model.shutdown and openai:
            date, source = model.shutdown, "OpenAI's date"
        if date is None:
            return None
        instead = (
            f"replacements: {', '.join(model.replacements)}"
            if model and model.replacements
            else f"current default: {DEFAULT_MODEL}"
        )
        state, advice = (
            ("was shut down", "the API will probably refuse it")
            if today >= date
            else ("shuts down", "move before then")
        )
        return f"model {self.model} {state} on {date.isoformat()} ({source}); {advice} ({instead})"

    def split(self) -> list[Self]:
        """The requests actually sent: one image per request when streaming, or as many as the model takes."""
        cap = self._capability
        per = 1 if self.stream else (cap and cap.max_n) or (self.rules.max_n if self.rules else self.count)
        if self.count <= per:
            return [self]
        counts = [per] * (self.count // per) + ([self.count % per] if self.count % per else [])
        return [replace(self, n=k) for k in counts]


def _dims(size):
    """(width, height) of a WIDTHxHEIGHT text with sides up to MAX_SIDE; None for any other value."""
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None or max(len(match[1]), len(match[2])) > len(str(MAX_SIDE)):
        return None
    width, height = int(match[1]), int(match[2])
    return (width, height) if max(width, height) <= MAX_SIDE else None


JSON_INT = 2**53  # the largest whole number every JSON reader keeps exactly
_TYPE_WORDS = {int: "a whole number", bool: "true or false", str: "text"}


def _type_problems(req):
    found = []
    if not isinstance(req.prompt, str):
        found.append(Problem("prompt", "prompt must be text"))
    if not isinstance(req.model, str) or not req.model.strip():
        found.append(Problem("model", "model must name a model, e.g. gpt-image-2"))
    for p in WIRE:
        value = getattr(req, p.name)
        if p.name == "model" or value is None:
            continue
        if not isinstance(value, p.type) or (p.type is int and isinstance(value, bool)):
            found.append(Problem(p.name, f"{p.name}={quoted(value)} must be {_TYPE_WORDS[p.type]}"))
        elif p.type is int and abs(value) > JSON_INT:
            found.append(
                Problem(p.name, f"{p.name}={quoted(value)} is too large: the API's whole numbers are at most 2^53")
            )
    if not isinstance(req.extra_body, dict):
        found.append(Problem("extra_body", "extra_body must be a dict of parameter names to values"))
    return found


def _prompt_problems(req):
    if req.prompt is None:
        return []
    if not req.prompt.strip():
        return [Problem("prompt", "prompt is empty: write what the image should show")]
    model = req.rules
    if model and len(req.prompt) > model.prompt_limit:
        return [
            Problem(
                "prompt",
                f"prompt is {len(req.prompt)} characters; {model.name} takes at most {model.prompt_limit}",
            )
        ]
    return []


def _extra_problems(req):
    extra = req.extra_body or {}
    if not all(isinstance(key, str) for key in extra):
        return [Problem("extra_body", "extra_body's keys must be text (the names of the parameters it adds)")]
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:  # an object, NaN or infinity, a whole number too long to write
        why = one_line(exc).split(";")[0]  # not Python's advice on raising its digit limit
        line = f"extra_body must be JSON data (text, numbers, True/False, None, lists, dicts): {why}"
        return [Problem("extra_body", line)]
    return [
        Problem(key, f"{key} is a known parameter: set it directly, not through extra_body")
        for key in extra
        if key in WIRE_NAMES
    ]


def _range(name, value, low, high, model=None):
    if value is None or low <= value <= high:
        return []
    where = f" for {model}" if model else ""
    use = f"{low}" if low == high else f"{low} to {high}"
    return [Problem(name, f"{name}={quoted(value)} is out of range{where}: use {use}")]


def _unsupported(name, value, model):
    return Problem(name, f"{name}={quoted(value)} is not supported by {model.name}: leave it out")


def _capability_problems(req, cap, reported):
    """What the capability layer refuses beyond the catalog's rules: a parameter the model does not take, a
    value it does not list (models outside the catalog), more input images than an edit takes."""
    found = []
    for p in WIRE:
        value = getattr(req, p.name)
        if value is None or p.name in reported:
            continue
        if not cap.accepts(p.name):
            found.append(Problem(p.name, f"{p.name}={quoted(value)} is not supported by {cap.model}: leave it out"))
        elif cap.rules is None and p.name in cap.values and value not in cap.values[p.name]:
            allowed = ", ".join(map(str, cap.values[p.name]))
            found.append(Problem(p.name, f"{p.name}={quoted(value)} is not allowed for {cap.model}: use {allowed}"))
    images = getattr(req, "images", ())
    if cap.max_inputs is not None and len(images) > cap.max_inputs:
        found.append(Problem("image", f"{cap.model} takes at most {cap.max_inputs} input images; {len(images)} given"))
    return found


def _size_problems(req):
    if req.size is None or req.size == "auto" or _dims(req.size):
        return []
    if _SIZE.fullmatch(req.size):
        line = f"size={shown(req.size)} is too large: each side is at most {MAX_SIDE} pixels (e.g. 1024x1024)"
        return [Problem("size", line)]
    return [Problem("size", f"size={quoted(req.size)} is not a size: write WIDTHxHEIGHT (e.g. 1024x1024) or auto")]


def _free_size_problems(size, free, model):
    """One problem per broken rule; the last one names the nearest size allowed."""
    w, h = _dims(size)
    found = [Problem("size", f"size={size} does not fit {model}: {why}") for why in broken_rules(w, h, free)]
    if found:
        found[-1] = Problem("size", f"{found[-1].message} — did you mean {nearest(w, h, free)}?")
    return found


def _choice(req, name, model):
    value, allowed = getattr(req, name), model.allowed(name)
    if value is None or value in allowed:
        return []
    if not allowed:
        return [_unsupported(name, value, model)]
    message = f"{name}={quoted(value)} is not allowed for {model.name}: use {', '.join(allowed)}"
    others = [s for s in series_taking(name, value) if s != model.series] if model.shutdown is None else []
    if others:
        kind = "families support it" if len(others) > 1 else "family supports it"
        message += f" (the {' and '.join(others)} {kind})"
    return [Problem(name, message)]


def _model_problems(req, model):
    found = []
    if req.size is not None and req.size not in model.sizes:
        if model.free_sizes and _dims(req.size):
            found += _free_size_problems(req.size, model.free_sizes, model.name)
        elif _dims(req.size) or req.size == "auto":
            hint = f" — did you mean {nearest_fixed(*_dims(req.size), model.sizes)}?" if _dims(req.size) else ""
            found.append(
                Problem("size", f"size={req.size} is not allowed for {model.name}: use {', '.join(model.sizes)}{hint}")
            )
    for p in WIRE:
        if p.choices and p.name != "size":
            found += _choice(req, p.name, model)
    found += _format_problems(req, model)
    found += _stream_problems(req, model)
    found += _animation_problems(req, model, {p.param for p in found})
    return found


def _format_problems(req, model):
    compression, fmt = req.output_compression, req.output_format or "png"
    if compression is not None and not model.output_formats:
        return [_unsupported("output_compression", compression, model)]
    found = _range("output_compression", compression, 0, 100)
    if compression is not None and fmt not in ("jpeg", "webp"):
        found.append(
            Problem(
                "output_compression",
                f"output_compression={quoted(compression)} needs output_format jpeg or webp (it is {fmt})",
            )
        )
    if req.background == "transparent" and "transparent" in model.backgrounds and fmt not in ("png", "webp"):
        found.append(Problem("background", f"background='transparent' needs output_format png or webp (it is {fmt})"))
    return found


def _stream_problems(req, model):
    if not model.streaming:
        return [
            _unsupported(name, getattr(req, name), model)
            for name in ("stream", "partial_images")
            if getattr(req, name) not in (None, False, 0)
        ]
    found = _range("partial_images", req.partial_images, 0, model.max_partial_images, model.name)
    if req.partial_images and not req.stream:
        found.append(Problem("partial_images", f"partial_images={quoted(req.partial_images)} needs stream=True"))
    return found


def _animation_problems(req, model, reported):
    """frame_count and frame_duration_ms (gif only), and what gif refuses (except parameters already reported)."""
    frames = {name: getattr(req, name) for name in ("frame_count", "frame_duration_ms")}
    anim, fmt = model.animation, req.output_format or "png"
    if anim is None:
        return [_unsupported(name, value, model) for name, value in frames.items() if value is not None]
    found = [
        Problem(name, f"{name}={quoted(value)} needs output_format gif (it is {fmt})")
        for name, value in frames.items()
        if value is not None and fmt != "gif"
    ]
    found += _range("frame_count", req.frame_count, anim.min_frames, anim.max_frames, model.name)
    if req.frame_duration_ms is not None and req.frame_duration_ms < anim.min_frame_ms:
        found.append(
            Problem(
                "frame_duration_ms",
                f"frame_duration_ms={quoted(req.frame_duration_ms)} is too short for {model.name}: "
                f"use {anim.min_frame_ms} or more",
            )
        )
    if fmt == "gif":
        found += [
            Problem(name, f"{name}={quoted(getattr(req, name))} is not supported with output_format gif: leave it out")
            for name in anim.refuses
            if name not in reported and getattr(req, name, None) not in (None, False, 0)
        ]
    return found


WIRE_NAMES = ("prompt", *(p.name for p in WIRE))  # helpers such as resolution are never fields


# ---- Edits: the same rules, plus the input images (see inputimage.py) ------------------------------------------------


@dataclass(frozen=True)
class EditRequest(ImageRequest):
    """One call of images.edit: `prompt`, the parameters edits take (params.py), `extra_body`, `images`
    (InputImage, 1-16), `mask` (an InputImage or None) and `form` (the wire form: multipart or json).

    The parameters edits do not take are always None (not arguments), so every generation rule judges an
    edit unchanged; an edit is an ImageRequest with inputs."""

    moderation: str | None = _not_taken()
    style: str | None = _not_taken()
    frame_count: int | None = _not_taken()
    frame_duration_ms: int | None = _not_taken()
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    form: str = "multipart"

    operation: ClassVar[str] = "edit"

    @classmethod
    def from_body(cls, body: dict[str, Any], images: Iterable[InputImage] = (), mask: InputImage | None = None) -> Self:
        """Build an edit from a server's parsed fields and its inputs; unknown keys go to extra_body."""
        known: dict[str, Any] = {"model": None, **{k: v for k, v in body.items() if k in EDIT_WIRE_NAMES}}
        extra = {k: v for k, v in body.items() if k not in EDIT_WIRE_NAMES}
        return cls(**known, images=tuple(images), mask=mask, extra_body=extra)

    def body(self) -> dict[str, Any]:
        """The parameters that are set, and each input's sha256 in place of its bytes: this edit's identity
        (cache key, history). The wire forms, multipart or JSON, are written by edits.py."""
        sent = {name: getattr(self, name) for name in EDIT_WIRE_NAMES}
        inputs: dict[str, Any] = {"images": [{"sha256": img.sha256} for img in self.images]}
        if self.mask is not None:
            inputs["mask"] = {"sha256": self.mask.sha256}
        return {**{k: v for k, v in sent.items() if v is not None}, **inputs, **self.extra_body}

    def problems(self) -> list[Problem]:
        """Every rule this edit breaks: the generation rules that apply, then the inputs'."""
        found = super().problems() + input_problems(self.images, self.mask)
        if self.form not in EDIT_FORMS:
            found.append(
                Problem("form", f"form={quoted(self.form)} is not a wire form of edits: use multipart or json")
            )
        return found

    def inputs_meta(self) -> dict[str, Any]:
        """The history's record of the inputs: hash and file of each image, and of the mask."""
        return {
            "inputs": [img.identity() for img in self.images],
            "mask": self.mask.identity() if self.mask is not None else None,
        }


EDIT_PARAMS = tuple(p for p in for_operation("edit") if p.wire)
EDIT_WIRE_NAMES = ("prompt", *(p.name for p in EDIT_PARAMS))
EDIT_FORMS = ("multipart", "json")


def _check_against_table() -> None:
    """The request classes declare exactly the table's parameters, in its order, with its types: a row in
    params.py without its field here (or the reverse) fails on import, not in a user's hands."""
    for cls, operation in ((ImageRequest, None), (EditRequest, "edit")):
        declared = [f for f in fields(cls) if "param" in f.metadata and f.init]
        expected = EDIT_PARAMS if operation else WIRE
        hints = get_type_hints(cls)
        if [f.metadata["param"] for f in declared] != list(expected) or any(
            f.metadata["param"].name != f.name or hints[f.name] != f.metadata["param"].type | None for f in declared
        ):
            raise TypeError(f"{cls.__name__}'s fields do not match the parameter table in params.py")


_check_against_table()
