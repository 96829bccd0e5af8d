"""Reading request bodies and answering errors in the client's wire format."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..errors import GatewayError, InvalidRequest
from ..types import WireFormat
from ..wire import anthropic_messages, openai_chat


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
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
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("request body must be a JSON object")
    return parsed


def error_response(error: GatewayError, wire_format: WireFormat) -> Response:
    wire = anthropic_messages if wire_format == "anthropic" else openai_chat
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after)))
    return Response(orjson.dumps(wire.render_error(error)), status_code=error.status,
                    media_type="application/json", headers=headers)
