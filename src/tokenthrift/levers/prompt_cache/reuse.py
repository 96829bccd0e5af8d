"""How often a prefix comes back, and whether caching it pays.

Anthropic bills a cache write at 1.25x the input price with the 5-minute TTL and 2x with
the 1-hour TTL, and a read at 0.1x (prompt caching docs, "Pricing"); an entry is
refreshed by every read. So a prefix that is used again after a gap of at most the TTL
is read, and one that comes back later is written again. Per use, relative to sending
the prefix uncached (1.0), caching with TTL ``t`` costs about

    READ + (WRITE_t - READ) * P(gap > t)

and pays when that is below 1. ``P(gap > t)`` is estimated from the gaps observed
between uses of that prefix, with one pessimistic pseudo-observation (a gap longer than
any TTL), so a prefix seen once is never written and a single short gap is not enough
for the 1-hour premium: a write that is never read is the loss this guards against.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from ...types import CacheTTL

READ = 0.1
WRITE = {"5m": 1.25, "1h": 2.0}
TTL_S: dict[CacheTTL, float] = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True, slots=True)
class Reuse:
    """Gaps observed between uses of one prefix."""

    last_seen: float
    gaps: int = 0
    over_5m: int = 0
    over_1h: int = 0

    def seen_again(self, now: float) -> Reuse:
        gap = max(0.0, now - self.last_seen)
        return Reuse(now, self.gaps + 1, self.over_5m + (gap > TTL_S["5m"]),
                     self.over_1h + (gap > TTL_S["1h"]))

    def expected_cost(self, ttl: CacheTTL) -> float:
        """Expected cost per use of caching with ``ttl``, relative to not caching."""
        over = self.over_5m if ttl == "5m" else self.over_1h
        p_write = (over + 1) / (self.gaps + 1)
        return READ + (WRITE[ttl] - READ) * p_write

    def ttl(self, *, allow_1h: bool = True) -> CacheTTL | None:
        """The TTL that makes caching cheapest, or None when caching does not pay."""
        best: CacheTTL = "5m"
        if allow_1h and self.expected_cost("1h") < self.expected_cost("5m"):
            best = "1h"
        return best if self.expected_cost(best) < 1.0 else None


class ReuseTracker:
    """Reuse history by prefix fingerprint, least recently used evicted first."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, Reuse] = OrderedDict()

    def get(self, fingerprint: bytes) -> Reuse | None:
        return self._entries.get(fingerprint)

    def see(self, fingerprint: bytes, now: float, *, history: Reuse | None = None) -> Reuse:
        """Record a use of ``fingerprint`` now; return its history including this gap.

        ``history`` carries another prefix's gaps over to a new one (the previous turn of
        a growing conversation: the conversation's pace, not that prefix's, matters).
        """
        known = self._entries.get(fingerprint)
        if known is not None:
            reuse = known.seen_again(now)
        elif history is not None:
            reuse = history.seen_again(now)
        else:
            reuse = Reuse(now)
        self._entries[fingerprint] = reuse
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return reuse

    def keep(self, fingerprint: bytes, reuse: Reuse, now: float) -> None:
        """Store ``reuse`` for ``fingerprint`` as last seen now (no new gap)."""
        self._entries[fingerprint] = replace(reuse, last_seen=now)
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
