"""The official OpenAI Images and Responses API schemas and a validator for tests.

`openai-images.schema.json` beside this file holds the JSON schemas of the Images (generations,
edits, stream events, errors), Files and Batch APIs, taken from the official OpenAI OpenAPI spec;
`openai-responses.schema.json` those of the Responses API as they concern the image_generation tool
(CreateResponse, Response, ResponseStreamEvent and what they reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).with_name("openai-images.schema.json")).read_text())
RESPONSES_SCHEMA = json.loads((Path(__file__).with_name("openai-responses.schema.json")).read_text())


def schema_errors(instance, definition, schema=SCHEMA):
    """Messages of every way `instance` breaks the official schema `definition` (empty: valid); `schema`:
    SCHEMA (Images, Files, Batch) or RESPONSES_SCHEMA."""
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]
