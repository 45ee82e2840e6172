"""A small async client of the Files and Batch APIs over httpx: upload, create, retrieve, cancel, and
file contents as a stream of chunks (output files hold base64 images and reach hundreds of MB).

Ids from a server are escaped where they go into a URL path.
Same authentication as the images client (`Endpoint.headers()`), same retry rules (client.py):
rate limits, server errors and failed connections are retried; a request the server may have
received is not retried after a read timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx

from ._version import __version__
from .errors import APIConnectionError, APITimeoutError, TransportError, read_error
from .retry import CONNECT_TIMEOUT, backoff, plain, retry_delay, should_retry


class BatchAPI:
    """Files and Batch API calls against one Endpoint (with an address: see Session.connect)."""

    def __init__(self, endpoint, *, timeout=600.0, max_retries=2, sleep=asyncio.sleep, transport=None):
        self.endpoint = endpoint
        self.max_retries = max_retries
        self.sleep = sleep
        root = f"{endpoint.base_url}/openai" if endpoint.azure_api_version else endpoint.base_url
        self._http = httpx.AsyncClient(
            base_url=root,
            params=endpoint.params(),
            headers={**endpoint.headers(), "User-Agent": f"jupyter-imagemagic/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            transport=transport,
        )

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self._http.aclose()

    async def upload(self, data: bytes, filename: str) -> dict:
        """POST /files (purpose batch): the OpenAIFile object of the uploaded JSONL."""
        files = {"file": (filename, data, "application/jsonl")}
        return await self._json("POST", "/files", files=files, data={"purpose": "batch"})

    async def create(self, input_file_id: str, url: str, metadata: dict | None = None) -> dict:
        """POST /batches over an uploaded file, completion window 24h: the Batch object."""
        body = {"input_file_id": input_file_id, "endpoint": url, "completion_window": "24h", "metadata": metadata}
        return await self._json("POST", "/batches", json=body)

    async def retrieve(self, batch_id: str) -> dict:
        """GET /batches/{id}: the Batch object as it stands."""
        return await self._json("GET", f"/batches/{quote(batch_id, safe='')}")

    async def cancel(self, batch_id: str) -> dict:
        """POST /batches/{id}/cancel: the Batch object (cancelling)."""
        return await self._json("POST", f"/batches/{quote(batch_id, safe='')}/cancel")

    @contextlib.asynccontextmanager
    async def content(self, file_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """GET /files/{id}/content as a stream: yields an async iterator of byte chunks."""
        async with self._send("GET", f"/files/{quote(file_id, safe='')}/content") as response:
            try:
                yield response.aiter_bytes()
            except httpx.TimeoutException as exc:
                raise APITimeoutError(f"the download of {file_id} from {self.endpoint.host} stalled") from exc
            except httpx.HTTPError as exc:
                raise APIConnectionError(f"the download of {file_id} broke off ({plain(exc)})") from exc

    async def _json(self, method, path, **options):
        async with self._send(method, path, **options) as response:
            raw = await response.aread()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise TransportError(f"{method} {path}: the server's answer is not JSON") from exc

    @contextlib.asynccontextmanager
    async def _send(self, method, path, **options):
        """The streamed response to a request, after retries; an error answer raises its APIError."""
        host, key = self.endpoint.host, self.endpoint.api_key
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                async with self._http.stream(method, path, **options) as response:
                    if response.status_code < 400:
                        yield response
                        return
                    error = await read_error(response, key)
                    if last or not should_retry(response, error):
                        raise error
                    delay = retry_delay(response, attempt)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:
                    raise APIConnectionError(f"could not connect to {host}: {plain(exc)}") from exc
                delay = backoff(attempt)
            except httpx.TimeoutException as exc:
                raise APITimeoutError(f"no answer from {host} within the read timeout ({method} {path})") from exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise APIConnectionError(f"the connection to {host} broke off ({plain(exc)})") from exc
            await self.sleep(delay)
