"""The response cache's side of semantic matching: the matcher (another module, see
``semantic.protocol``) finds an entry id for (partition, text); the answer itself lives
in the cache backend under that id, with its own expiry.

Matcher calls embed text — blocking CPU work — so they run on a small dedicated thread
pool, never on the event loop. A match whose payload has expired or was cleared is
removed from the matcher and the next best is tried, so clearing the backend alone is
enough to invalidate semantic entries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from ...config import ConfigError
from .backends import CacheBackend
from .entry import CachedAnswer, decode
from .keys import SemanticQuery
from .semantic.protocol import SemanticMatch, SemanticMatcher
from .settings import CacheSettings

log = logging.getLogger("tokenthrift.cache")
T = TypeVar("T")
# Stale matches skipped per lookup before giving up (each costs one matcher call).
_STALE_RETRIES = 3
# Embedding saturates cores on its own (the ONNX embedder uses 2 threads per call);
# more workers would only queue inside the runtime.
_WORKERS = 2


@dataclass(slots=True)
class SemanticHit:
    entry: CachedAnswer
    match: SemanticMatch
    cost_usd: Decimal


def load_matcher(settings: CacheSettings) -> SemanticMatcher:
    """The matcher for ``cache.semantic``, or a ConfigError saying why there is none."""
    from . import semantic

    factory = getattr(semantic, "build_matcher", None)
    if factory is None:
        raise ConfigError("cache.semantic.enabled: this build has no semantic matcher "
                          "(tokenthrift.levers.cache.semantic.build_matcher); disable it")
    try:
        matcher: SemanticMatcher = factory(settings.matcher, settings.data_dir)
    except ValueError as exc:  # e.g. no shipped calibration for this embedder
        raise ConfigError(str(exc)) from None
    if settings.backend == "redis" and settings.redis_url:
        # Payloads are shared by every replica: share the index that points at them too.
        from .semantic.matcher import LocalMatcher
        from .semantic.shared import SharedIndex

        if isinstance(matcher, LocalMatcher):
            return SharedIndex(matcher, settings.redis_url, settings.redis_prefix)
    return matcher


class SemanticLayer:
    def __init__(self, matcher: SemanticMatcher, backend: CacheBackend) -> None:
        self.matcher = matcher
        self.backend = backend
        self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="tokenthrift-embed")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def lookup(self, query: SemanticQuery, scope: str, model: str,
                     now: float) -> tuple[SemanticHit | None, Decimal]:
        """The hit (if any) and what the lookups cost (an API embedder's price)."""
        cost = Decimal(0)
        for _ in range(_STALE_RETRIES):
            found = await self._run(self.matcher.search, query.partition, query.text)
            cost += found.cost_usd or 0  # None: an API embedder whose price is unknown
            match = found.match
            if match is None:
                return None, cost
            payload = await self.backend.get(match.entry_id)
            entry = decode(payload) if payload is not None else None
            # The scope/model check is defence in depth: the partition already holds both.
            if (entry is not None and entry.semantic_until is not None
                    and entry.semantic_until > now and entry.scope == scope
                    and entry.model == model):
                return SemanticHit(entry, match, cost), cost
            await self._run(self.matcher.remove, match.entry_id)
        return None, cost

    async def prepare(self, query: SemanticQuery) -> Decimal:
        """Embed the query for a later ``add``; what it cost (an unknown price counts 0)."""
        return await self._run(self.matcher.prepare, query.text) or Decimal(0)

    async def add(self, query: SemanticQuery, entry_id: str, expires_at: float) -> None:
        await self._run(self.matcher.add, query.partition, query.text, entry_id, expires_at)

    async def clear(self, partition_prefix: str) -> int:
        return await self._run(self.matcher.clear, partition_prefix)

    async def aclose(self) -> None:
        # Persist the index so the embedded default survives a restart.
        def close() -> None:
            try:
                self.matcher.save()
            finally:
                self.matcher.close()

        await self._run(close)
        self._pool.shutdown(wait=True)
