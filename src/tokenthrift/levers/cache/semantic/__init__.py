"""Semantic matching for the response cache (see ``protocol``)."""

from .protocol import SemanticMatch, SemanticMatcher

__all__ = ["SemanticMatch", "SemanticMatcher"]
