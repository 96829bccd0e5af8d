"""What the accountant prices, and how a lever says what it changed.

``Billable`` is a priced counterfactual: usage on a model, sync or batch, plus the
gateway's own spend. A lever's ``unwind`` hook returns an ``Unwound``: the ``Billable``
the request would have been without it (see ``settlement`` for how the steps add up).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from ..types import Usage, WireFormat

if TYPE_CHECKING:
    from ..exchange import Exchange


@dataclass(frozen=True, slots=True)
class Billable:
    """Something the accountant can price: usage on a model, sync or batch, plus the
    gateway's own spend for the request (e.g. embedding calls)."""

    model: str | None
    usage: Usage
    batch: bool = False
    protocol: WireFormat | None = None
    provider: str | None = None
    gateway_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Unwound:
    """What the request would have been without a lever (``before``), and why it differs.

    ``lever`` is the savings column the difference is credited to (one lever may report
    under several names, e.g. ``exact_cache``/``semantic_cache``)."""

    lever: str
    before: Billable
    reason: str = ""


class Unwinder(Protocol):
    """The part of a lever accounting needs (``levers.base.Lever.unwind``)."""

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None: ...
