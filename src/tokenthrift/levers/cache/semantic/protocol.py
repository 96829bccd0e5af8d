"""The contract between the response cache (keys, payloads, policy) and the semantic
matcher (embedder, vector index, guards, calibrated threshold).

The response cache computes the *partition* — an exact pre-filter string built from the
scope (tenant), model, sampling parameters and hashes of the system prompt, prior turns
and tools — and the *query text* (the final user turn). The matcher only ever compares
texts inside one partition, so tenants are separated exactly, never by embedding
distance. The cache stores the answers; the matcher stores vectors and the texts its
guards need.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    entry_id: str
    similarity: float  # cosine similarity of the embedded query texts
    matched_text: str
    # What embedding the query cost (an API embedder); None = a price we do not know.
    lookup_cost_usd: Decimal | None = Decimal(0)


@dataclass(frozen=True, slots=True)
class SemanticLookup:
    """Everything a lookup found, for callers that also account for misses."""

    match: SemanticMatch | None
    # Charged on a miss too: the query was embedded either way.
    cost_usd: Decimal | None = Decimal(0)
    # Why the best candidate was not served: "threshold", or the name of the guard that
    # vetoed it ("numbers", "negation"…); None on a hit or when the partition is empty.
    rejected_by: str | None = None
    best_similarity: float | None = None


class SemanticMatcher(Protocol):
    """Thread-safe; calls are blocking (embedding is CPU work) — run them off the event loop."""

    embedder_name: str

    def lookup(self, partition: str, text: str) -> SemanticMatch | None:
        """The best stored entry of ``partition`` that the live decision accepts
        (threshold *and* guards), or None."""
        ...

    def search(self, partition: str, text: str) -> SemanticLookup:
        """``lookup`` with its cost and the reason for a miss (``lookup`` is ``search(…).match``)."""
        ...

    def add(self, partition: str, text: str, entry_id: str, expires_at: float | None) -> None:
        """Store ``text`` under ``entry_id`` (replacing an entry of that id). ``expires_at`` is a
        ``time.time()`` instant. The embedding of the last looked-up texts is reused, so
        lookup-then-add embeds once."""
        ...

    def prepare(self, text: str) -> Decimal | None:
        """Embed ``text`` ahead of an ``add`` and return what that cost (0 when it was
        embedded recently, e.g. by the lookup; None = an unknown price). The pipeline
        calls it before accounting so the store's embedding is in the request's row."""
        ...

    def remove(self, entry_id: str) -> None: ...

    def clear(self, partition_prefix: str = "") -> int:
        """Drop entries whose partition starts with ``partition_prefix``; return how many."""
        ...

    def save(self) -> None:
        """Persist the index (the embedded default survives restarts)."""
        ...

    def close(self) -> None: ...
