"""Keys and budgets as JSON (admin API answers, ``--format json`` in the CLI).

Money leaves as floats rounded to 10 decimals, times as ISO 8601 strings in the
governance time zone. A key view never contains the key, only its display prefix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ...accounting.cost import to_float
from .budgets import Budget, from_nano
from .counters import BudgetHold
from .keys import VirtualKey
from .periods import iso


def key_view(key: VirtualKey, zone: ZoneInfo, *, spend: Decimal | None = None,
             budgets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": key.id,
        "prefix": key.prefix,
        "team": key.team,
        "user": key.user,
        "customer": key.customer,
        "models": list(key.models) if key.models is not None else None,
        "rpm": key.rpm,
        "tpm": key.tpm,
        "expires_at": iso(key.expires_at, zone) if key.expires_at is not None else None,
        "metadata": key.metadata,
        "revoked": key.revoked,
        "created_at": iso(key.created_at, zone),
    }
    if spend is not None:
        view["spend"] = to_float(spend)
    if budgets is not None:
        view["budgets"] = budgets
    return view


def budget_view(budget: Budget) -> dict[str, Any]:
    return {
        "scope": budget.scope,
        "id": budget.subject,
        "usd": float(budget.usd),
        "period": budget.period,
        "soft_limit_pct": list(budget.soft_limit_pct),
        "webhook": budget.webhook,
    }


def budget_status_view(hold: BudgetHold, spent: int, reserved: int, zone: ZoneInfo
                       ) -> dict[str, Any]:
    budget, window = hold.budget, hold.window
    remaining = max(Decimal(0), budget.usd - from_nano(spent) - from_nano(reserved))
    return {
        **budget_view(budget),
        "spent": to_float(from_nano(spent)),
        "reserved": to_float(from_nano(reserved)),
        "remaining": to_float(remaining),
        "period_start": window.start_iso(zone),
        "period_end": window.end_iso(zone),
    }
