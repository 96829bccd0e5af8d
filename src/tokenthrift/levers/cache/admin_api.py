"""Admin endpoints of the response cache (master key required).

* ``DELETE /admin/cache?scope=…&model=…`` — drop stored answers (all, or of one scope
  and/or model); answers ``{"removed": n}`` (payloads removed from the backend).
* ``GET /admin/cache`` — backend, live entry count and this replica's hit/miss counters.

Scopes are written as the cache names them: ``key:<key_id>``, ``team:<team>``,
``customer:<customer>``, ``user:<user>`` or ``global``.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...errors import GatewayError
from ...server.admin import require_master_key
from ...server.http import error_response
from .response_cache import CacheLever


def _lever(request: Request) -> CacheLever | None:
    cache = request.app.state.gateway.cache
    return cache if isinstance(cache, CacheLever) else None


async def clear_cache(request: Request) -> Response:
    try:
        require_master_key(request)
    except GatewayError as error:
        return error_response(error, "openai")
    lever = _lever(request)
    scope = request.query_params.get("scope") or None
    model = request.query_params.get("model") or None
    removed = await lever.clear(scope=scope, model=model) if lever is not None else 0
    return JSONResponse({"removed": removed, "scope": scope, "model": model})


async def cache_status(request: Request) -> Response:
    try:
        require_master_key(request)
    except GatewayError as error:
        return error_response(error, "openai")
    lever = _lever(request)
    if lever is None:
        return JSONResponse({"enabled": False})
    settings = lever.settings
    return JSONResponse({
        "enabled": True,
        "backend": lever.backend.name,
        "entries": await lever.backend.count(),
        "exact": settings.exact.enabled,
        "semantic": settings.semantic.enabled,
        "stats": asdict(lever.stats),
    })


ROUTES: list[BaseRoute] = [
    Route("/admin/cache", clear_cache, methods=["DELETE"]),
    Route("/admin/cache", cache_status, methods=["GET"]),
]
