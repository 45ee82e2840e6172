"""The official OpenAI Images API schemas and a validator for tests.

`openai-images.schema.json` beside this file holds the JSON schemas of the Images (generations,
edits, stream events, errors), Files and Batch APIs, taken from the official OpenAI OpenAPI spec.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).with_name("openai-images.schema.json")).read_text())


def schema_errors(instance, definition):
    """Messages of every way `instance` breaks the official schema `definition` (empty: valid)."""
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]})
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]
