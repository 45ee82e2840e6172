"""Where requests go: OpenAI, any OpenAI-compatible base URL, Azure OpenAI, or our local server.

Resolution, first match wins: `offline=True` → the built-in server; an explicit or
`OPENAI_BASE_URL` base URL; Azure (`AZURE_OPENAI_ENDPOINT` + `AZURE_OPENAI_API_KEY`); an
`OPENAI_API_KEY` → https://api.openai.com/v1; nothing → the built-in server. Resolving is plain
data and starts nothing: the built-in server's endpoint has no address until `Session.connect`
starts the server (off the event loop). Keys come from arguments or the environment only, and
never appear in a repr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

OPENAI_BASE_URL = "https://api.openai.com/v1"
AZURE_API_VERSION = "2025-04-01-preview"


@dataclass(frozen=True)
class Endpoint:
    """A resolved destination: base URL, credentials, extra headers, and the Azure API version if any."""

    base_url: str | None  # None: the local preview server, not started yet
    api_key: str | None = field(default=None, repr=False)
    organization: str | None = None
    project: str | None = None
    azure_api_version: str | None = None
    offline: bool = False
    reason: str = ""  # why the offline server answers ("offline" or "no OPENAI_API_KEY")

    def __repr__(self):
        kind = "azure" if self.azure_api_version else "offline" if self.offline else "openai-compatible"
        key = ", key set" if self.api_key else ""
        return f"<Endpoint {kind} {self.base_url or '(local preview server)'}{key}>"

    @property
    def host(self):
        """The host name requests go to ("localhost" for the local server before it starts)."""
        return urlsplit(self.base_url).hostname or "" if self.base_url else "localhost"

    def url(self, model, operation="generate"):
        """The URL of `operation` (generate: images/generations, edit: images/edits); Azure puts the
        deployment (our model name) in the path."""
        path = "images/edits" if operation == "edit" else "images/generations"
        if self.azure_api_version:
            return f"{self.base_url}/openai/deployments/{model}/{path}"
        return f"{self.base_url}/{path}"

    def params(self):
        """Query parameters every request carries."""
        return {"api-version": self.azure_api_version} if self.azure_api_version else {}

    def headers(self):
        """Authentication and organisation headers."""
        headers = {}
        if self.api_key:
            if self.azure_api_version:
                headers["api-key"] = self.api_key
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers


def resolve(*, api_key=None, base_url=None, offline=False, environ=None):
    """The Endpoint for these arguments and the environment (plain data: nothing is started)."""
    env = os.environ if environ is None else environ
    if not offline:
        openai_key = api_key or env.get("OPENAI_API_KEY") or None
        org, project = env.get("OPENAI_ORG_ID") or None, env.get("OPENAI_PROJECT_ID") or None
        base = base_url or env.get("OPENAI_BASE_URL")
        if base:
            return Endpoint(base.rstrip("/"), openai_key, org, project)
        azure = env.get("AZURE_OPENAI_ENDPOINT")
        if azure and (api_key or env.get("AZURE_OPENAI_API_KEY")):
            version = env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
            return Endpoint(azure.rstrip("/"), api_key or env["AZURE_OPENAI_API_KEY"], azure_api_version=version)
        if openai_key:
            return Endpoint(OPENAI_BASE_URL, openai_key, org, project)
    return Endpoint(None, offline=True, reason="offline" if offline else "no OPENAI_API_KEY")
