"""What every route of the local server shares: the OpenAI-shaped error response, bounded body reads, and the
content types a route declares it reads (`takes`; guard.py refuses any other before the route runs)."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

JSON = "application/json"
MULTIPART = "multipart/form-data"
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0  # seconds for a request body to arrive


def error(message, *, status=400, param=None, code=None, headers=None):
    """An OpenAI-shaped error response (type invalid_request_error)."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def takes(*content_types):
    """Declare the content types a route's request body may have (a route that declares none takes JSON only)."""

    def declared(handler):
        handler.content_types = content_types
        return handler

    return declared


async def limited_body(request, timeout, limit=MAX_BODY):
    """The body, or None once it is known to exceed `limit` bytes (reading stops there).

    Raises TimeoutError when it takes longer than `timeout` seconds to arrive."""
    try:
        if int(request.headers.get("content-length", 0)) > limit:
            return None
    except ValueError:
        return None
    chunks, size = [], 0
    async with asyncio.timeout(timeout):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request, limit=MAX_BODY):
    """(raw body, None), or (None, the error response: 408 too slow, 413 too large, 400 client gone)."""
    timeout = request.app.state.read_timeout
    try:
        raw = await limited_body(request, timeout, limit)
    except TimeoutError:
        message = f"The request body did not arrive within {timeout:g} seconds."
        return None, error(message, status=408, code="timeout", headers={"Connection": "close"})
    except ClientDisconnect:
        return None, Response(status_code=400)  # nobody is left to read it
    if raw is None:
        return None, error(f"Request body too large: the limit is {limit} bytes.", status=413, code="request_too_large")
    return raw, None
