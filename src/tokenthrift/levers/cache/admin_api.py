"""Admin endpoints of the response cache (master key required).

* ``DELETE /admin/cache?scope=…&model=…&tag=…`` — drop stored answers (all, or those of
  one scope, model and/or cache tag, all filters given applying together); answers
  ``{"removed": n, "scope", "model", "tag"}`` (payloads removed from the backend).
* ``GET /admin/cache`` — backend, live entry count and this replica's hit/miss counters.

Scopes are written as the cache names them: ``key:<key_id>``, ``team:<team>``,
``customer:<customer>``, ``user:<user>`` or ``global``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..base import AdminEndpoint, AdminRequest
from .response_cache import CacheLever


def endpoints(lever: CacheLever) -> list[AdminEndpoint]:
    async def clear_cache(request: AdminRequest) -> tuple[int, Any]:
        scope = request.query_params.get("scope") or None
        model = request.query_params.get("model") or None
        tag = request.query_params.get("tag") or None
        removed = await lever.clear(scope=scope, model=model, tag=tag)
        return 200, {"removed": removed, "scope": scope, "model": model, "tag": tag}

    async def cache_status(request: AdminRequest) -> tuple[int, Any]:
        settings = lever.settings
        return 200, {
            "enabled": True,
            "backend": lever.backend.name,
            "entries": await lever.backend.count(),
            "exact": settings.exact.enabled,
            "semantic": settings.semantic.enabled,
            "stats": asdict(lever.stats),
            "in_flight": len(lever.in_flight),
            "waiting": lever.in_flight.waiting,
        }

    return [AdminEndpoint("DELETE", "/admin/cache", clear_cache),
            AdminEndpoint("GET", "/admin/cache", cache_status)]
