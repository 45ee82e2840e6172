"""What a model accepts, merged from every source that knows (pure data, no I/O).

Sources, lowest precedence first: the built-in catalog (catalog.py), what the endpoint's GET /models
says of the model (`supported_parameters`; on a profile with a listing, such as OpenRouter, its
`architecture.output_modalities` too: an image model there is reached through chat completions), and
the user's overrides (`Settings.capabilities`, `%config ImageGenMagics.capabilities`). Each source
names only what it knows; the later one wins for what it names. A model no source knows keeps generic
checks only. Request validation judges by the merged result (`Capability.rules`, the catalog row with
the rest applied), so the catalog is one source among several, not a second rulebook. Reading GET
/models (bounded, cached) is remote.py's job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalog import Model, base_name, lookup
from .errors import quoted
from .params import BY_NAME, WIRE
from .profiles import Profile

APIS = ("images", "responses", "chat")  # the dialects a model is reached through
ALWAYS = ("model", "n")  # every model takes these: n is split into calls of at most max_n
KEYS = ("api", "takes", "max_n", "max_inputs", "stream")  # what an override may say, besides allowed values


@dataclass(frozen=True)
class Capability:
    """What `model` accepts: `api` (images, responses or chat), `takes` (parameter names; None: any, judged
    by generic checks), `values` (the values a parameter may take, where a source lists them; `size` is the
    sizes), `max_n` (images per call; None: as many as asked), `max_inputs` (input images an edit takes;
    None: the API's rule), `streaming` (None: not known), `rules` (the catalog row with every source applied,
    which request validation judges by; None for a model outside the catalog) and `sources` (which sources
    said something, lowest first: catalog, models, overrides)."""

    model: str
    api: str = "images"
    takes: frozenset[str] | None = None
    values: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    max_n: int | None = None
    max_inputs: int | None = None
    streaming: bool | None = None
    rules: Model | None = None
    sources: tuple[str, ...] = ()

    def accepts(self, param: str) -> bool:
        """Whether the model takes `param` at all (a value may still be refused by the rules)."""
        return param in ALWAYS or self.takes is None or param in self.takes


def _catalog_takes(row: Model, name: str) -> bool:
    if name == "output_compression":
        return bool(row.output_formats)
    if name in ("stream", "partial_images"):
        return row.streaming
    if name in ("frame_count", "frame_duration_ms"):
        return row.animation is not None
    choices = BY_NAME[name].choices
    return bool(getattr(row, choices)) if choices else True


def from_catalog(row: Model) -> dict[str, Any]:
    """What the catalog says of a model, as a layer."""
    return {
        "takes": frozenset(p.name for p in WIRE if _catalog_takes(row, p.name)),
        "max_n": row.max_n,
        "stream": row.streaming,
    }


def from_listing(entry: Mapping[str, Any], profile: Profile) -> dict[str, Any]:
    """What one GET /models entry says of its model, as a layer: `supported_parameters` (those that are
    parameters of ours) and, where the profile has a listing, `architecture` (an image model is reached
    through the profile's image dialect; one without image input takes no input images)."""
    layer: dict[str, Any] = {}
    supported = entry.get("supported_parameters")
    arch = entry.get("architecture")
    outputs = arch.get("output_modalities") if isinstance(arch, dict) else None
    inputs = arch.get("input_modalities") if isinstance(arch, dict) else None
    image_model = profile.listing and isinstance(outputs, list) and "image" in outputs
    if isinstance(supported, list):
        named = {name for name in supported if isinstance(name, str) and name in BY_NAME}
        layer["takes"] = frozenset(named | ({"size"} if image_model else set()))
        layer["stream"] = "stream" in named
    if image_model:
        layer["api"] = profile.image_api
        if isinstance(inputs, list) and "image" not in inputs:
            layer["max_inputs"] = 0
    return layer


def overrides_for(model: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The user's override of `model` (by its name, else the name after a provider prefix), as a layer."""
    overrides = overrides or {}
    found = overrides.get(model, overrides.get(base_name(model)))
    if not isinstance(found, Mapping):
        return {}
    layer = {k: v for k, v in found.items() if k in KEYS}
    if "takes" in layer:
        layer["takes"] = frozenset(layer["takes"])
    values = {k: tuple(v) for k, v in found.items() if k not in KEYS}
    return {**layer, "values": values} if values else layer


def merged(model: str, profile: Profile, *layers: tuple[str, Mapping[str, Any]]) -> Capability:
    """The capability of `model` on an endpoint of `profile`: the catalog, then `layers` ((source, layer),
    lowest precedence first, each from from_listing or overrides_for), each winning for what it names."""
    row = lookup(model)
    said: dict[str, Any] = {"api": profile.image_api if profile.image_api == "chat" else "images"}
    sources = []
    for source, layer in (("catalog", from_catalog(row) if row else {}), *layers):
        if layer:
            sources.append(source)
            values = {**said.get("values", {}), **layer.get("values", {})}
            said.update(layer, values=values)
    max_n = said.get("max_n")
    if profile.max_n is not None:
        max_n = min(max_n or profile.max_n, profile.max_n)
    cap = Capability(
        model=model,
        api=said["api"],
        takes=said.get("takes"),
        values=said.get("values", {}),
        max_n=max_n,
        max_inputs=said.get("max_inputs"),
        streaming=said.get("stream"),
        sources=tuple(sources),
    )
    return dataclasses.replace(cap, rules=_rules(row, cap)) if row else cap


def _rules(row: Model, cap: Capability) -> Model:
    """The catalog row with the capability applied: a parameter it does not take allows no value, a parameter
    it lists values for allows those, and its per-call n and streaming."""
    changes: dict[str, Any] = {"max_n": cap.max_n or row.max_n, "streaming": bool(cap.streaming)}
    for p in WIRE:
        if p.choices and p.choices != "resolutions":
            if not cap.accepts(p.name):
                changes[p.choices] = ()
            elif p.name in cap.values:
                changes[p.choices] = cap.values[p.name]
    return dataclasses.replace(row, **changes)


def override_problems(overrides: object) -> list[str]:
    """One line per thing wrong with a `capabilities` setting (empty when it may be used)."""
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        return ["capabilities must be a dict of model names to what each accepts, e.g. {'my-model': {'max_n': 1}}"]
    found = []
    for model, spec in overrides.items():
        if not isinstance(spec, Mapping):
            found.append(
                f"capabilities[{quoted(model)}] must be a dict (keys: {', '.join(KEYS)}, or a parameter's values)"
            )
            continue
        for key, value in spec.items():
            line = _override_problem(key, value)
            if line:
                found.append(f"capabilities[{quoted(model)}]: {line}")
    return found


def _override_problem(key: str, value: object) -> str | None:
    if key == "api":
        return None if value in APIS else f"api={quoted(value)} is not a dialect: use {', '.join(APIS)}"
    if key == "takes":
        names = value if isinstance(value, (list, tuple, set, frozenset)) else None
        unknown = [n for n in names or () if n not in BY_NAME]
        if names is None or unknown:
            return f"takes must list parameter names (not {unknown or quoted(value)})"
        return None
    if key in ("max_n", "max_inputs"):
        low = 1 if key == "max_n" else 0
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else f"{key}={quoted(value)} must be a whole number, {low} or more"
    if key == "stream":
        return None if isinstance(value, bool) else f"stream={quoted(value)} must be true or false"
    if key in BY_NAME:
        return None if isinstance(value, (list, tuple)) else f"{key} must list the values allowed, e.g. [{key!r}]"
    return f"{quoted(key)} is neither a capability ({', '.join(KEYS)}) nor a parameter"


def left_out(
    values: Mapping[str, Any], explicit: set[str], cap: Capability | None, not_taken: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """`values` without the defaults `cap`'s model does not take (or the carrying API has no place for: `not_taken`),
    and one note for each left out. A key in `explicit` (given for this call) stays, to be refused by the request's
    rules: nothing is sent."""
    kept, notes = dict(values), []
    model = cap.model if cap is not None else values.get("model")
    for name, value in values.items():
        untaken = (cap is not None and not cap.accepts(name)) or name in not_taken
        if untaken and name in BY_NAME and name not in explicit:
            del kept[name]
            notes.append(f"{model} does not take {name}: the default {name}={quoted(value)} is left out")
    return kept, notes
