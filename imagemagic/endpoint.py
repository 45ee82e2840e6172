"""Where requests go: OpenAI, any OpenAI-compatible base URL, Azure OpenAI, or our local server.

Resolution, first match wins: `offline=True` → the built-in server; an explicit or
`OPENAI_BASE_URL` base URL; Azure (`AZURE_OPENAI_ENDPOINT` + `AZURE_OPENAI_API_KEY`); an
`OPENAI_API_KEY` → https://api.openai.com/v1; nothing → the built-in server. Resolving is plain
data and starts nothing: the built-in server's endpoint has no address until `Session.connect`
starts the server (off the event loop). Keys come from arguments or the environment only, and
never appear in a repr. A credential is bound to the endpoint it was configured for: a stored URL
is reached again only with `credentials_for(url)` — the key configured for that URL's endpoint, or
none (see there). Surrounding whitespace is stripped from keys and ids (a trailing newline from
`$(cat key.txt)` is common); one with whitespace or control characters inside is refused by name.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import CredentialError, Problem, ValidationError
from .profiles import PROFILES, Profile, detect, profile_problem

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
    profile: str = "auto"  # a name of profiles.PROFILES; "auto": the one the base URL implies (profiles.detect)

    def __post_init__(self):
        for name in ("api_key", "organization", "project"):  # made directly, not by resolve(): check here
            object.__setattr__(self, name, _credential(getattr(self, name), f"the endpoint's {name}"))
        problem = profile_problem(self.profile)
        if problem:
            raise ValidationError([Problem("profile", problem)])
        if self.profile == "auto":
            object.__setattr__(self, "profile", detect(self.base_url, azure=bool(self.azure_api_version)))

    @property
    def gateway(self) -> Profile:
        """What this endpoint's profile changes (profiles.Profile): auth header, dialect, listing, n, sizes."""
        return PROFILES[self.profile]

    def __repr__(self):
        kind = "azure" if self.azure_api_version else "offline" if self.offline else "openai-compatible"
        key = ", key set" if self.api_key else ""
        return f"<Endpoint {kind} {self.base_url or '(local preview server)'}{key}>"

    @property
    def host(self) -> str:
        """The host name requests go to ("localhost" for the local server before it starts)."""
        return urlsplit(self.base_url).hostname or "" if self.base_url else "localhost"

    def url(self, model: str, operation: str = "generate") -> str:
        """The URL of `operation` (generate: images/generations, edit: images/edits); Azure puts the
        deployment (our model name) in the path."""
        path = "images/edits" if operation == "edit" else "images/generations"
        if self.azure_api_version:
            return f"{self.base_url}/openai/deployments/{model}/{path}"
        return f"{self.base_url}/{path}"

    def not_found_hint(self) -> str | None:
        """The hint for a 404 that is not about the model: a base URL without /v1 (None when it has it)."""
        if self.base_url is None or self.azure_api_version or urlsplit(self.base_url).path.endswith("/v1"):
            return None
        return f"the base URL {self.base_url} does not end in /v1, where OpenAI-compatible APIs answer: " + (
            f"try {self.base_url}/v1"
        )

    def params(self) -> dict[str, str]:
        """Query parameters every request carries."""
        return {"api-version": self.azure_api_version} if self.azure_api_version else {}

    def headers(self) -> dict[str, str]:
        """Authentication and organisation headers."""
        headers = {}
        if self.api_key:
            if self.azure_api_version or self.gateway.auth == "api-key":
                headers["api-key"] = self.api_key
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers


def headers_for(url: str, endpoint: Endpoint) -> dict[str, str]:
    """The headers to send to `url` reached from `endpoint` (a download, a cached look-up): the endpoint's
    own credentials when `url` lies under its base URL (see `under`, the rule `credentials_for` uses too),
    else none. A key is bound to the endpoint it was configured for."""
    return endpoint.headers() if endpoint.base_url and under(url, endpoint.base_url) else {}


def resolve(*, api_key=None, base_url=None, offline=False, environ=None, profile="auto"):
    """The Endpoint for these arguments and the environment (plain data: nothing is started), with `profile`
    (a name of profiles.PROFILES, or "auto": the one its base URL implies).

    Raises CredentialError for a key or id with whitespace or control characters inside it.
    """
    found = _resolved(api_key=api_key, base_url=base_url, offline=offline, environ=environ)
    return dataclasses.replace(found, profile=profile) if profile != "auto" else found


def _resolved(*, api_key=None, base_url=None, offline=False, environ=None):
    env = os.environ if environ is None else environ
    if not offline:
        api_key = _credential(api_key, "the api_key argument")
        openai_key = api_key or _credential(env.get("OPENAI_API_KEY"), "OPENAI_API_KEY")
        org = _credential(env.get("OPENAI_ORG_ID"), "OPENAI_ORG_ID")
        project = _credential(env.get("OPENAI_PROJECT_ID"), "OPENAI_PROJECT_ID")
        base = base_url or env.get("OPENAI_BASE_URL")
        if base:
            return Endpoint(_url(base, "the base URL" if base_url else "OPENAI_BASE_URL"), openai_key, org, project)
        azure = env.get("AZURE_OPENAI_ENDPOINT")
        azure_key = api_key or _credential(env.get("AZURE_OPENAI_API_KEY"), "AZURE_OPENAI_API_KEY")
        if azure and azure_key:
            version = env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
            return Endpoint(azure.rstrip("/"), azure_key, azure_api_version=version)
        if openai_key:
            return Endpoint(OPENAI_BASE_URL, openai_key, org, project)
    return Endpoint(None, offline=True, reason="offline" if offline else "no OPENAI_API_KEY")


def configured(*, api_key=None, base_url=None, environ=None, profile="auto") -> list[Endpoint]:
    """Every endpoint a credential is configured for: the one these arguments (and the environment) resolve
    to (with `profile`), then OPENAI_API_KEY's (OPENAI_BASE_URL, else api.openai.com), then Azure's."""
    env = os.environ if environ is None else environ
    found = [resolve(api_key=api_key, base_url=base_url, environ=env, profile=profile)]
    openai_key = _credential(env.get("OPENAI_API_KEY"), "OPENAI_API_KEY")
    if openai_key:
        base = (env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        org = _credential(env.get("OPENAI_ORG_ID"), "OPENAI_ORG_ID")
        found.append(Endpoint(base, openai_key, org, _credential(env.get("OPENAI_PROJECT_ID"), "OPENAI_PROJECT_ID")))
    azure, azure_key = (
        env.get("AZURE_OPENAI_ENDPOINT"),
        _credential(env.get("AZURE_OPENAI_API_KEY"), "AZURE_OPENAI_API_KEY"),
    )
    if azure and azure_key:
        version = env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
        found.append(Endpoint(azure.rstrip("/"), azure_key, azure_api_version=version))
    return [e for e in found if e.base_url]


def credentials_for(url: str, *, azure: bool = False, **configuration) -> Endpoint | None:
    """The configured endpoint (with its credentials) whose base URL `url` is or lies under, of the same kind
    (Azure or not); None when no credential is configured for it. `configuration`: api_key=, base_url=,
    environ= as for `resolve`. The one rule for reaching a stored URL again (a batch job's server, its
    files, a remote model cache, an image URL): a key goes only to the endpoint it was configured for."""
    for endpoint in configured(**configuration):
        if endpoint.base_url and bool(endpoint.azure_api_version) == azure and under(url, endpoint.base_url):
            return endpoint
    return None


def under(url: str, base: str) -> bool:
    """Whether `url` is `base` or lies below it: same scheme, host and port, and a path under base's path."""

    def parts(text):
        split = urlsplit(text.strip())
        scheme = split.scheme.lower()
        try:
            port = split.port or {"http": 80, "https": 443}.get(scheme)
        except ValueError:
            return None
        return scheme, (split.hostname or "").lower(), port, split.path.rstrip("/")

    got, want = parts(url), parts(base)
    if got is None or want is None or got[:3] != want[:3] or not want[1]:
        return False
    return got[3] == want[3] or got[3].startswith(want[3] + "/")


def host_of(url: str | None) -> str:
    """The host (and port, if any) of `url`, as a message names it."""
    split = urlsplit(url or "")
    return split.netloc.rpartition("@")[2] or "localhost"


def _url(value, source):
    """A base URL without its trailing slash; one without http(s):// or a host is refused by `source`."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    local = url.startswith(("localhost", "127.", "[::1]", "0.0.0.0"))
    hint = f"did you mean {('http://' if local else 'https://') + url!r}? " if "://" not in url else ""
    raise ValidationError([Problem("base_url", f"{source} {value!r} is not an http(s) URL: {hint}nothing was sent")])


def _credential(value, source):
    """`value` without surrounding whitespace (None when empty); refused, by `source`, if anything odd is inside."""
    value = (value or "").strip()
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in value):
        raise CredentialError(
            f"{source} contains whitespace, control or non-ASCII characters inside it (a line break or a pasted "
            "header?); set it to the value alone; nothing was sent"
        )
    return value or None
