"""Shared mechanics of providers that speak a JSON-over-HTTP wire protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..errors import InvalidUpstreamUsage, StreamInterrupted, UpstreamError
from ..redaction import install_log_filter, register_secret
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
from ..wire._fields import MAX_JSON_DEPTH, may_nest_deeper, nesting_exceeds
from ..wire.sse import SSEDecoder
from .base import Shaper
from .errors import upstream_error
from .transport import Transport, UpstreamReply


class WireProvider:
    """Base for the OpenAI and Anthropic providers; subclasses fill in the protocol."""

    protocol: WireFormat
    chat_path: str

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        path_prefix: str = "",
    ) -> None:
        self.name = name
        self.transport = transport
        self._api_key = api_key
        self._path_prefix = path_prefix.rstrip("/")
        self._headers = {"content-type": "application/json", **self.auth_headers(api_key)}
        self._headers.update(headers or {})
        _register_secrets(api_key, headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # --- protocol hooks -------------------------------------------------------------
    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def build_request(self, request: ChatRequest, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        raise NotImplementedError

    def stream_events(self, reply: UpstreamReply) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    # --- shared mechanics -----------------------------------------------------------
    async def _post(self, path: str, payload: dict[str, Any], timeout: float) -> UpstreamReply:
        reply = await self.transport.send(
            "POST", self._path_prefix + path, self._headers, orjson.dumps(payload), timeout=timeout
        )
        if reply.status >= 400:
            raise await upstream_error(reply, self.name)
        return reply

    async def complete(self, request: ChatRequest, model: str, *, timeout: float,
                       shape: Shaper | None = None) -> ChatResponse:
        payload = self.build_request(request, model)
        payload["stream"] = False
        payload.pop("stream_options", None)
        if shape is not None:
            shape(self.protocol, payload)
        reply = await self._post(self.chat_path, payload, timeout)
        try:
            body = await reply.read()
        except StreamInterrupted as exc:
            raise UpstreamError(f"upstream connection cut: {exc}", status=502) from exc
        finally:
            await reply.aclose()
        parsed = _json_object(body)
        try:
            return self.parse_response(parsed)
        except InvalidUpstreamUsage as bad:
            bad.estimated_usage = self._estimate_usage(request, model, parsed)
            raise

    async def open_stream(
        self, request: ChatRequest, model: str, *, timeout: float, shape: Shaper | None = None
    ) -> AsyncIterator[StreamEvent]:
        payload = self.build_request(request, model)
        payload["stream"] = True
        if shape is not None:
            shape(self.protocol, payload)
        reply = await self._post(self.chat_path, payload, timeout)
        return self.stream_events(reply)

    async def count_tokens(self, request: ChatRequest, model: str, *, timeout: float) -> int:
        """Prompt tokens of ``request`` for ``model``; counted locally unless the protocol
        has a counting endpoint (Anthropic)."""
        tools_json = orjson.dumps([
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ]).decode() if request.tools else None
        return count_chat([(m.role, m.text) for m in request.messages], model, tools_json)

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResponse:
        raise UpstreamError(f"provider {self.name!r} does not serve embeddings", status=400,
                            kind="invalid_request")

    async def list_models(self, *, timeout: float) -> list[str]:
        reply = await self.transport.send(
            "GET", self._path_prefix + "/v1/models" if self.protocol == "anthropic"
            else self._path_prefix + "/models", self._headers, None, timeout=timeout
        )
        if reply.status >= 400:
            raise await upstream_error(reply, self.name)
        body = _json_object(await reply.read())
        await reply.aclose()
        return [str(m["id"]) for m in body.get("data", []) if isinstance(m, dict) and "id" in m]

    async def aclose(self) -> None:
        await self.transport.aclose()

    def _estimate_usage(
        self, request: ChatRequest, model: str, body: dict[str, Any]
    ) -> Usage | None:
        """Local token counts for a reply whose usage could not be trusted."""
        try:
            response = self.parse_response({**body, "usage": None})
        except UpstreamError:
            return None
        prompt = count_chat([(m.role, m.text) for m in request.messages], model)
        output = "".join(
            choice.message.text + "".join(c.name + c.arguments for c in choice.message.tool_calls)
            for choice in response.choices
        )
        return Usage(input_tokens=prompt, output_tokens=count_text(output, model))


# Header names whose values are credentials (Azure ``api-key``, custom gateways' tokens).
_SECRET_HEADER_WORDS = ("key", "auth", "token", "secret")


def _register_secrets(api_key: str | None, headers: Mapping[str, str]) -> None:
    """Provider credentials are redacted from client-facing errors and logs."""
    register_secret(api_key)
    for name, value in headers.items():
        if any(word in name.lower() for word in _SECRET_HEADER_WORDS):
            register_secret(value.removeprefix("Bearer ").strip())
    install_log_filter()


async def sse_data(reply: UpstreamReply) -> AsyncIterator[tuple[str | None, dict[str, Any] | None]]:
    """Decode an SSE body into (event name, JSON data); ``None`` data marks ``[DONE]``."""
    decoder = SSEDecoder()
    try:
        async for chunk in reply.iter_bytes():
            for event, data in decoder.feed(chunk):
                if data == "[DONE]":
                    yield event, None
                    continue
                try:
                    parsed = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise StreamInterrupted("upstream sent malformed stream data") from None
                if not isinstance(parsed, dict) or (
                        may_nest_deeper(data) and nesting_exceeds(parsed)):
                    raise StreamInterrupted("upstream sent malformed stream data")
                yield event, parsed
    finally:
        await reply.aclose()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream returned invalid JSON", status=502) from None
    if not isinstance(parsed, dict):
        raise UpstreamError("upstream returned an unexpected JSON shape", status=502)
    if may_nest_deeper(body) and nesting_exceeds(parsed):
        raise UpstreamError(
            f"upstream returned JSON nested deeper than {MAX_JSON_DEPTH} levels", status=502
        )
    return parsed
