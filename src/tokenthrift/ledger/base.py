"""What every ledger backend offers, independent of the database behind it."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from tokenthrift.ledger.record import LedgerRecord

# Who or what spend can be grouped by. "model" is the served model, "key" the key id,
# "day" the UTC date (YYYY-MM-DD) of the request.
SpendDimension = Literal["team", "customer", "user", "model", "key", "tag", "task", "day"]
SPEND_DIMENSIONS: tuple[SpendDimension, ...] = (
    "team",
    "customer",
    "user",
    "model",
    "key",
    "tag",
    "task",
    "day",
)
SavingsDimension = Literal["lever", "team", "model"]
SAVINGS_DIMENSIONS: tuple[SavingsDimension, ...] = ("lever", "team", "model")

# Columns of a spend row after the group keys, in display order. Money is ``Decimal``:
# the exact sum of the rows' amounts (``unattributed_usd``: the part of ``saved_usd`` no
# lever earned; ``gateway_cost_usd``: the gateway's own spend, included in ``cost_usd``).
SPEND_METRICS: tuple[str, ...] = (
    "requests",
    "cost_usd",
    "unknown_cost_requests",
    "baseline_cost_usd",
    "saved_usd",
    "unattributed_usd",
    "gateway_cost_usd",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


class LedgerError(Exception):
    """Base class of ledger failures."""


class LedgerUnavailable(LedgerError):
    """The store cannot be reached or is busy; the same write may succeed later."""


class RecordRejected(LedgerError):
    """The store refused the data itself; retrying the same records will fail again."""


class LedgerSink(Protocol):
    """All the writer needs from a ledger."""

    def write(self, records: list[LedgerRecord]) -> int: ...


@runtime_checkable
class Ledger(Protocol):
    """A spend ledger: one row per request, keyed by ``request_id``."""

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied (empty if none)."""
        ...

    def write(self, records: list[LedgerRecord]) -> int:
        """Store records in one transaction; return how many were new.

        Idempotent on ``request_id``: a record whose id is already stored is skipped
        (the first write wins), so retries and spill re-ingestion never duplicate.
        Raises ``LedgerUnavailable`` (retry later) or ``RecordRejected`` (bad data).
        """
        ...

    def get(self, request_id: str) -> LedgerRecord | None: ...

    def rows(self, since: float | None = None, limit: int = 1000) -> list[LedgerRecord]:
        """Records with ``ts >= since``, newest first."""
        ...

    def spend(self, by: list[str], since: float | None = None) -> list[dict[str, Any]]:
        """Spend grouped by ``SPEND_DIMENSIONS``; ``by=[]`` gives one total row.

        Each row has the group keys (named by dimension) then ``SPEND_METRICS``. A
        request with several tags counts once per tag when grouped by ``tag``; untagged
        requests form the ``None`` group. Sorted by cost descending, or by day ascending
        when ``day`` is a dimension.
        """
        ...

    def savings(self, by: str, since: float | None = None) -> list[dict[str, Any]]:
        """Savings by ``lever`` or by ``team``/``model``.

        By lever: one row per lever (``lever``, ``saved_usd``, ``requests`` it saved on):
        ``LEVERS`` always, then any other lever found; sorted by saved descending, ties in
        that order. By team/model: baseline, cost, saved, unattributed, gateway cost and
        one ``saved_<lever>_usd`` column per lever (same order), sorted by saved
        descending. ``saved_usd`` of a request is the sum of its levers' savings;
        ``unattributed_usd`` the rest of ``baseline - cost`` (not a lever saving)."""
        ...

    def close(self) -> None: ...
