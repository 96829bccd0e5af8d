"""The one interface every cost lever implements.

A lever is a class deriving from ``Lever`` that overrides only the hooks it needs; the
defaults do nothing. The composition root (``tokenthrift.assembly``) builds the levers
from config, in the order of ``registry.REGISTRY``, and hands them to ``Gateway``;
the pipeline calls the hooks in that order and knows no lever by name.

Hook order for one request (``docs/architecture.md``):

0. ``resolve``    every lever, in order, when the exchange is created: a lever that
                  defines model names (a routing policy such as ``auto``) says what they
                  mean as asked (``exchange.candidates``, ``exchange.baseline_model``).
1. ``admit``      every lever, in order: authenticate, rate-limit, reserve budget; raise
                  ``GatewayError`` to refuse.
2. ``answer``     in order until one returns a response (a cache hit); later levers'
                  ``rewrite``/``shape`` are then skipped.
3. ``rewrite``    every lever, in order: may replace ``exchange.request`` (compression)
                  and ``exchange.candidates`` (routing). Dispatch reads both.
4. ``shape``      for each upstream attempt, every lever, in order: edit the upstream JSON
                  body for its protocol (provider prompt-caching hints).
5. ``observe``    every lever, after the result is known (``response`` is None when the
                  request failed): store in cache, learn reuse intervals.
6. ``unwind``     in *reverse* order, during settlement: given what the request cost with
                  this lever (``after``), return what it would have cost without it. The
                  difference is the lever's saving, so the savings telescope: their sum is
                  exactly ``baseline - actual - non-lever differences``.
7. ``settle``     every lever, with the finished ``Settlement`` (budget reconciliation).
8. ``admin_endpoints`` once at start-up; ``aclose`` at shutdown.

A lever keeps per-request state in ``exchange.notes[self.name]`` (facts for the ledger
row go in ``exchange.ledger_notes``), reads its own config
section and the per-request ``exchange.directives``, and never touches another lever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..accounting.billable import Billable, Unwound
from ..types import ChatResponse, WireFormat

if TYPE_CHECKING:
    from ..accounting.settlement import Settlement
    from ..exchange import Exchange


@dataclass(slots=True)
class AdminRequest:
    """An authenticated admin call as a lever sees it (the server did HTTP, JSON and the
    master-key check)."""

    body: dict[str, Any] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)
    query_params: Mapping[str, str] = field(default_factory=dict)


# Returns (HTTP status, JSON body); raise GatewayError (or ValueError → 400) to refuse.
AdminHandler = Callable[[AdminRequest], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class AdminEndpoint:
    method: Literal["GET", "POST", "DELETE"]
    path: str  # starlette path syntax, under /admin
    handler: AdminHandler


class Lever:
    """Base class: every hook is optional."""

    # The lever's name: its key in ``exchange.notes``/``ledger_notes`` and its usual
    # savings column; its config section is the one its registry line names (mostly
    # the same word: ``prompt_caching`` configures the ``prompt_cache`` lever).
    name: ClassVar[str] = "lever"

    def resolve(self, exchange: Exchange) -> None:
        """Resolve a model name this lever defines into the candidates as asked."""

    async def admit(self, exchange: Exchange) -> None:
        """Let the request through, or raise ``GatewayError`` (401/403/429…)."""

    async def answer(self, exchange: Exchange) -> ChatResponse | None:
        """Answer without calling upstream (a cache hit), or None."""
        return None

    async def rewrite(self, exchange: Exchange) -> None:
        """Change ``exchange.request`` and/or ``exchange.candidates`` before dispatch."""

    def shape(self, exchange: Exchange, protocol: WireFormat, body: dict[str, Any]) -> None:
        """Edit the upstream JSON body (already in ``protocol``'s wire format)."""

    async def observe(self, exchange: Exchange, response: ChatResponse | None) -> None:
        """See the result (None on failure); may add gateway costs to the exchange."""

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        """What the request would have cost without this lever; None if it did nothing."""
        return None

    async def settle(self, exchange: Exchange, settlement: Settlement) -> None:
        """After accounting: reconcile reservations, update counters."""

    def admin_endpoints(self) -> list[AdminEndpoint]:
        return []

    async def aclose(self) -> None:
        """Release resources; called once at shutdown."""


def overrides(lever: Lever, hook: str) -> bool:
    """True if ``lever`` implements ``hook`` (the pipeline skips default no-ops)."""
    return getattr(type(lever), hook) is not getattr(Lever, hook)


__all__ = ["AdminEndpoint", "AdminRequest", "Billable", "Lever", "Unwound", "overrides"]
