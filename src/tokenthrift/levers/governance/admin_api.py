"""Admin endpoints of governance, authenticated by the master key.

* ``POST /admin/keys`` ``{"team","user","customer","models","budget":{"usd","period"},
  "rpm","tpm","expires_at","metadata"}`` → ``{"id","key",…}``; the key is in this answer
  only, never again.
* ``GET /admin/keys`` → ``{"data": [...]}``: ids, prefixes, owners, all-time ``spend``
  and the key's budgets; never a key.
* ``DELETE /admin/keys/{id}`` → revokes (the row stays for the ledger's sake).
* ``POST /admin/budgets`` ``{"scope","id","usd","period","soft_limit_pct","webhook"}``
  creates or replaces the budget of that scope, id and period.
* ``GET /admin/budgets`` → ``{"data": [...]}`` with live ``spent``, ``reserved`` (by
  requests in flight), ``remaining``, ``period_start`` and ``period_end``.
* ``DELETE /admin/budgets/{scope}/{id}`` (``?period=`` for one period only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from ...errors import GatewayError
from ..base import AdminEndpoint, AdminHandler, AdminRequest
from .lever import GovernanceLever
from .periods import PERIODS
from .specs import parse_budget, parse_key_spec
from .views import budget_status_view, key_view

log = logging.getLogger("tokenthrift.governance")

Handler = Callable[[AdminRequest, GovernanceLever], Awaitable[tuple[int, Any]]]


async def create_key(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    spec = parse_key_spec(request.body)
    key, raw = await lever.create_key(spec)
    log.info("virtual key %s created (prefix %s)", key.id, key.prefix)
    usage = await lever.budget_usage(lever.book.of("key", key.id))
    views = [budget_status_view(h, s, r, lever.settings.timezone) for h, s, r in usage]
    return 200, {**key_view(key, lever.settings.timezone, budgets=views), "key": raw}


async def list_keys(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    keys = await asyncio.to_thread(lever.store.list_keys)
    spend = await asyncio.to_thread(lever.store.spend_by_key, [k.id for k in keys])
    zone = lever.settings.timezone
    usage = await lever.budget_usage([b for b in lever.book.all if b.scope == "key"])
    by_key: dict[str, list[dict[str, Any]]] = {}
    for hold, spent, reserved in usage:
        by_key.setdefault(hold.budget.subject, []).append(
            budget_status_view(hold, spent, reserved, zone))
    data = [key_view(k, zone, spend=spend.get(k.id, Decimal(0)), budgets=by_key.get(k.id, []))
            for k in keys]
    return 200, {"data": data}


async def revoke_key(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    key_id = request.path_params["key_id"]
    if not await lever.revoke_key(key_id):
        raise GatewayError("not_found", f"no key with id {key_id!r}", code="key_not_found")
    log.info("virtual key %s revoked", key_id)
    return 200, {"id": key_id, "revoked": True}


async def set_budget(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    budget = parse_budget(request.body)
    await lever.set_budget(budget)
    ((hold, spent, reserved),) = await lever.budget_usage([budget])
    return 200, budget_status_view(hold, spent, reserved, lever.settings.timezone)


async def list_budgets(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    budgets = await asyncio.to_thread(lever.store.budgets)
    usage = await lever.budget_usage(budgets)
    zone = lever.settings.timezone
    return 200, {"data": [budget_status_view(h, s, r, zone) for h, s, r in usage]}


async def delete_budget(request: AdminRequest, lever: GovernanceLever) -> tuple[int, Any]:
    scope, subject = request.path_params["scope"], request.path_params["subject"]
    period = request.query_params.get("period")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {'|'.join(PERIODS)}")
    deleted = await lever.delete_budgets(scope, subject, period)
    if not deleted:
        raise GatewayError("not_found", f"no budget for {scope} {subject!r}",
                           code="budget_not_found")
    return 200, {"scope": scope, "id": subject, "deleted": deleted}


def endpoints(lever: GovernanceLever) -> list[AdminEndpoint]:
    def bound(handler: Handler) -> AdminHandler:
        async def call(request: AdminRequest) -> tuple[int, Any]:
            return await handler(request, lever)
        return call

    return [
        AdminEndpoint("POST", "/admin/keys", bound(create_key)),
        AdminEndpoint("GET", "/admin/keys", bound(list_keys)),
        AdminEndpoint("DELETE", "/admin/keys/{key_id}", bound(revoke_key)),
        AdminEndpoint("POST", "/admin/budgets", bound(set_budget)),
        AdminEndpoint("GET", "/admin/budgets", bound(list_budgets)),
        AdminEndpoint("DELETE", "/admin/budgets/{scope}/{subject}", bound(delete_budget)),
    ]
