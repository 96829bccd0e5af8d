"""What the pipeline expects of the levers that sit in front of the upstream call.

Each lever lives in its own package under ``levers/`` and is built from its own config
section by a ``build(...)`` function; the pipeline only knows these protocols. A lever
decides from the request (``Exchange``) and its own state, never another lever's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from ..types import ChatResponse, Usage

if TYPE_CHECKING:
    from ..pipeline.exchange import Exchange


@dataclass(slots=True)
class CacheHit:
    kind: Literal["exact", "semantic"]
    response: ChatResponse
    # Usage of the upstream call that produced the stored answer: the baseline of a hit
    # is what the request would have cost as asked, i.e. that call again.
    usage_as_generated: Usage
    similarity: float | None = None
    # What the lookup itself cost (e.g. an API embedder); charged against the saving.
    lookup_cost_usd: Decimal = Decimal(0)


class ResponseCache(Protocol):
    async def lookup(self, exchange: Exchange) -> CacheHit | None: ...

    async def store(self, exchange: Exchange, response: ChatResponse) -> None: ...

    async def aclose(self) -> None: ...


class Admission(Protocol):
    """A request let through by governance, holding its budget reservation."""


class Governance(Protocol):
    async def admit(self, exchange: Exchange, client_key: str | None) -> Admission | None:
        """Authenticate, apply rate limits and reserve worst-case cost on every budget
        that applies; raise ``GatewayError`` (401/403/429) to refuse."""
        ...

    async def settle(
        self, admission: Admission | None, actual_usd: Decimal | None, usage: Usage | None
    ) -> None:
        """Reconcile the reservation to the actual cost, or release it (usage None)."""
        ...

    async def aclose(self) -> None: ...
