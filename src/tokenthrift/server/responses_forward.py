"""How one Responses API request reaches each candidate dispatch tries.

An OpenAI-protocol upstream that speaks the Responses API (``OpenAIProvider.responses_api``:
OpenAI itself, the emulator) gets the client's own Responses body, forwarded
(``wire._responses_upstream``); every other candidate — an Anthropic model, an
OpenAI-compatible server — gets the canonical request in its own protocol, translated.
The choice is made per attempt, so a fallback or a routing decision to a Claude model is
translated while the same request to gpt-4o is forwarded.

Forwarding sends what the client asked, so it applies only while the canonical request
is the one parsed from the client's body. A lever that rewrote the request (compression
replaces ``exchange.request``) is honoured by translating it instead: the compressed
prompt is what is sent, to chat completions. Routing only changes the candidates, so a
routed request is still forwarded when it lands on an OpenAI model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..providers.base import Provider, Shaper
from ..providers.openai import OpenAIProvider
from ..types import ChatRequest, ChatResponse, StreamEvent
from ..wire._responses_upstream import shape_body, upstream_body
from ..wire.openai_responses import ResponsesRequest

# The upstream API an attempt used, for the x-tokenthrift-upstream-api header.
NATIVE = "responses"
_TRANSLATED = {"openai": "chat.completions", "anthropic": "messages"}


class ResponsesForwarder:
    """The ``Forwarder`` the Responses endpoint hands the gateway for one request."""

    def __init__(self, parsed: ResponsesRequest, history: list[dict[str, Any]]) -> None:
        self._parsed = parsed
        self._history = history
        # The upstream's own ``response`` object when the answering attempt was forwarded
        # without streaming (relayed to the client); None otherwise.
        self.upstream: dict[str, Any] | None = None
        # The API the answering attempt used (None: no attempt, e.g. a cache hit).
        self.api: str | None = None

    def _native(self, provider: Provider, request: ChatRequest) -> OpenAIProvider | None:
        if isinstance(provider, OpenAIProvider) and provider.responses_api \
                and request is self._parsed.chat:
            return provider
        return None

    def _body(self, request: ChatRequest, model: str, shape: Shaper | None, *,
              stream: bool) -> dict[str, Any]:
        body = upstream_body(self._parsed.body, self._history, model, stream=stream)
        shape_body(shape, request, model, body)
        return body

    async def complete(self, provider: Provider, request: ChatRequest, model: str, *,
                       timeout: float, shape: Shaper | None) -> ChatResponse:
        self.upstream, self.api = None, None  # a cascade's earlier step is not the answer
        native = self._native(provider, request)
        if native is None:
            response = await provider.complete(request, model, timeout=timeout, shape=shape)
            self.api = _TRANSLATED[provider.protocol]
            return response
        body = self._body(request, model, shape, stream=False)
        response, self.upstream = await native.respond(request, body, timeout=timeout)
        self.api = NATIVE
        return response

    async def open_stream(self, provider: Provider, request: ChatRequest, model: str, *,
                          timeout: float, shape: Shaper | None) -> AsyncIterator[StreamEvent]:
        self.upstream, self.api = None, None
        native = self._native(provider, request)
        if native is None:
            events = await provider.open_stream(request, model, timeout=timeout, shape=shape)
            self.api = _TRANSLATED[provider.protocol]
            return events
        body = self._body(request, model, shape, stream=True)
        events = await native.open_response_stream(body, timeout=timeout)
        self.api = NATIVE
        return events
