"""Semantic matching for the response cache (see ``protocol`` for the contract).

``build_matcher(settings, data_dir)`` is what the response cache calls; ``decide`` is the
live decision (threshold + guards + review) that the matcher and the eval commands share.
"""

from __future__ import annotations

from .decision import Decision, decide, decision_for
from .protocol import SemanticLookup, SemanticMatch, SemanticMatcher
from .settings import SemanticSettings


def build_matcher(settings: SemanticSettings, data_dir: str) -> SemanticMatcher:
    """The embedded matcher: ``settings.embedder`` + an in-process vector index persisted
    under ``<data_dir>/semantic/`` (loaded now if present, written on save()/close())."""
    from .embedders import build_embedder
    from .matcher import LocalMatcher

    embedder = build_embedder(
        settings.embedder, settings.embedder_api_key, settings.embedder_price_per_mtok
    )
    return LocalMatcher(
        embedder,
        decision_for(settings, embedder),
        data_dir=data_dir,
        max_entries=settings.max_entries,
    )


__all__ = [
    "Decision",
    "SemanticLookup",
    "SemanticMatch",
    "SemanticMatcher",
    "SemanticSettings",
    "build_matcher",
    "decide",
    "decision_for",
]
