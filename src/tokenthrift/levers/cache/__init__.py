"""Response caching: the exact cache (identical request → stored answer) and the
semantic cache (same question reworded → stored answer, through the matcher in
``semantic``), with per-tenant scopes, per-request directives and three backends.

See ``docs/caching.md`` for the behaviour users rely on.
"""

from __future__ import annotations

from ..base import Lever
from ..context import LeverContext
from .response_cache import CacheLever
from .settings import CacheSettings


def build(context: LeverContext) -> Lever | None:
    settings = CacheSettings.from_config(context.config)
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
