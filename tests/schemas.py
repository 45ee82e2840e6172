"""The official Images API schemas (../shared/openai-images.schema.json) and a validator for tests."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCHEMA = json.loads((SHARED / "openai-images.schema.json").read_text())


def schema_errors(instance, definition):
    """Messages of every way `instance` breaks the official schema `definition` (empty: valid)."""
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]})
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]
