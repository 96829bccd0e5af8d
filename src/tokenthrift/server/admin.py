"""The admin API (``/admin/*``): authenticated by the master key, mounted from the levers."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.routing import BaseRoute

from ..errors import GatewayError
from ..pipeline import Gateway
from .attribution import client_key


def require_master_key(request: Request) -> None:
    """Raise 401/403 unless the request carries the master key (constant-time compare)."""
    gateway: Gateway = request.app.state.gateway
    master = gateway.config.admin_key()
    if master is None:
        raise GatewayError("permission", "the admin API is disabled: set TOKENTHRIFT_MASTER_KEY "
                           "or master_key in the config", code="admin_disabled")
    presented = client_key(request.headers)
    if presented is None:
        raise GatewayError("authentication", "missing master key (Authorization: Bearer …)",
                           code="missing_api_key")
    if not hmac.compare_digest(presented.encode(), master.encode()):
        raise GatewayError("authentication", "invalid master key", code="invalid_api_key")


def admin_routes() -> list[BaseRoute]:
    from ..levers.cache.admin_api import ROUTES as cache_routes
    from ..levers.governance.admin_api import ROUTES as governance_routes

    return [*governance_routes, *cache_routes]
