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

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import GatewayError, InvalidRequest
from .lever import GovernanceLever
from .periods import PERIODS
from .specs import parse_budget, parse_key_spec
from .views import budget_status_view, key_view

log = logging.getLogger("tokenthrift.governance")
_MAX_BODY = 64 * 1024

Handler = Callable[[Request, GovernanceLever], Awaitable[Any]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Master-key check, the lever, JSON in and out, errors in OpenAI's error shape."""
    from ...server.admin import require_master_key
    from ...server.http import error_response, read_json

    async def endpoint(request: Request) -> Response:
        try:
            require_master_key(request)
            lever = request.app.state.gateway.governance
            if not isinstance(lever, GovernanceLever):
                raise GatewayError("not_found", "governance is disabled on this gateway",
                                   code="governance_disabled")
            if request.method == "POST":
                request.state.body = await read_json(request, _MAX_BODY)
            status, body = await handler(request, lever)
        except GatewayError as error:
            return error_response(error, "openai")
        except ValueError as exc:
            return error_response(InvalidRequest(str(exc)), "openai")
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    return endpoint


async def create_key(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
    spec = parse_key_spec(request.state.body)
    key, raw = await lever.create_key(spec)
    log.info("virtual key %s created (prefix %s)", key.id, key.prefix)
    usage = await lever.budget_usage(lever.book.of("key", key.id))
    views = [budget_status_view(h, s, r, lever.settings.timezone) for h, s, r in usage]
    return 200, {**key_view(key, lever.settings.timezone, budgets=views), "key": raw}


async def list_keys(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
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


async def revoke_key(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
    key_id = request.path_params["key_id"]
    if not await lever.revoke_key(key_id):
        raise GatewayError("not_found", f"no key with id {key_id!r}", code="key_not_found")
    log.info("virtual key %s revoked", key_id)
    return 200, {"id": key_id, "revoked": True}


async def set_budget(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
    budget = parse_budget(request.state.body)
    await lever.set_budget(budget)
    ((hold, spent, reserved),) = await lever.budget_usage([budget])
    return 200, budget_status_view(hold, spent, reserved, lever.settings.timezone)


async def list_budgets(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
    budgets = await asyncio.to_thread(lever.store.budgets)
    usage = await lever.budget_usage(budgets)
    zone = lever.settings.timezone
    return 200, {"data": [budget_status_view(h, s, r, zone) for h, s, r in usage]}


async def delete_budget(request: Request, lever: GovernanceLever) -> tuple[int, Any]:
    scope, subject = request.path_params["scope"], request.path_params["subject"]
    period = request.query_params.get("period")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {'|'.join(PERIODS)}")
    deleted = await lever.delete_budgets(scope, subject, period)
    if not deleted:
        raise GatewayError("not_found", f"no budget for {scope} {subject!r}",
                           code="budget_not_found")
    return 200, {"scope": scope, "id": subject, "deleted": deleted}


ROUTES: list[BaseRoute] = [
    Route("/admin/keys", _endpoint(create_key), methods=["POST"]),
    Route("/admin/keys", _endpoint(list_keys), methods=["GET"]),
    Route("/admin/keys/{key_id}", _endpoint(revoke_key), methods=["DELETE"]),
    Route("/admin/budgets", _endpoint(set_budget), methods=["POST"]),
    Route("/admin/budgets", _endpoint(list_budgets), methods=["GET"]),
    Route("/admin/budgets/{scope}/{subject}", _endpoint(delete_budget), methods=["DELETE"]),
]
