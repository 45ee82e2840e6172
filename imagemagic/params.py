"""The one table of API parameters: each declared once, with its type, help and the operations that take it.

Everything else derives from `PARAMS`: the request's fields and type checks (request.py), the
magic's and the CLI's flags (`flag_arguments`), the config traits (magics.py), the panel's widgets
(controlpanel.py) and which catalog field lists a parameter's allowed values (catalog.py).
Adding a parameter means one row here, plus the catalog data that says which models take it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .errors import quoted

OPERATIONS = ("generate", "edit")


@dataclass(frozen=True)
class Param:
    """One request parameter, named exactly as on the wire."""

    name: str
    type: type  # str, int or bool
    help: str
    operations: tuple[str, ...] = OPERATIONS
    choices: str | None = None  # the catalog field listing the values a model allows
    short: str | None = None  # a one-letter flag besides the long one
    wire: bool = True  # False: a request-side helper, resolved before the request is made and never sent

    @property
    def flag(self) -> str:
        """The long flag: the name with dashes (`--output-format`)."""
        return "--" + self.name.replace("_", "-")


PARAMS: tuple[Param, ...] = (
    Param("model", str, "Model name, e.g. gpt-image-2, or a gateway's openai/gpt-image-2."),
    Param(
        "size",
        str,
        "WIDTHxHEIGHT (e.g. 1536x1024), an aspect (16:9, square, landscape, portrait: the model's size for it) "
        "or auto.",
        choices="sizes",
    ),
    Param(
        "resolution",
        str,
        "1K, 2K or 4K: the long side (about 1024, 2048 or 3840 pixels) of an aspect size, on free-size models; "
        "never sent, it picks the size.",
        choices="resolutions",
        wire=False,
    ),
    Param("quality", str, "low, medium, high or auto (GPT image); standard or hd (dall-e-3).", choices="qualities"),
    Param("n", int, "Number of images, 1-10.", short="-n"),
    Param("background", str, "transparent, opaque or auto (GPT image models).", choices="backgrounds"),
    Param("output_format", str, "png, jpeg or webp (GPT image models).", choices="output_formats"),
    Param("output_compression", int, "0-100, with jpeg or webp."),
    Param("moderation", str, "low or auto (GPT image models).", ("generate",), choices="moderations"),
    Param("stream", bool, "Stream the answer; with partial_images, partial images arrive before the final one."),
    Param("partial_images", int, "Partial images to stream before the final one, 0-3."),
    Param("style", str, "vivid or natural (dall-e-3).", ("generate",), choices="styles"),
    Param("response_format", str, "url or b64_json (dall-e models).", choices="response_formats"),
    Param("user", str, "An end-user id passed to the provider (OpenAI prefers safety_identifier now)."),
    Param("safety_identifier", str, "A stable id of the end user (a hash, not a name) for abuse checks."),
    Param(
        "input_fidelity",
        str,
        "high or low: how closely an edit keeps the input images' details (gpt-image-1, 1.5; 1-mini: low).",
        ("edit",),
        choices="input_fidelities",
    ),
    Param("complexity", str, "low, medium or high (gpt-image-2.6 family).", choices="complexities"),
    Param(
        "frame_count", int, "Frames of an animated GIF, 2-16 (gpt-image-2.6 family, output_format gif).", ("generate",)
    ),
    Param("frame_duration_ms", int, "Milliseconds per GIF frame, 20 or more (gpt-image-2.6 family).", ("generate",)),
)

BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
WIRE: tuple[Param, ...] = tuple(p for p in PARAMS if p.wire)  # the parameters a request carries and sends


def for_operation(operation: str) -> tuple[Param, ...]:
    """The parameters `operation` ("generate" or "edit") takes, in table order."""
    return tuple(p for p in PARAMS if operation in p.operations)


def flag_arguments(operation: str = "generate"):
    """(names, argparse options) for each parameter's flag; a boolean gets `--x` and `--no-x`."""
    for p in for_operation(operation):
        names = (p.short, p.flag) if p.short else (p.flag,)
        if p.type is bool:
            yield names, {"action": "store_true", "default": None, "help": p.help}
            yield (f"--no-{p.flag[2:]}",), {"dest": p.name, "action": "store_false", "help": f"Do not {p.name}."}
        else:
            yield names, {"type": p.type, "default": None, "help": p.help}


def unknown_names(names, operation: str = "generate") -> list[tuple[str, str]]:
    """(name, sentence) for each name that is not a parameter of `operation`, with the closest one suggested."""
    known = [p.name for p in for_operation(operation)]
    sentences = []
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        sentences.append((name, f"{quoted(name)} is not a parameter of {operation}: {hint}use {', '.join(known)}"))
    return sentences
