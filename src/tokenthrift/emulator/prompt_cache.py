"""The providers' prompt caches, per organisation and model.

OpenAI (prompt caching guide): automatic for prompts of 1024 tokens or more; a hit
covers the longest previously seen prefix, counted in 128-token increments (1024,
1152, 1280, ...); a prefix is evicted after 5-10 minutes of inactivity. Requests with
a ``prompt_cache_key`` are routed (and so cached) separately from those without.

Anthropic (prompt caching docs): nothing is cached without ``cache_control``
breakpoints. A breakpoint writes the prefix ending at its block (order: tools, system,
messages) when that prefix reaches the model's minimum length. Lookups check each
breakpoint and the block boundaries up to 20 blocks before it, and the longest live
prefix is read. Everything after the read point up to the last breakpoint is written,
each stretch with the TTL of the breakpoint that ends it. An entry lives for its TTL
(5 minutes or 1 hour) and each hit refreshes it.

Both caches key entries by a digest of the prefix content with the organisation and
model folded in, so organisations never share entries, like the real services.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

OPENAI_MIN_TOKENS = 1024
OPENAI_INCREMENT = 128
ANTHROPIC_LOOKBACK_BLOCKS = 20
ANTHROPIC_TTL_S = {"5m": 300.0, "1h": 3600.0}


def _evict(entries: OrderedDict[bytes, object], max_entries: int) -> None:
    while len(entries) > max_entries:
        entries.popitem(last=False)


class PrefixCache:
    """OpenAI's automatic prefix cache over token ids."""

    def __init__(self, clock: Clock, ttl_s: float, max_entries: int) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._last_used: OrderedDict[bytes, float] = OrderedDict()

    def cached_tokens(self, namespace: bytes, ids: array[int]) -> int:
        """Tokens of ``ids`` served from cache; remembers this prompt's prefixes."""
        if len(ids) < OPENAI_MIN_TOKENS:
            return 0
        digests = self._boundary_digests(namespace, ids)
        now = self._clock()
        cached = 0
        for boundary, digest in digests:
            last_used = self._last_used.get(digest)
            if last_used is not None and now - last_used <= self.ttl_s:
                cached = boundary
        for _, digest in digests:
            self._last_used[digest] = now
            self._last_used.move_to_end(digest)
        _evict(self._last_used, self._max_entries)  # type: ignore[arg-type]
        return cached

    @staticmethod
    def _boundary_digests(namespace: bytes, ids: array[int]) -> list[tuple[int, bytes]]:
        raw = ids.tobytes()
        width = ids.itemsize
        hasher = hashlib.blake2b(namespace, digest_size=16)
        hasher.update(raw[: (OPENAI_MIN_TOKENS - OPENAI_INCREMENT) * width])
        start = OPENAI_MIN_TOKENS - OPENAI_INCREMENT
        digests = []
        for boundary in range(OPENAI_MIN_TOKENS, len(ids) + 1, OPENAI_INCREMENT):
            hasher.update(raw[start * width : boundary * width])
            digests.append((boundary, hasher.copy().digest()))
            start = boundary
        return digests

    def clear(self) -> None:
        self._last_used.clear()


@dataclass(slots=True)
class CacheBlock:
    """One prompt block: the digest of the prefix ending with it, and its breakpoint TTL."""

    digest: bytes
    ttl: str | None = None  # "5m" / "1h" when the block carries cache_control


@dataclass(slots=True)
class CacheUsage:
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


class BreakpointCache:
    """Anthropic's explicit cache_control cache."""

    def __init__(self, clock: Clock, max_entries: int) -> None:
        self._clock = clock
        self._max_entries = max_entries
        # digest -> (expires_at, ttl_s)
        self._entries: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def account(
        self, blocks: list[CacheBlock], prefix_tokens: Callable[[int], int], minimum: int
    ) -> CacheUsage:
        """Read and write the cache for one request; ``prefix_tokens(i)`` sizes blocks[: i + 1]."""
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl]
        if not breakpoints:
            return CacheUsage()
        now = self._clock()
        hit = self._longest_hit(blocks, breakpoints, now)
        usage = CacheUsage()
        previous = 0
        if hit >= 0:
            usage.read = previous = prefix_tokens(hit)
            _, ttl_s = self._entries[blocks[hit].digest]
            requested = blocks[hit].ttl
            if requested is not None:  # a hit at a 1h breakpoint keeps the entry for 1h
                ttl_s = max(ttl_s, ANTHROPIC_TTL_S[requested])
            self._store(blocks[hit].digest, now, ttl_s)
        for index in breakpoints:
            size = prefix_tokens(index)
            if index <= hit or size < minimum:
                continue  # already read, or too short to cache (silently, as documented)
            size = max(size, previous)
            if blocks[index].ttl == "1h":
                usage.write_1h += size - previous
            else:
                usage.write_5m += size - previous
            previous = size
            self._store(blocks[index].digest, now, ANTHROPIC_TTL_S[blocks[index].ttl or "5m"])
        _evict(self._entries, self._max_entries)  # type: ignore[arg-type]
        return usage

    def _longest_hit(self, blocks: list[CacheBlock], breakpoints: list[int], now: float) -> int:
        for index in range(breakpoints[-1], -1, -1):
            if not any(0 <= bp - index < ANTHROPIC_LOOKBACK_BLOCKS for bp in breakpoints):
                continue
            entry = self._entries.get(blocks[index].digest)
            if entry is not None and entry[0] > now:
                return index
        return -1

    def _store(self, digest: bytes, now: float, ttl_s: float) -> None:
        current = self._entries.get(digest)
        expires_at = now + ttl_s
        if current is not None and current[0] > expires_at:
            expires_at, ttl_s = current  # a live 1h entry is not shortened by a 5m hit
        self._entries[digest] = (expires_at, ttl_s)
        self._entries.move_to_end(digest)

    def clear(self) -> None:
        self._entries.clear()
