"""Spend and savings reports: pure functions over a ``Ledger`` (CLI and dashboard)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tokenthrift.ledger.base import (
    SAVINGS_DIMENSIONS,
    SPEND_DIMENSIONS,
    SPEND_METRICS,
    Ledger,
)
from tokenthrift.ledger.money import ZERO
from tokenthrift.ledger.sql import SAVINGS_GROUP_BASE, lever_column, ordered_levers

SAVINGS_LEVER_METRICS: tuple[str, ...] = ("saved_usd", "requests")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(slots=True)
class Report:
    """Rows of one report, the columns in display order, and a total row.

    ``key_columns`` are the group keys (e.g. ``["team"]``). ``total`` has the metric
    columns only; a metric that has no meaningful total (requests a lever saved on,
    which overlap between levers) is ``None`` there. Money is ``Decimal``, and every
    money total is the exact sum of the requests' amounts.
    """

    key_columns: list[str]
    metric_columns: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Any] = field(default_factory=dict)
    # Lines shown apart from the rows and not part of their total (savings by lever:
    # what no lever earned, the gateway's own spend): ``(label, usd, explanation)``.
    extra: list[tuple[str, Decimal, str]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.key_columns, *self.metric_columns]


def parse_since(text: str, *, now: float | None = None) -> float:
    """``"7d"``, ``"24h"``, ``"30m"``, ``"90s"``, ``"2w"`` ago, or a UTC date/time
    (``"2026-11-01"``, ``"2026-11-01T08:00"``) -> unix seconds."""
    match = _DURATION.match(text)
    if match:
        amount, unit = match.groups()
        return (time.time() if now is None else now) - float(amount) * _SECONDS[unit]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: use e.g. 7d, 24h, 30m or 2026-11-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_dimensions(values: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """Repeated and comma-separated ``--by`` values -> ordered, de-duplicated list."""
    allowed = tuple(allowed)
    dims: list[str] = []
    for value in values:
        for part in value.split(","):
            dim = part.strip().lower()
            if not dim:
                continue
            if dim not in allowed:
                raise ValueError(f"cannot group by {dim!r}; choose from {', '.join(allowed)}")
            if dim not in dims:
                dims.append(dim)
    return dims


def spend_report(ledger: Ledger, by: list[str], since: float | None = None) -> Report:
    """Spend by one or more ``SPEND_DIMENSIONS``.

    The total comes from the ledger, not from adding rows up: grouped by tag, a request
    with two tags is in two rows but costs once.
    """
    by = parse_dimensions(by, SPEND_DIMENSIONS)
    (total,) = ledger.spend([], since)
    return Report(by, list(SPEND_METRICS), ledger.spend(by, since), total)


def savings_report(ledger: Ledger, by: str, since: float | None = None) -> Report:
    """Savings by ``lever`` (one row per lever, then what no lever earned) or by
    ``team``/``model`` (a ``saved_<lever>_usd`` column per lever)."""
    dims = parse_dimensions([by], SAVINGS_DIMENSIONS)
    if len(dims) != 1:
        raise ValueError(f"savings are grouped by exactly one of {', '.join(SAVINGS_DIMENSIONS)}")
    dim = dims[0]
    rows = ledger.savings(dim, since)
    if dim == "lever":
        # Lever rows overlap in requests (one request can save through several levers),
        # so requests have no total. The money total is the requests' saved_usd, which
        # is what their levers saved: the lever rows add up to it.
        (spend,) = ledger.spend([], since)
        total = {"saved_usd": spend["saved_usd"], "requests": None}
        extra = [
            ("unattributed_usd", spend["unattributed_usd"],
             "not a lever saving: baseline - cost that no lever earned (e.g. a fallback)"),
            ("gateway_cost_usd", spend["gateway_cost_usd"],
             "not a lever saving: the gateway's own spend (embeddings), included in cost"),
        ]  # fmt: skip
        return Report([dim], list(SAVINGS_LEVER_METRICS), rows, total, extra)
    levers = [lever_column(x) for x in ordered_levers(_levers_in(rows))]
    metrics = [*SAVINGS_GROUP_BASE, *levers]
    # team and model partition the requests, so adding rows up is exact.
    total = {m: sum((row[m] for row in rows), ZERO if m.endswith("_usd") else 0)
             for m in metrics}  # fmt: skip
    return Report([dim], metrics, rows, total)


def _levers_in(rows: list[dict[str, Any]]) -> list[str]:
    columns = {c for row in rows for c in row if c.startswith("saved_") and c != "saved_usd"}
    return [c[len("saved_") : -len("_usd")] for c in columns]
