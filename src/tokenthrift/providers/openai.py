"""OpenAI Chat Completions protocol: OpenAI itself and every compatible server
(vLLM, Ollama, llama.cpp, Together, Groq…)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import InvalidUpstreamUsage, StreamInterrupted, UpstreamError
from ..tokens import count_chat, count_text
from ..types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    Usage,
    WireFormat,
)
from ..wire import _responses_upstream, openai_chat
from ..wire._upstream_fields import malformed, up_dicts, up_int, up_list, up_str
from ..wire._usage import token_count, usage_object
from .transport import Transport, UpstreamReply
from .wire_provider import WireProvider, _json_object, sse_data


class OpenAIProvider(WireProvider):
    """``responses_api``: the upstream also speaks the Responses API (``/responses``), so
    a client's Responses request can be forwarded as it is instead of translated to chat
    (OpenAI itself and the emulator do; compatible servers vary, so it is opt-in)."""

    protocol: WireFormat = "openai"
    chat_path = "/chat/completions"
    responses_path = "/responses"

    def __init__(self, name: str, transport: Transport, *, responses_api: bool = False,
                 **options: Any) -> None:
        super().__init__(name, transport, **options)
        self.responses_api = responses_api

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

    async def respond(self, request: ChatRequest, body: dict[str, Any], *, timeout: float
                      ) -> tuple[ChatResponse, dict[str, Any]]:
        """Send a Responses API ``body`` (already shaped) and read the ``response`` object:
        its canonical form for the pipeline, and the object itself for the client.
        ``request`` is the canonical request, for a local count if the usage is unbillable."""
        reply = await self._post(self.responses_path, {**body, "stream": False}, timeout)
        try:
            raw = await reply.read()
        except StreamInterrupted as exc:
            raise UpstreamError(f"upstream connection cut: {exc}", status=502) from exc
        finally:
            await reply.aclose()
        parsed = _json_object(raw)
        try:
            return _responses_upstream.parse_upstream_response(parsed), parsed
        except InvalidUpstreamUsage as bad:
            bad.estimated_usage = _estimate(request, str(body.get("model") or ""), parsed)
            raise

    async def open_response_stream(self, body: dict[str, Any], *, timeout: float
                                   ) -> AsyncIterator[StreamEvent]:
        """Send a streaming Responses API ``body``; raise on an error status, else return
        its typed events as canonical stream events."""
        reply = await self._post(self.responses_path, {**body, "stream": True}, timeout)
        return _response_events(reply)

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


async def _response_events(reply: UpstreamReply) -> AsyncIterator[StreamEvent]:
    parser = _responses_upstream.UpstreamResponsesStreamParser()
    async for _event, data in sse_data(reply):
        if data is None:  # [DONE] is not part of this API; tolerated
            break
        for event in parser.feed(data):
            yield event
        if parser.finished:
            return
    parser.check_ended()


def _estimate(request: ChatRequest, model: str, body: dict[str, Any]) -> Usage | None:
    """Local token counts for a Responses reply whose usage could not be trusted."""
    try:
        answer = _responses_upstream.parse_upstream_response({**body, "usage": None})
    except UpstreamError:
        return None
    message = answer.choices[0].message
    output = message.text + "".join(c.name + c.arguments for c in message.tool_calls)
    prompt = count_chat([(m.role, m.text) for m in request.messages], model)
    return Usage(input_tokens=prompt, output_tokens=count_text(output, model))


def _vectors(data: object) -> list[list[float]]:
    items = sorted(up_dicts(data, "data"), key=lambda d: up_int(d.get("index"), "data[].index"))
    vectors = [up_list(d.get("embedding"), "data[].embedding") for d in items]
    for vector in vectors:
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
            raise malformed("data[].embedding holds a non-number")
    return vectors
