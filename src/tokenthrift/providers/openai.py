"""OpenAI Chat Completions protocol: OpenAI itself and every compatible server
(vLLM, Ollama, llama.cpp, Together, Groq…)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import StreamInterrupted, UpstreamError
from ..types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    WireFormat,
)
from ..wire import openai_chat
from ..wire._upstream_fields import malformed, up_dicts, up_int, up_list, up_str
from ..wire._usage import token_count, usage_object
from .transport import UpstreamReply
from .wire_provider import WireProvider, _json_object, sse_data


class OpenAIProvider(WireProvider):
    protocol: WireFormat = "openai"
    chat_path = "/chat/completions"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def build_request(self, request: ChatRequest, model: str) -> dict[str, Any]:
        return openai_chat.build_upstream_request(request, model)

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        return openai_chat.parse_upstream_response(body)

    async def stream_events(self, reply: UpstreamReply) -> AsyncIterator[StreamEvent]:
        parser = openai_chat.UpstreamStreamParser()
        async for _event, data in sse_data(reply):
            if data is None:  # [DONE]
                return
            if "error" in data and isinstance(data["error"], dict):
                raise UpstreamError(str(data["error"].get("message", "upstream stream error")),
                                    status=502)
            for event in parser.feed(data):
                yield event
        raise StreamInterrupted("upstream stream ended without [DONE]")

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResponse:
        payload: dict[str, Any] = {"model": model, "input": request.input}
        if request.dimensions is not None:
            payload["dimensions"] = request.dimensions
        if request.user is not None:
            payload["user"] = request.user
        reply = await self._post("/embeddings", payload, timeout)
        body = _json_object(await reply.read())
        await reply.aclose()
        return EmbeddingResponse(
            model=up_str(body.get("model"), "model") or model,
            vectors=_vectors(body.get("data")),
            input_tokens=token_count(usage_object(body.get("usage"), "usage"), "prompt_tokens",
                                     "usage"),
        )


def _vectors(data: object) -> list[list[float]]:
    items = sorted(up_dicts(data, "data"), key=lambda d: up_int(d.get("index"), "data[].index"))
    vectors = [up_list(d.get("embedding"), "data[].embedding") for d in items]
    for vector in vectors:
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
            raise malformed("data[].embedding holds a non-number")
    return vectors
