"""Where requests go: OpenAI, any OpenAI-compatible base URL, Azure OpenAI, or our local server.

Resolution, first match wins: `offline=True` → the built-in server; an explicit or
`OPENAI_BASE_URL` base URL; Azure (`AZURE_OPENAI_ENDPOINT` + `AZURE_OPENAI_API_KEY`); an
`OPENAI_API_KEY` → https://api.openai.com/v1; nothing → the built-in server. Resolving is plain
data and starts nothing: the built-in server's endpoint has no address until `Session.connect`
starts the server (off the event loop). Keys come from arguments or the environment only, and
never appear in a repr. Surrounding whitespace is stripped from keys and ids (a trailing newline from
`$(cat key.txt)` is common); one with whitespace or control characters inside is refused by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import CredentialError

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

    def __post_init__(self):
        for name in ("api_key", "organization", "project"):  # made directly, not by resolve(): check here
            object.__setattr__(self, name, _credential(getattr(self, name), f"the endpoint's {name}"))

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


def origin(url: str | None) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of `url`, the default port made explicit; None when it has no host."""
    try:
        parts = urlsplit(url or "")
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def credentials_for(url: str, endpoint: Endpoint) -> dict[str, str]:
    """The headers to send to a stored `url` (a download, a file, a cached look-up): the endpoint's own
    credentials when `url` is on the endpoint's origin (scheme, host and port), else none. A key is
    bound to the host it was configured for."""
    if endpoint.base_url is None or origin(url) is None or origin(url) != origin(endpoint.base_url):
        return {}
    return endpoint.headers()


def resolve(*, api_key=None, base_url=None, offline=False, environ=None):
    """The Endpoint for these arguments and the environment (plain data: nothing is started).

    Raises CredentialError for a key or id with whitespace or control characters inside it.
    """
    env = os.environ if environ is None else environ
    if not offline:
        api_key = _credential(api_key, "the api_key argument")
        openai_key = api_key or _credential(env.get("OPENAI_API_KEY"), "OPENAI_API_KEY")
        org = _credential(env.get("OPENAI_ORG_ID"), "OPENAI_ORG_ID")
        project = _credential(env.get("OPENAI_PROJECT_ID"), "OPENAI_PROJECT_ID")
        base = base_url or env.get("OPENAI_BASE_URL")
        if base:
            return Endpoint(base.rstrip("/"), openai_key, org, project)
        azure = env.get("AZURE_OPENAI_ENDPOINT")
        azure_key = api_key or _credential(env.get("AZURE_OPENAI_API_KEY"), "AZURE_OPENAI_API_KEY")
        if azure and azure_key:
            version = env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
            return Endpoint(azure.rstrip("/"), azure_key, azure_api_version=version)
        if openai_key:
            return Endpoint(OPENAI_BASE_URL, openai_key, org, project)
    return Endpoint(None, offline=True, reason="offline" if offline else "no OPENAI_API_KEY")


def _credential(value, source):
    """`value` without surrounding whitespace (None when empty); refused, by `source`, if anything odd is inside."""
    value = (value or "").strip()
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in value):
        raise CredentialError(
            f"{source} contains whitespace, control or non-ASCII characters inside it (a line break or a pasted "
            "header?); set it to the value alone; nothing was sent"
        )
    return value or None
