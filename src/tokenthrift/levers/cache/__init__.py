"""Response caching: the exact cache (identical request → stored answer) and the
semantic cache (same question reworded → stored answer, through the matcher in
``semantic``), with per-tenant scopes, per-request directives and three backends.

See ``docs/caching.md`` for the behaviour users rely on.
"""

from __future__ import annotations

from ...config import GatewayConfig
from ..base import ResponseCache
from .response_cache import CacheLever
from .settings import CacheSettings


def build(config: GatewayConfig) -> ResponseCache | None:
    settings = CacheSettings.from_config(config)
    if not settings.enabled:
        return None
    from .backends import open_backend

    backend = open_backend(settings)
    semantic = None
    if settings.semantic.enabled:
        from .semantic_layer import SemanticLayer, load_matcher

        semantic = SemanticLayer(load_matcher(settings), backend)
    return CacheLever(settings, backend, semantic)


__all__ = ["CacheLever", "CacheSettings", "build"]
