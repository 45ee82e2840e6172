"""The flags `%%imagegen` and `imagemagic generate` share: the parameter table's flags plus the options,
and the `--grid NAME=V1,V2,…` axes.

One list, two parsers (IPython's magic_arguments and the CLI's argparse). Where a flag takes one of
a list of values, its help lists them from the catalog (every model that takes the operation), so
the help never goes stale when a model brings a new value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .catalog import MODELS
from .params import BY_NAME, PARAMS, flag_arguments, for_operation

Flag = tuple[tuple[str, ...], dict[str, Any]]

OPTION_FLAGS = (
    (
        ("--extra",),
        {
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "A parameter this release does not know, sent as given (VALUE is JSON if it parses); repeatable.",
        },
    ),
    (("--offline",), {"action": "store_true", "help": "Use the built-in offline preview server, even with a key."}),
    (("--api",), {"metavar": "API", "help": "Which API makes the images: images or responses (default: api)."}),
    (
        ("--responses-model",),
        {"metavar": "MODEL", "help": "The mainline model of a Responses API call (default: responses_model)."},
    ),
)
SETTING_FLAGS = ("api", "responses_model")  # settings a request records beside its parameters, each a flag above


def setting_values(args) -> dict[str, Any]:
    """The settings given by flags (--api, --responses-model), by name; None for those not given."""
    return {name: getattr(args, name, None) for name in SETTING_FLAGS}


def allowed_values(name: str) -> tuple:
    """Every value some model of the catalog allows for parameter `name`, in catalog order."""
    return tuple(dict.fromkeys(v for model in MODELS.values() for v in model.allowed(name)))


def help_for(name: str, text: str | None = None) -> str:
    """Parameter `name`'s help (`text`: the row's), with the allowed values from the catalog when it has a list."""
    param = BY_NAME.get(name)
    text = text if text is not None else param.help if param else ""
    if param is None or not param.choices or param.choices == "sizes":
        return text
    about = text.partition(": ")[2].split(" (")[0].rstrip(".")
    values = ", ".join(map(str, allowed_values(name)))
    return f"One of {values}{': ' + about if about else ''} (which model takes which: --models)."


def parameter_flags(operation: str = "generate") -> Iterator[Flag]:
    """(names, options) of each parameter's flag for `operation`, with help derived from the catalog."""
    for names, options in flag_arguments(operation):
        name = options.get("dest") or names[-1][2:].replace("-", "_")
        yield names, {**options, "help": help_for(name, options["help"])}


def request_flags(operation: str = "generate") -> tuple[Flag, ...]:
    """(names, options) of every flag a request takes: its parameters, then --extra, --offline, --api and
    --responses-model."""
    return (*parameter_flags(operation), *OPTION_FLAGS)


def edit_only_flags() -> tuple[Flag, ...]:
    """(names, options) of the flags only edits take (the magic offers them beside the generation flags)."""
    generate = {names for names, _ in flag_arguments("generate")}
    return tuple((names, options) for names, options in parameter_flags("edit") if names not in generate)


def given_values(args):
    """Every parameter set by a flag (generation or edit), by name."""
    return {p.name: getattr(args, p.name) for p in PARAMS if getattr(args, p.name, None) is not None}


def edit_only_given(args):
    """The flags of edit-only parameters that were given (they need --image)."""
    return [p.flag for p in PARAMS if p.operations == ("edit",) and getattr(args, p.name, None) is not None]


def parse_extra(pairs):
    """--extra KEY=VALUE pairs as a dict; raises ValueError with the sentence to show."""
    extra = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--extra {pair!r} must look like KEY=VALUE (VALUE is JSON if it parses, else text)")
        try:
            extra[key] = json.loads(value)
        except ValueError:
            extra[key] = value
    return extra


def request_values(args, operation="generate"):
    """The request parameters of `operation` from parsed flags; None means not given."""
    return {p.name: getattr(args, p.name, None) for p in for_operation(operation)}


def grid_axes(specs: Iterable[str] | None, namespace: Mapping[str, Any]) -> dict[str, list]:
    """`--grid NAME=V1,V2,…` or `--grid NAME=variable` (a list in `namespace`) as {NAME: [values]};
    values of an int or float parameter are converted. Raises ValueError with the line to show."""
    axes = {}
    for spec in specs or ():
        name, sep, text = spec.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name.isidentifier() or not text:
            raise ValueError(f"--grid {spec!r} must look like NAME=V1,V2,… or NAME=variable (a list)")
        if text.isidentifier() and text in namespace:
            values = namespace[text]
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise ValueError(f"--grid {spec!r}: {text} is a {type(values).__name__}, not a list of values")
            values = list(values)
        else:
            values = [v.strip() for v in text.split(",")]
        kind = BY_NAME[name].type if name in BY_NAME else str
        if kind in (int, float):
            try:
                values = [kind(v) for v in values]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"--grid {name}: the values must be {kind.__name__} numbers (got {text!r})") from exc
        axes[name] = values
    return axes
