"""The flags `%%imagegen` and `imagemagic generate` share: the parameter table's flags plus the options.

One list, two parsers (IPython's magic_arguments and the CLI's argparse).
"""

from __future__ import annotations

import json

from .params import PARAMS, flag_arguments, for_operation

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
)


def request_flags(operation="generate"):
    """(names, options) of every flag a request takes: its parameters, then --extra and --offline."""
    return (*flag_arguments(operation), *OPTION_FLAGS)


def edit_only_flags():
    """(names, options) of the flags only edits take (the magic offers them beside the generation flags)."""
    generate = {names for names, _ in flag_arguments("generate")}
    return tuple((names, options) for names, options in flag_arguments("edit") if names not in generate)


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
