"""The request flags shared by `%%imagegen` and `imagemagic generate`: one table, two parsers."""

from __future__ import annotations

import json

REQUEST_FLAGS = (
    (("--model",), {"help": "Model name, e.g. gpt-image-2, dall-e-3, or a gateway's openai/gpt-image-2."}),
    (("--size",), {"help": "WIDTHxHEIGHT (e.g. 1536x1024) or auto."}),
    (("--quality",), {"help": "low, medium, high or auto (GPT image); standard or hd (dall-e-3)."}),
    (("-n", "--n"), {"type": int, "help": "Number of images, 1-10."}),
    (("--background",), {"help": "transparent, opaque or auto (GPT image models)."}),
    (("--output-format",), {"help": "png, jpeg or webp (GPT image models)."}),
    (("--output-compression",), {"type": int, "help": "0-100, with jpeg or webp."}),
    (("--moderation",), {"help": "low or auto (GPT image models)."}),
    (("--stream",), {"action": "store_true", "default": None, "help": "Stream: show partial images as they arrive."}),
    (("--no-stream",), {"dest": "stream", "action": "store_false", "help": "Do not stream (overrides the config)."}),
    (("--partial-images",), {"type": int, "help": "Partial images to show while streaming, 0-3."}),
    (("--style",), {"help": "vivid or natural (dall-e-3)."}),
    (("--response-format",), {"help": "url or b64_json (dall-e models)."}),
    (("--user",), {"help": "An end-user id passed to the provider."}),
    (
        ("--extra",),
        {
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "A parameter this release does not know, sent as given (VALUE is JSON if it parses); repeatable.",
        },
    ),
    (
        ("--offline",),
        {"action": "store_true", "help": "Use the built-in offline preview server, even when a key is set."},
    ),
)

FRESH_FLAG = (
    ("--fresh",),
    {"action": "store_true", "help": "Generate anew even when an identical request's images are stored (no cache)."},
)

PASSED = (
    "model",
    "size",
    "quality",
    "n",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "stream",
    "partial_images",
    "style",
    "response_format",
    "user",
)


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


def request_values(args, defaults=None):
    """The request parameters from parsed flags, over `defaults` (config); None means not given."""
    values = dict(defaults or {})
    values.update({name: getattr(args, name) for name in PASSED if getattr(args, name) is not None})
    return values
