"""The provider interface: one implementation per upstream wire protocol.

A provider turns a canonical ``ChatRequest`` into its protocol's HTTP request, sends it
over a ``Transport`` and turns the reply back into canonical types. Errors come back as
``UpstreamError`` with the upstream's status and ``retry-after``, *before* any stream
event is yielded, so the pipeline can retry or fall back while nothing has reached the
client yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ..types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    WireFormat,
)

# Edits the upstream JSON body in place, given the protocol it is written in (the
# levers' ``shape`` hook, e.g. provider prompt-caching hints).
Shaper = Callable[[WireFormat, dict[str, Any]], None]


class Provider(Protocol):
    name: str
    protocol: WireFormat

    async def complete(self, request: ChatRequest, model: str, *, timeout: float,
                       shape: Shaper | None = None) -> ChatResponse: ...

    async def open_stream(
        self, request: ChatRequest, model: str, *, timeout: float, shape: Shaper | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Send a streaming request; raise on an error status, else return the events."""
        ...

    async def count_tokens(self, request: ChatRequest, model: str, *, timeout: float) -> int: ...

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResponse: ...

    async def list_models(self, *, timeout: float) -> list[str]: ...

    async def aclose(self) -> None: ...
