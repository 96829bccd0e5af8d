"""Gauges read from live state when Prometheus scrapes: budgets and cache entries.

Budgets come from the governance lever's counters (the same figures ``GET
/admin/budgets`` shows), cache entries from the cache backend's count. A gateway without
those levers simply has no such series.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..levers.cache.response_cache import CacheLever
from ..levers.governance.budgets import from_nano
from ..levers.governance.lever import GovernanceLever
from .registry import Labels, Number

if TYPE_CHECKING:
    from ..pipeline import Gateway
    from .metrics import GatewayMetrics

log = logging.getLogger("tokenthrift.observability")


async def refresh_gauges(metrics: GatewayMetrics, gateway: Gateway) -> None:
    """Set the scrape-time gauges; a store that cannot be read leaves them as they were."""
    governance = gateway.lever("governance")
    if isinstance(governance, GovernanceLever):
        try:
            budgets = await budget_statuses(governance)
        except Exception as exc:  # a scrape must still answer while Redis is down
            log.warning("cannot read budgets for /metrics: %s", exc)
        else:
            remaining: dict[Labels, Number] = {}
            limit: dict[Labels, Number] = {}
            spent: dict[Labels, Number] = {}
            for budget in budgets:
                key = (budget["scope"], budget["id"], budget["period"])
                remaining[key], limit[key] = budget["remaining"], budget["usd"]
                spent[key] = budget["spent"]
            metrics.budget_remaining.replace(remaining)
            metrics.budget_limit.replace(limit)
            metrics.budget_spent.replace(spent)
    cache = gateway.lever("cache")
    if isinstance(cache, CacheLever):
        try:
            metrics.cache_entries.replace({(): await cache.backend.count()})
        except Exception as exc:
            log.warning("cannot count cache entries for /metrics: %s", exc)


async def budget_statuses(governance: GovernanceLever) -> list[dict[str, Any]]:
    """Every budget in force with its current period: limit, spent, reserved, remaining
    (exact ``Decimal`` USD) and the period's end (ISO 8601, None for ``total``)."""
    zone = governance.settings.timezone
    statuses = []
    for hold, spent_nano, reserved_nano in await governance.budget_usage(
            list(governance.book.all)):
        budget, window = hold.budget, hold.window
        spent, reserved = from_nano(spent_nano), from_nano(reserved_nano)
        statuses.append({
            "scope": budget.scope,
            "id": budget.subject,
            "period": budget.period,
            "usd": budget.usd,
            "spent": spent,
            "reserved": reserved,
            "remaining": max(Decimal(0), budget.usd - spent - reserved),
            "period_start": window.start_iso(zone),
            "period_end": window.end_iso(zone),
        })
    return statuses
