"""Reading request bodies and answering errors in the client's wire format."""

from __future__ import annotations

import asyncio
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


async def _read_body(request: Request, max_bytes: int) -> bytearray:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise GatewayError("request_too_large", f"request body exceeds {max_bytes} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise GatewayError("request_too_large", f"request body exceeds {max_bytes} bytes")
    except ClientDisconnect:
        # The client went away (or sent a malformed body the server gave up on): bad
        # input, not a gateway bug; nobody is left to read the answer.
        raise InvalidRequest("client disconnected before sending the whole body") from None
    return body


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
