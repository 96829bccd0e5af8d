"""The admin API (``/admin/*``): the levers' admin endpoints behind the master key.

Levers describe their endpoints (``Lever.admin_endpoints``) without knowing HTTP; this
module turns them into routes: master-key check (constant time), JSON body, errors in
OpenAI's error shape.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import GatewayError, InvalidRequest
from ..levers.base import AdminEndpoint, AdminRequest
from ..pipeline import Gateway
from .attribution import client_key
from .http import error_response, read_json

_MAX_BODY = 64 * 1024


def require_master_key(request: Request, master: str | None) -> None:
    """Raise 401/403 unless the request carries the master key (constant-time compare)."""
    if master is None:
        raise GatewayError("permission", "the admin API is disabled: set TOKENTHRIFT_MASTER_KEY "
                           "or master_key in the config", code="admin_disabled")
    presented = client_key(request.headers)
    if presented is None:
        raise GatewayError("authentication", "missing master key (Authorization: Bearer …)",
                           code="missing_api_key")
    if not hmac.compare_digest(presented.encode(), master.encode()):
        raise GatewayError("authentication", "invalid master key", code="invalid_api_key")


def admin_routes(gateway: Gateway) -> list[BaseRoute]:
    by_path: dict[str, dict[str, AdminEndpoint]] = defaultdict(dict)
    for lever in gateway.levers:
        for endpoint in lever.admin_endpoints():
            if endpoint.method in by_path[endpoint.path]:
                raise ValueError(f"two levers serve {endpoint.method} {endpoint.path}")
            by_path[endpoint.path][endpoint.method] = endpoint
    master = gateway.config.admin_key()
    return [Route(path, _endpoint(methods, master), methods=list(methods))
            for path, methods in by_path.items()]


def _endpoint(methods: dict[str, AdminEndpoint], master: str | None
              ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            require_master_key(request, master)
            body = await read_json(request, _MAX_BODY) if request.method == "POST" else {}
            call = AdminRequest(body, dict(request.path_params), dict(request.query_params))
            status, payload = await methods[request.method].handler(call)
        except GatewayError as error:
            return error_response(error, "openai")
        except ValueError as exc:
            return error_response(InvalidRequest(str(exc)), "openai")
        return Response(orjson.dumps(payload), status_code=status, media_type="application/json")

    return endpoint
