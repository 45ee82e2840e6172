"""Gateway profiles, as data: what each kind of endpoint changes about a call (pure data, no I/O).

A profile is chosen from the base URL (`detect`) or by `Settings.profile`, and carried on the resolved
`Endpoint` (`Endpoint.profile`), so the client, the downloads, the batch paths and the capability layer
all see the same one. Every rule of endpoint.py still holds under every profile: a key goes only to
the endpoint it was configured for, under its base URL; caps, deadlines and masking are the client's.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from .errors import choice_line


class Profile(NamedTuple):  # not a dataclass: made at %load_ext, where one costs about 0.4 ms
    """What one kind of endpoint takes: `auth` (the key's header: "bearer" for `Authorization: Bearer`,
    "api-key" for Azure's `api-key`), `image_api` (the dialect its image models use unless the capability
    layer says otherwise: images, responses or chat), `listing` (its GET {base}/models lists image models
    with `architecture.output_modalities` and `supported_parameters`, read by the capability layer),
    `max_n` (images per call it takes whatever the model; None: the model's), `sizes` (how a size reaches
    the wire: "size" as WIDTHxHEIGHT, "aspect" as an aspect ratio and resolution, mapped by the dialect).
    Cost is the same rule everywhere (usage.priced): the provider's `usage.cost` when it sends one, else tokens.
    """

    name: str
    auth: str = "bearer"
    image_api: str = "images"
    listing: bool = False
    max_n: int | None = None
    sizes: str = "size"


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("openai"),
        Profile("azure", auth="api-key"),
        Profile("openrouter", image_api="chat", listing=True, max_n=1, sizes="aspect"),
        Profile("litellm"),
        Profile("local"),
    )
}
PROFILE_NOUN = "a profile of imagemagic"
PROFILE_CHOICES = ("auto", *PROFILES)
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
OPENROUTER_HOST = "openrouter.ai"


def detect(base_url: str | None, *, azure: bool = False) -> str:
    """The profile a base URL implies: local (no address yet: the built-in server), azure (an Azure OpenAI
    host, or `azure`: configured through AZURE_OPENAI_ENDPOINT), openrouter (openrouter.ai), else openai.
    LiteLLM has no host of its own: choose it with `Settings.profile`."""
    if base_url is None:
        return "local"
    host = (urlsplit(base_url).hostname or "").lower()
    if azure or host.endswith(AZURE_HOSTS):
        return "azure"
    if host == OPENROUTER_HOST or host.endswith("." + OPENROUTER_HOST):
        return "openrouter"
    return "openai"


def profile_problem(name: object) -> str | None:
    """The line refusing a profile setting that names no profile; None when it is one."""
    return None if name in PROFILE_CHOICES else choice_line("profile", name, PROFILE_CHOICES, PROFILE_NOUN)
