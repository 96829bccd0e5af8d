"""The live decision: is ``candidate`` (a stored query) the same request as ``query``?

One function decides for the matcher at lookup time *and* for ``tokenthrift cache eval`` /
``calibrate``, so what a user measures is what the cache does: similarity at or above the
threshold, no guard vetoes the pair, and the review (``review``: a second look with the
embedder, when one ships for it) passes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from .guards import DEFAULT_GUARDS, first_veto
from .settings import SemanticSettings

if TYPE_CHECKING:
    from .review import Reviewer

VETOED = float("-inf")  # the decision score of a pair a guard rejects


@dataclass(frozen=True, slots=True)
class Decision:
    threshold: float
    guards: tuple[str, ...] = DEFAULT_GUARDS
    reviewer: Reviewer | None = field(default=None, compare=False)

    def veto(self, query: str, candidate: str) -> str | None:
        """The guard that rejects the pair whatever its similarity, or None."""
        return first_veto(query, candidate, self.guards)

    def score(self, query: str, candidate: str, similarity: float) -> float:
        """What the threshold is compared with: the similarity, or -inf when vetoed."""
        return VETOED if self.veto(query, candidate) else similarity

    def verdict(self, query: str, candidate: str, similarity: float) -> str | None:
        """None when the candidate is accepted, else why not: "threshold" or a guard name."""
        if similarity < self.threshold:
            return "threshold"  # cheap test first: most candidates fail here
        vetoed = self.veto(query, candidate)
        if vetoed is not None or self.reviewer is None:
            return vetoed
        return self.reviewer.verdict(query, candidate, similarity)  # the costly look last

    def accepts(self, query: str, candidate: str, similarity: float) -> bool:
        return self.verdict(query, candidate, similarity) is None

    def with_threshold(self, threshold: float) -> Decision:
        return Decision(threshold, self.guards, self.reviewer)


def decision_for(settings: SemanticSettings, embedder: object | None = None) -> Decision:
    """The decision the live cache makes with ``settings`` and its ``embedder`` (built
    from ``settings.embedder`` when not given)."""
    from .calibration import default_threshold, shipped_threshold

    reviewer = _reviewer(settings, embedder)
    reviewed = reviewer is not None
    if settings.threshold is not None:
        return Decision(settings.threshold, settings.guards, reviewer)
    if settings.target_precision is None:
        default = default_threshold(settings.embedder, settings.guards, reviewed)
        if default is not None:
            return Decision(default, settings.guards, reviewer)
    target = settings.effective_target_precision
    assert target is not None
    threshold = shipped_threshold(settings.embedder, settings.guards, target, reviewed)
    return Decision(threshold, settings.guards, reviewer)


def _reviewer(settings: SemanticSettings, embedder: object | None) -> Reviewer | None:
    from .review import reviewer_for, shipped_model

    if not settings.review or shipped_model(settings.embedder) is None:
        return None
    if embedder is None:
        from .embedders import build_embedder

        embedder = build_embedder(settings.embedder, settings.embedder_api_key,
                                  settings.embedder_price_per_mtok)
    return reviewer_for(embedder)


@lru_cache(maxsize=1)
def default_decision() -> Decision:
    return decision_for(SemanticSettings())


def decide(query: str, candidate: str, similarity: float) -> bool:
    """The live decision with the default settings (threshold + guards + review)."""
    return default_decision().accepts(query, candidate, similarity)
