"""Downloads of `response_format=url` images: bounded in size and time, redirects followed here (at most 5)
so every address on the way is checked, never to link-local or cloud metadata addresses or to schemes
other than http(s). Loopback stays allowed. A `data:` URL is self-contained: decoded here (`data_url_bytes`,
bounded as a download), never fetched.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx

from .endpoint import Endpoint, headers_for
from .errors import APIConnectionError, APITimeoutError, ImageDataError, TransportError, printable
from .retry import CONNECT_TIMEOUT, plain

URL_DOWNLOAD_LIMIT = 64 * 1024 * 1024  # bytes
URL_DOWNLOAD_TIMEOUT = 60.0  # seconds for a whole download (at most the call's timeout)
MAX_REDIRECTS = 5  # for a download; a POST is never redirected (the key would go along)
METADATA_HOSTS = {"metadata", "metadata.google.internal"}
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


async def download(
    http: httpx.AsyncClient, url: str, slot: int, timeout: float, masked: Callable, endpoint: Endpoint
) -> bytes:
    """The bytes at `url` (image `slot` of an answer), which must arrive whole within the download timeout
    (60 s, at most `timeout`); `masked` masks the key in what the server sends. `endpoint`'s credentials go
    only to an address under its base URL (endpoint.headers_for), checked again at every redirect."""
    limit = min(URL_DOWNLOAD_TIMEOUT, timeout)
    try:
        async with asyncio.timeout(limit):
            timeouts = httpx.Timeout(limit, connect=min(CONNECT_TIMEOUT, limit))
            return await _fetch(http, url, slot, timeouts, masked, endpoint)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise APITimeoutError(f"image {slot + 1}: download failed (not complete within {limit:g} s)") from exc
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"image {slot + 1}: download failed ({plain(exc)})") from exc


def data_url_bytes(url: str, slot: int, limit: int) -> bytes:
    """The bytes of a `data:image/<type>;base64,` URL (image `slot` of an answer), decoded here, never downloaded:
    strict base64 of at most `limit` bytes (and the download's cap). Each refusal is one ImageDataError line;
    whether the bytes are an image is the reader's check (answers.checked)."""
    head, sep, text = url.partition(",")
    check_data_url(head if sep else "", len(text) * 3 // 4 - text[-2:].count("="), slot, limit)  # size: before decoding
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise data_url_invalid(slot) from exc


def check_data_url(head: str, size: int, slot: int, limit: int) -> None:
    """Refuse, in one ImageDataError line, image `slot`'s data URL whose head (all before its comma) is not
    `data:image/<type>;base64`, or whose `size` decoded bytes are more than `limit` (or the download's cap)."""
    head = head.lower()
    if not (head.startswith("data:") and head.endswith(";base64")) or "," in head:
        raise ImageDataError(f"image {slot + 1}: refused a malformed data: URL (data:image/<type>;base64,… expected)")
    kind = head[5:].split(";")[0]
    if not kind.startswith("image/"):
        said = printable(kind[:40]) or "no type"
        raise ImageDataError(f"image {slot + 1}: refused a data: URL of {said} (only image/ types)")
    cap = min(limit, URL_DOWNLOAD_LIMIT)
    if size > cap:
        raise ImageDataError(f"image {slot + 1}: data: URL refused, larger than {cap:,} bytes")


def data_url_invalid(slot: int) -> ImageDataError:
    """The refusal of image `slot`'s data URL whose base64 is not strict."""
    return ImageDataError(f"image {slot + 1}: the data: URL's base64 is invalid (only A-Z a-z 0-9 + / and = padding)")


async def _fetch(http, url, slot, timeout, masked, endpoint):
    """GET `url`, following redirects here so that every address on the way is checked."""
    for _ in range(MAX_REDIRECTS + 1):
        await _check_download(url, slot)
        headers = headers_for(url, endpoint)  # the key only under its own base URL, hop by hop
        async with http.stream("GET", url, headers=headers, timeout=timeout) as resp:
            if resp.is_redirect:
                url = urljoin(url, masked(resp.headers["location"]))
                continue
            if resp.status_code >= 300:
                raise TransportError(f"image {slot + 1}: download failed with HTTP {resp.status_code}")
            data = await read_capped(resp, URL_DOWNLOAD_LIMIT)
            if data is None:
                raise ImageDataError(f"image {slot + 1}: download refused, larger than {URL_DOWNLOAD_LIMIT:,} bytes")
            return data
    raise TransportError(f"image {slot + 1}: download refused after {MAX_REDIRECTS} redirects")


async def read_capped(resp: httpx.Response, limit: int) -> bytearray | None:
    """The body of `resp`, or None once it is larger than `limit` bytes (declared or counted)."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in resp.aiter_bytes():
        if len(body) + len(chunk) > limit:
            return None
        body += chunk  # grown in place: never the chunks and their join alive at once
    return body


async def _check_download(url, slot):
    """Refuse a download URL that is not http(s) or whose host is (or resolves to) a link-local or
    cloud metadata address; the resolution is only checked, not pinned."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ImageDataError(
            f"image {slot + 1}: refused to download {parts.scheme or 'a relative'}: URL (only http and https)"
        )
    host = (parts.hostname or "").rstrip(".").lower()
    refused = ImageDataError(
        f"image {slot + 1}: refused to download from {host}: a link-local or cloud metadata address"
    )
    if host in METADATA_HOSTS:
        raise refused
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            raise APIConnectionError(
                f"image {slot + 1}: download failed (cannot resolve {host}: {plain(exc)})"
            ) from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        address = getattr(address, "ipv4_mapped", None) or address
        if address.is_link_local or address in METADATA_ADDRESSES:
            raise refused
