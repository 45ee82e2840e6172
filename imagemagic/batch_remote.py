"""The provider calls of one batch job: where it runs, with which credentials, and every answer checked.

A job remembers its endpoint (base URL, Azure or not, whether a key was sent; never the key) and is
reached again only with the credentials configured for that endpoint (endpoint.credentials_for):
today's OPENAI_API_KEY never goes to a gateway used weeks ago. Without them the job says "needs the
key for <host>" and nothing is sent. An offline job is reached at this process's local server, which
keeps its batches in the history folder (a restarted kernel's server finishes them).

Every Batch object is checked (batch_io.checked_batch) and has the key masked out before anyone
keeps it; a bad answer is one TransportError line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .batch_io import BadAnswer, checked_batch, checked_file
from .batch_record import BatchError, LostJob
from .endpoint import Endpoint, credentials_for, host_of
from .errors import APITimeoutError, NotFoundError, TransportError, masked
from .files import BatchAPI


def where(endpoint: Endpoint) -> dict:
    """What a job remembers of its endpoint: never the key, only whether one was sent."""
    return {
        "base_url": endpoint.base_url,
        "offline": endpoint.offline,
        "azure": bool(endpoint.azure_api_version),
        "keyed": bool(endpoint.api_key),
    }


class Remote:
    """The Files/Batch calls of the job recorded in `data` (job.json), with `settings` and `session`."""

    def __init__(self, data: dict, settings: Any, session: Any):
        self.data = data
        self.settings = settings
        self.session = session

    def endpoint(self) -> Endpoint:
        """Where the job runs, with the credentials configured for it; BatchError "needs the key for <host>"
        when it was sent with a key and none is configured for its endpoint now."""
        if self.data.get("offline"):
            return self.session.local_endpoint(Endpoint(None, offline=True, reason="offline"))[0]
        url, azure = self.data["base_url"], bool(self.data.get("azure"))
        bound = credentials_for(
            url, azure=azure, api_key=self.settings.api_key, base_url=self.settings.base_url,
            profile=self.settings.profile,
        )  # fmt: skip
        if bound is not None:
            return Endpoint(
                url, bound.api_key, bound.organization, bound.project, azure_api_version=bound.azure_api_version,
                profile=bound.profile,
            )  # fmt: skip
        if self.data.get("keyed", True):
            raise BatchError(f"needs the key for {host_of(url)}")
        return Endpoint(url)

    def run(self, work: Callable[[BatchAPI], Awaitable[Any]], endpoint: Endpoint | None = None) -> Any:
        """Run `work(api)` with a fresh Files/Batch client of the job's endpoint."""
        endpoint = endpoint or self.endpoint()

        async def go():
            async with BatchAPI(
                endpoint,
                timeout=self.settings.timeout,
                max_retries=self.settings.max_retries,
                sleep=self.session.sleep,
                transport=self.session.transport,
            ) as api:
                return await work(api)

        return self.session.run_sync(go())

    @staticmethod
    def checked(answer: Any, api: BatchAPI, batch_id: str | None = None) -> dict:
        """The Batch object `answer`, checked and with the key masked; TransportError in one line if odd."""
        try:
            return masked(checked_batch(answer, batch_id), api.endpoint.api_key)
        except BadAnswer as exc:
            raise TransportError(masked(str(exc), api.endpoint.api_key)) from exc

    def send(self, inputs: list[tuple[str, Path]], on_part: Callable[[dict], None]) -> None:
        """Upload each (model, input file) and create its batch; `on_part(batch)` records each as it is created."""
        total = len(self.data.get("inputs") or inputs)
        done = len(self.data["parts"])

        async def work(api):
            for number, (model, path) in enumerate(inputs, done + 1):
                with open(path, "rb") as data:
                    try:
                        uploaded = checked_file(await api.upload(data, f"{self.data['id']}-{number}.jsonl"))
                    except BadAnswer as exc:
                        raise TransportError(str(exc)) from exc
                metadata = {"imagemagic_job": self.data["id"], "part": f"{number}/{total}", "model": str(model)}
                on_part(self.checked(await api.create(uploaded["id"], self.data["url"], metadata), api))

        self.run(work)

    def refresh(self, parts: list[dict], done: tuple[str, ...]) -> list[dict]:
        """Each batch as the server has it now (those already done as they are)."""

        async def work(api):
            return [part if part["status"] in done else await self._retrieve(api, part["id"]) for part in parts]

        return self.run(work)

    async def _retrieve(self, api: BatchAPI, batch_id: str) -> dict:
        try:
            return self.checked(await api.retrieve(batch_id), api, batch_id)
        except NotFoundError as exc:
            if not self.data.get("offline"):
                raise
            folder = self.session.server_folder()
            raise LostJob(f"the offline server no longer has batch {batch_id}: its state in {folder} is gone") from exc

    def cancel(self, parts: list[dict], done: tuple[str, ...]) -> list[dict]:
        """Cancel each batch still running; each batch as the server answers."""

        async def work(api):
            return [p if p["status"] in done else self.checked(await api.cancel(p["id"]), api, p["id"]) for p in parts]

        return self.run(work)

    async def download(self, api: BatchAPI, file_id: str, feed: Callable[[bytes], None]) -> None:
        """Stream file `file_id` into `feed`, within `settings.timeout` seconds for the whole file."""
        limit = self.settings.timeout
        try:
            async with asyncio.timeout(limit):
                async with api.content(file_id) as chunks:
                    async for chunk in chunks:
                        feed(chunk)
        except TimeoutError as exc:
            raise APITimeoutError(
                f"the download of {file_id} from {api.endpoint.host} took longer than {limit:g} s (timeout): "
                "results() again continues where it stopped"
            ) from exc
