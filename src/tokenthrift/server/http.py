"""Reading request bodies and answering errors in the client's wire format."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..errors import GatewayError, InvalidRequest
from ..types import WireFormat
from ..wire import anthropic_messages, openai_chat
from ..wire._fields import MAX_JSON_DEPTH, may_nest_deeper, nesting_exceeds

# How long a client may take to send its whole body once the headers are in. Without it
# a client that stops sending holds a connection and a task forever (slowloris).
BODY_READ_TIMEOUT_S = 60.0


async def read_json(
    request: Request,
    max_bytes: int,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    timeout_s: float = BODY_READ_TIMEOUT_S,
) -> dict[str, Any]:
    """The request body as a JSON object, or a ``GatewayError`` (400, 408, 413).

    Nesting is bounded here, before any part of the gateway walks the body recursively.
    """
    try:
        async with asyncio.timeout(timeout_s):
            body = await _read_body(request, max_bytes)
    except TimeoutError:
        raise GatewayError(
            "invalid_request",
            f"request body not received within {timeout_s:g}s",
            status=408,
            code="request_timeout",
        ) from None
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("request body must be a JSON object")
    if may_nest_deeper(body, max_depth) and nesting_exceeds(parsed, max_depth):
        raise InvalidRequest(
            f"request body nests objects and arrays deeper than {max_depth} levels",
            code="nesting_too_deep",
        )
    return parsed


# A body over the limit is still read (and thrown away) up to this many times the limit
# before the 413 goes out: closing a socket with unread data makes the kernel send a
# reset, and a client still uploading then sees "connection reset" instead of the 413.
DRAIN_FACTOR = 4


async def _read_body(request: Request, max_bytes: int) -> bytearray:
    declared = request.headers.get("content-length")
    too_long = declared is not None and declared.isdigit() and int(declared) > max_bytes
    if too_long and int(declared or 0) > DRAIN_FACTOR * max_bytes:
        raise _too_large(max_bytes)  # not worth reading: close, whatever the client sees
    body = bytearray()
    chunks = request.stream()
    try:
        async for chunk in chunks:
            body += chunk
            if too_long or len(body) > max_bytes:
                await _drain(chunks, DRAIN_FACTOR * max_bytes - len(body))
                raise _too_large(max_bytes)
    except ClientDisconnect:
        # The client went away (or sent a malformed body the server gave up on): bad
        # input, not a gateway bug; nobody is left to read the answer.
        raise InvalidRequest("client disconnected before sending the whole body") from None
    if too_long:
        raise _too_large(max_bytes)
    return body


def _too_large(max_bytes: int) -> GatewayError:
    return GatewayError("request_too_large", f"request body exceeds {max_bytes} bytes")


async def _drain(chunks: AsyncIterator[bytes], budget: int) -> None:
    """Read and discard the rest of the body, at most ``budget`` bytes more."""
    try:
        async for chunk in chunks:
            budget -= len(chunk)
            if budget < 0:
                return
    except ClientDisconnect:
        return


def error_response(error: GatewayError, wire_format: WireFormat) -> Response:
    wire = anthropic_messages if wire_format == "anthropic" else openai_chat
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after)))
    return Response(
        orjson.dumps(wire.render_error(error)),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )
