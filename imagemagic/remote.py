"""The catalog checked against the endpoint: what GET /v1/models serves, beside what the catalog knows.

`imagemagic models --remote` and `%imagegen --models --remote` list models the endpoint serves that
the catalog does not know, models the catalog lists that it no longer serves, and shutdown dates that
differ (`shutdown_date`, optional per model: compared only where both sides give one). Answers are
cached per base URL in the history folder for a day. A request never waits on this: its shut-down warning
reads the cache only (`shutdowns`).
An endpoint without /v1/models (404) is fine: one line says so.

A hostile answer is bounded like an image answer: at most MAX_ANSWER_BYTES are read (and within the
timeout), at most MAX_MODELS ids of at most MAX_ID characters are kept, with control characters
escaped (they are printed); the cache keeps the MAX_ENDPOINTS most recent endpoints, and a cache file
over MAX_CACHE_BYTES is not read (every request reads it). The key goes only to its own host
(`endpoint.headers_for`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path

from .capabilities import from_listing, merged, overrides_for
from .catalog import MODELS, chat_model, lookup
from .endpoint import headers_for
from .errors import APIConnectionError, APIError, TransportError, error_from_response, printable
from .params import BY_NAME
from .store import atomic_write, default_home

CACHE_FILE = "remote-models.json"
MAX_AGE = 24 * 3600.0  # seconds a cached answer is used
NO_LIST = None  # what the cache holds for an endpoint without /v1/models
MAX_ANSWER_BYTES = 2 * 2**20  # a real list of models is a few KB
MAX_MODELS = 2000
MAX_ID = 128  # characters of a model id kept (longer ones are shortened with "…")
MAX_ENDPOINTS = 16  # endpoints the cache remembers, most recent first
MAX_NAMES = 8  # names kept of each modality list of an entry
MAX_NAME = 32  # characters of each
RETRY_LISTING_S = 300.0  # a listing that could not be read is not asked again for this long (a sweep asks once)
_UNREADABLE: dict[str, tuple[float, str]] = {}  # base URL -> (when, the line saying why), this process only
MAX_SUPPORTED = 256  # supported_parameters read of an entry (those that are parameters of ours are kept)
MAX_CACHE_BYTES = MAX_ENDPOINTS * MAX_MODELS * 64  # a larger cache file is not read (described entries included)
_PARSED: list = [None]  # [((path, device, inode, size, mtime), what it held)]: the cache file last parsed, this process


def _cache_path(home=None):
    return Path(home or default_home()) / CACHE_FILE


def _read_cache(home=None):
    """What the cache file holds ({} when absent, unreadable or too large), parsed once per version of the file
    (every prepare asks, several times): the same answer while the file is unchanged. Read-only for callers."""
    path = _cache_path(home)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            version = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            last = _PARSED[0]
            if last is not None and last[0] == version:
                return last[1]
            text = handle.read(MAX_CACHE_BYTES + 1)
        data = json.loads(text) if len(text) <= MAX_CACHE_BYTES else {}
    except (OSError, ValueError):
        return {}
    data = data if isinstance(data, dict) else {}
    _PARSED[0] = (version, data)
    return data


def _date(value):
    try:
        return _dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def cached(base_url, *, home=None, now=None):
    """(fetched_at, {model id: shutdown date or None}, or NO_LIST) cached for `base_url` within a day, else None."""
    entry = _read_cache(home).get(base_url)
    if not isinstance(entry, dict) or not isinstance(entry.get("fetched_at"), (int, float)):
        return None
    if (now or time.time()) - entry["fetched_at"] > MAX_AGE:
        return None
    models = entry.get("models")
    if models is NO_LIST:
        return entry["fetched_at"], NO_LIST
    if not isinstance(models, dict):
        return None
    return entry["fetched_at"], {name: _date(date) for name, date in models.items()}


def shutdowns(base_url, *, home=None, now=None) -> dict:
    """{model id: date} the endpoint reported, from the cache only (never the network); {} when not cached."""
    found = cached(base_url, home=home, now=now) if base_url else None
    return {name: date for name, date in (found[1] or {}).items() if date} if found else {}


def fetch(endpoint, *, timeout=10.0, transport=None):
    """{model id: shutdown date or None} from the endpoint's GET /models, or NO_LIST on 404.

    Raises the APIError for another error status, APIConnectionError when it cannot be reached,
    TransportError when its answer is not a list of models or is larger than the bounds."""
    found = fetch_listing(endpoint, timeout=timeout, transport=transport)
    return found if found is NO_LIST else found[0]


def fetch_listing(endpoint, *, timeout=10.0, transport=None):
    """(models, described) from the endpoint's GET /models, or NO_LIST on 404 (raising as `fetch`):
    `described` is {model id: what its entry says it accepts} for the entries that say it
    (`supported_parameters`, `architecture`'s modalities: see capabilities.from_listing), bounded."""
    import httpx

    url = f"{endpoint.base_url}/models"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            headers = headers_for(url, endpoint)
            with client.stream("GET", url, headers=headers, params=endpoint.params()) as resp:
                if resp.status_code == 404:
                    return NO_LIST
                content = _bounded(resp, url, time.monotonic() + timeout)
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"could not reach {url} ({type(exc).__name__})") from exc
    if resp.status_code >= 400:
        raise error_from_response(resp.status_code, resp.headers, content, resp.reason_phrase, endpoint.api_key)
    try:
        items = json.loads(content)["data"]
        if len(items) > MAX_MODELS:
            raise TransportError(f"{url} listed {len(items):,} models, more than {MAX_MODELS:,}: refused")
        named = [item for item in items if isinstance(item.get("id"), str)]
        models = {_id(item["id"]): _date(item.get("shutdown_date")) for item in named}
        described = {_id(item["id"]): _described(item) for item in named}
        return models, {name: said for name, said in described.items() if said}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TransportError(f"{url} did not answer with a list of models") from exc


def _described(item) -> dict:
    """What a /models entry says its model accepts, bounded: at most MAX_NAMES short names per list."""

    def names(value):
        return [_id(v)[:MAX_NAME] for v in value[:MAX_NAMES] if isinstance(v, str)] if isinstance(value, list) else None

    said: dict = {}
    supported = item.get("supported_parameters")
    if isinstance(supported, list):  # only the names that are parameters of ours matter (capabilities.from_listing)
        said["supported_parameters"] = [v for v in supported[:MAX_SUPPORTED] if isinstance(v, str) and v in BY_NAME]
    arch = item.get("architecture")
    if isinstance(arch, dict):
        modalities = {k: names(arch.get(k)) for k in ("input_modalities", "output_modalities")}
        if any(v is not None for v in modalities.values()):
            said["architecture"] = {k: v for k, v in modalities.items() if v is not None}
    return said


def described(base_url, *, home=None, now=None) -> dict:
    """{model id: what its /models entry says it accepts} from the cache only (never the network)."""
    entry = _read_cache(home).get(base_url) if base_url else None
    fresh = isinstance(entry, dict) and (now or time.time()) - _when(entry) <= MAX_AGE
    found = entry.get("described") if fresh and isinstance(entry, dict) else None
    return found if isinstance(found, dict) else {}


def capability(endpoint, model, overrides=None, *, home=None, now=None, transport=None):
    """The capability of `model` at `endpoint` (capabilities.merged): the catalog, what the endpoint's /models
    says of it, the user's `overrides`. The /models answer is read from the cache; on a profile whose listing
    says which models make images (OpenRouter) it is fetched when not cached (bounded, cached for a day), and
    a listing that cannot be read leaves the catalog and the overrides (one warning says so)."""
    profile, notes, base = endpoint.gateway, [], endpoint.base_url
    if profile.listing and base and cached(base, home=home, now=now) is None:
        moment = now or time.time()
        failed = _UNREADABLE.get(base)
        if failed is None or moment - failed[0] > RETRY_LISTING_S:
            try:
                served(endpoint, home=home, now=now, transport=transport)
            except (APIError, TransportError) as exc:
                line = f"the model listing of {endpoint.host} could not be read ({exc}); the catalog's rules apply"
                _UNREADABLE.pop(base, None)
                _UNREADABLE[base] = failed = (moment, line)
                while len(_UNREADABLE) > MAX_ENDPOINTS:
                    _UNREADABLE.pop(next(iter(_UNREADABLE)))
        notes += [failed[1]] if failed and cached(base, home=home, now=now) is None else []
    entry = described(endpoint.base_url, home=home, now=now).get(model)
    layers = [("models", from_listing(entry, profile) if isinstance(entry, dict) else {})]
    layers.append(("overrides", overrides_for(model, overrides)))
    return merged(model, profile, *layers), notes


def _bounded(resp, url, deadline) -> bytes:
    """The answer's body, refused once it passes MAX_ANSWER_BYTES or the deadline (nothing more is read)."""
    refused = f"{url} answered more than {MAX_ANSWER_BYTES // 2**20} MiB: refused (a list of models is a few KB)"
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise TransportError(refused)
    body = bytearray()
    for chunk in resp.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise TransportError(refused)
        if time.monotonic() > deadline:
            raise TransportError(f"{url} did not answer within the timeout: refused")
    return bytes(body)


def _id(text):
    """A model id as it may be printed: control characters escaped, at most MAX_ID characters."""
    text = printable(text)
    return text if len(text) <= MAX_ID else text[: MAX_ID - 1] + "…"


def served(endpoint, *, home=None, now=None, transport=None):
    """(fetched_at, models or NO_LIST, from_cache): the cached answer within a day, else a fresh one, cached."""
    found = cached(endpoint.base_url, home=home, now=now)
    if found is not None:
        return (*found, True)
    listing = fetch_listing(endpoint, transport=transport)
    models, said = (NO_LIST, {}) if listing is NO_LIST else listing
    fetched_at = now or time.time()
    stored = NO_LIST if models is NO_LIST else {k: v.isoformat() if v else None for k, v in models.items()}
    data = {**_read_cache(home), endpoint.base_url: {"fetched_at": fetched_at, "models": stored, "described": said}}
    recent = sorted(data.items(), key=lambda kv: _when(kv[1]), reverse=True)[:MAX_ENDPOINTS]
    data = dict(recent)
    try:
        atomic_write(_cache_path(home), json.dumps(data, indent=1).encode())
    except OSError:
        pass  # an unwritable history folder costs a fetch next time, nothing more
    return fetched_at, models, False


def _when(entry):
    found = entry.get("fetched_at") if isinstance(entry, dict) else None
    return found if isinstance(found, (int, float)) else 0


def compare(models) -> list[str]:
    """The differences between what the endpoint serves (`models`) and the catalog, one line each: the catalog's
    chat models (CHAT_MODELS) are known, not missed where unserved (a gateway's); dates are compared where both
    sides give one."""
    unknown = [name for name in models if lookup(name) is None and chat_model(name) is None]
    served_rows = {lookup(name).name for name in models if lookup(name) is not None}
    gone = [name for name in MODELS if name not in served_rows]
    differ = [  # a date only one side gives (none published) is no difference
        f"{name}: endpoint {_text(date)}, catalog {_text(lookup(name).shutdown)}"
        for name, date in models.items()
        if lookup(name) is not None and date and lookup(name).shutdown and date != lookup(name).shutdown
    ]
    described = [f"{name} (shutdown {_text(models[name])})" for name in unknown]
    return [
        f"served, not in the catalog: {', '.join(described) or 'none'}",
        f"in the catalog, not served: {', '.join(gone) or 'none'}",
        f"shutdown dates that differ: {'; '.join(differ) or 'none'}",
    ]


def _text(date):
    return date.isoformat() if date else "none"


def remote_text(endpoint, *, home=None, now=None, transport=None) -> str:
    """What `--remote` prints: the endpoint's models beside the catalog, or one line saying why not."""
    if endpoint.base_url is None:
        return "the offline preview server serves the catalog itself: nothing to compare (set a base URL or a key)"
    fetched_at, models, from_cache = served(endpoint, home=home, now=now, transport=transport)
    when = _dt.datetime.fromtimestamp(fetched_at, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    source = f"cached answer of {when}" if from_cache else f"fetched {when}; cached for a day"
    if models is NO_LIST:
        return f"{endpoint.base_url} has no /models list (404): nothing to compare, the catalog stands ({source})"
    head = f"{endpoint.base_url}/models: {len(models)} models ({source})"
    return "\n".join([head, *(f"  {line}" for line in compare(models))])
