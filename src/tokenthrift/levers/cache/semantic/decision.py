"""The live decision: is ``candidate`` (a stored query) the same request as ``query``?

One function decides for the matcher at lookup time *and* for ``tokenthrift cache eval`` /
``calibrate``, so what a user measures is what the cache does: similarity at or above the
threshold, and no guard vetoes the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .guards import DEFAULT_GUARDS, first_veto
from .settings import SemanticSettings

VETOED = float("-inf")  # the decision score of a pair a guard rejects


@dataclass(frozen=True, slots=True)
class Decision:
    threshold: float
    guards: tuple[str, ...] = DEFAULT_GUARDS

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
        return self.veto(query, candidate)

    def accepts(self, query: str, candidate: str, similarity: float) -> bool:
        return self.verdict(query, candidate, similarity) is None

    def with_threshold(self, threshold: float) -> Decision:
        return Decision(threshold, self.guards)


def decision_for(settings: SemanticSettings) -> Decision:
    """The decision the live cache makes with ``settings``."""
    from .calibration import default_threshold, shipped_threshold

    if settings.threshold is not None:
        return Decision(settings.threshold, settings.guards)
    if settings.target_precision is None:
        default = default_threshold(settings.embedder, settings.guards)
        if default is not None:
            return Decision(default, settings.guards)
    target = settings.effective_target_precision
    assert target is not None
    return Decision(shipped_threshold(settings.embedder, settings.guards, target), settings.guards)


@lru_cache(maxsize=1)
def default_decision() -> Decision:
    return decision_for(SemanticSettings())


def decide(query: str, candidate: str, similarity: float) -> bool:
    """The live decision with the default settings (threshold + guards)."""
    return default_decision().accepts(query, candidate, similarity)
