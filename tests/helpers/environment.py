"""The environment variables that choose an endpoint or pace the local server: every test starts without them."""

from __future__ import annotations

ENDPOINT_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
)
SERVER_VARIABLES = ("IMAGEMAGIC_PREVIEW_DELAY", "IMAGEMAGIC_BATCH_DELAY")
