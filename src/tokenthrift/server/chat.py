"""Chat endpoints: OpenAI ``POST /v1/chat/completions`` and Anthropic ``POST /v1/messages``.

Both are the same flow — parse the client's wire format into a canonical request, run
the pipeline, render the answer (or stream) back in the client's wire format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..accounting.cost import to_header
from ..errors import GatewayError, StreamInterrupted
from ..exchange import new_request_id
from ..pipeline import CompletionStream, Gateway
from ..types import WireFormat
from ..wire import anthropic_messages, openai_chat
from .attribution import attribution_for, client_key, lever_directives
from .batches import defer_if_asked
from .http import error_response, read_json

log = logging.getLogger("tokenthrift.server")

WIRE: dict[WireFormat, ModuleType] = {"openai": openai_chat, "anthropic": anthropic_messages}
JSON = "application/json"


async def handle_chat(request: Request, wire_format: WireFormat) -> Response:
    started = time.perf_counter()
    gateway: Gateway = request.app.state.gateway
    wire = WIRE[wire_format]
    # Minted first, so an error answer carries the same id as its ledger row.
    request_id = new_request_id()
    try:
        body = await read_json(request, gateway.config.max_body_bytes)
        chat = wire.parse_request(body)
        deferred = await defer_if_asked(request, wire_format, body, chat)
        if deferred is not None:  # x-tokenthrift-defer: 202 and a job id (server/batches.py)
            return deferred
        attribution = attribution_for(request.headers, chat)
        exchange = gateway.exchange(chat, attribution, endpoint=_endpoint(wire_format),
                                    started=started, request_id=request_id)
        exchange.directives = lever_directives(request.headers)
        key = client_key(request.headers)
        if chat.stream:
            stream = await gateway.stream(chat, exchange=exchange, client_key=key)
            renderer = wire.StreamRenderer(stream.exchange.request)
            return SettlingStreamingResponse(
                stream, relay(stream, renderer), media_type="text/event-stream",
                headers={**stream.headers, "cache-control": "no-cache"},
            )
        completion = await gateway.complete(chat, exchange=exchange, client_key=key)
        payload = orjson.dumps(wire.render_response(completion.response, chat))
        return Response(payload, media_type=JSON, headers=completion.headers)
    except GatewayError as error:
        response = error_response(error, wire_format)
        response.headers["x-tokenthrift-request-id"] = request_id
        return response


class SettlingStreamingResponse(StreamingResponse):
    """Makes sure a relayed stream is settled even if its body never started (the
    client disconnected before the first byte, so the body generator never ran)."""

    def __init__(self, stream: CompletionStream, content: AsyncIterator[bytes],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._completion_stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._completion_stream.abandon()


async def relay(stream: CompletionStream, renderer: Any,
                before_tail: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[bytes]:
    """Render canonical events in the client's format; end with the cost as an SSE comment
    (SDKs ignore comments; headers were sent before the cost was known), then run
    ``before_tail`` (a Responses stream stores its response there), then the format's
    closing event."""
    async for chunk in rendered_events(stream, renderer):
        yield chunk
    if stream.exchange.status == 502:
        return  # cut upstream: the renderer's error event was the last word
    tail = renderer.done()
    if trailer := cost_trailer(stream):
        yield trailer
    if before_tail is not None:
        await before_tail()
    if tail:
        yield tail


async def rendered_events(stream: CompletionStream, renderer: Any) -> AsyncIterator[bytes]:
    """The stream's events in a renderer's wire format. A stream cut upstream ends with
    the format's error event (and ``stream.exchange.status`` 502)."""
    try:
        async for event in stream.events():
            for chunk in renderer.render(event):
                yield chunk
    except StreamInterrupted as cut:
        log.warning("upstream stream cut for %s: %s", stream.exchange.request_id, cut)
        yield renderer.error(GatewayError("upstream", f"upstream stream interrupted: {cut}"))


def cost_trailer(stream: CompletionStream) -> bytes:
    """The settled cost as an SSE comment line (empty before settlement)."""
    settlement = stream.settlement
    if settlement is None:
        return b""
    return (f": x-tokenthrift-cost-usd={to_header(settlement.actual_usd)}"
            f" baseline={to_header(settlement.baseline_usd)}"
            f" saved={to_header(settlement.saved_usd)}\n\n").encode()


def _endpoint(wire_format: WireFormat) -> str:
    return "messages" if wire_format == "anthropic" else "chat.completions"


async def openai_chat_completions(request: Request) -> Response:
    return await handle_chat(request, "openai")


async def anthropic_messages_endpoint(request: Request) -> Response:
    return await handle_chat(request, "anthropic")
