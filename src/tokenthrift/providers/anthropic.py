"""Anthropic Messages protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import StreamInterrupted
from ..types import ChatRequest, ChatResponse, StreamEvent, WireFormat
from ..wire import anthropic_messages
from ..wire._usage import token_count
from .transport import UpstreamReply
from .wire_provider import WireProvider, _json_object, sse_data

ANTHROPIC_VERSION = "2023-06-01"
_COUNTED_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})


class AnthropicProvider(WireProvider):
    protocol: WireFormat = "anthropic"
    chat_path = "/v1/messages"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def build_request(self, request: ChatRequest, model: str) -> dict[str, Any]:
        payload = anthropic_messages.build_upstream_request(request, model)
        payload.pop("stream_options", None)
        return payload

    async def count_tokens(self, request: ChatRequest, model: str, *, timeout: float) -> int:
        payload = self.build_request(request, model)
        # count_tokens takes the prompt only: no sampling or output parameters.
        counted = {k: v for k, v in payload.items() if k in _COUNTED_FIELDS}
        reply = await self._post("/v1/messages/count_tokens", counted, timeout)
        body = _json_object(await reply.read())
        await reply.aclose()
        return token_count(body, "input_tokens", "count_tokens")

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        return anthropic_messages.parse_upstream_response(body)

    async def stream_events(self, reply: UpstreamReply) -> AsyncIterator[StreamEvent]:
        parser = anthropic_messages.UpstreamStreamParser()
        async for event_name, data in sse_data(reply):
            if data is None:
                continue
            name = event_name or str(data.get("type", ""))
            for event in parser.feed(name, data):
                yield event
            if name == "message_stop":
                return
        raise StreamInterrupted("upstream stream ended without message_stop")
