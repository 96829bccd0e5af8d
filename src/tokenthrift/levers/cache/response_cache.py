"""The response cache lever: exact lookup, then semantic lookup, then (on a miss) store.

Keys are computed once, at lookup, from the request *as the client asked* — before any
later lever (routing, compression) rewrites it — and kept until the pipeline stores the
answer. A broken backend (Redis down, disk full) never fails a request: it is logged and
the request goes upstream as a miss.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...types import ChatResponse, Usage
from ..base import CacheHit
from .backends import CacheBackend
from .entry import CachedAnswer, decode, encode
from .keys import CacheKey, SemanticQuery, exact_key, partition_prefix, scope_of, semantic_query
from .policy import RequestPolicy, request_policy, storable
from .semantic_layer import SemanticLayer
from .settings import CacheSettings

if TYPE_CHECKING:
    from ...pipeline.exchange import Exchange

log = logging.getLogger("tokenthrift.cache")
# Plans of requests between lookup and store; a request that fails never stores, so
# the oldest plans are dropped past this many in flight.
_MAX_PENDING = 8192
# After a backend fault, bypass the cache this long: with Redis down, every request
# would otherwise wait for its own connection timeout before going upstream.
_COOLDOWN_S = 5.0


@dataclass(slots=True)
class _Plan:
    policy: RequestPolicy
    key: CacheKey  # exact layer
    semantic_key: CacheKey | None = None  # the semantic layer's scope may differ
    query: SemanticQuery | None = None


@dataclass(slots=True)
class CacheStats:
    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0


class CacheLever:
    def __init__(self, settings: CacheSettings, backend: CacheBackend,
                 semantic: SemanticLayer | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.semantic = semantic
        self.stats = CacheStats()
        self._pending: OrderedDict[str, _Plan] = OrderedDict()
        self._down_until = 0.0

    async def lookup(self, exchange: Exchange) -> CacheHit | None:
        plan = self._plan(exchange)
        if plan is None or time.monotonic() < self._down_until:
            return None
        policy = plan.policy
        if policy.store_exact or policy.store_semantic:
            self._pending[exchange.request_id] = plan
            if len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)
        try:
            hit = await self._lookup(exchange, plan)
        except Exception as error:  # a cache fault must not fail the request
            self._fault("lookup", error)
            return None
        if hit is None:
            self.stats.misses += 1
        else:
            self._pending.pop(exchange.request_id, None)  # a hit is never stored again
        return hit

    def _plan(self, exchange: Exchange) -> _Plan | None:
        request = exchange.request
        if request is None:
            return None
        policy = request_policy(self.settings, exchange.directives, request)
        if not policy.active:
            return None
        exact_scope = scope_of(exchange.attribution, self.settings.exact.scope)
        plan = _Plan(policy, exact_key(request, exact_scope))
        if self.semantic is not None and (policy.lookup_semantic or policy.store_semantic):
            scope = scope_of(exchange.attribution, self.settings.semantic.scope)
            plan.query = semantic_query(request, scope)
            plan.semantic_key = plan.key if scope == exact_scope else exact_key(request, scope)
        return plan

    async def _lookup(self, exchange: Exchange, plan: _Plan) -> CacheHit | None:
        now = time.time()
        if plan.policy.lookup_exact:
            payload = await self.backend.get(plan.key.id)
            entry = decode(payload) if payload is not None else None
            if (entry is not None and entry.exact_until is not None and entry.exact_until > now
                    and entry.scope == plan.key.scope and entry.model == plan.key.model):
                self.stats.exact_hits += 1
                return CacheHit("exact", entry.served_response(), entry.usage)
        if not (plan.policy.lookup_semantic and self.semantic and plan.query and plan.semantic_key):
            return None
        key = plan.semantic_key
        found, cost = await self.semantic.lookup(plan.query, key.scope, key.model, now)
        if found is None:
            # The embedding was paid for even though nothing matched.
            exchange.lever_cost_usd += cost
            return None
        self.stats.semantic_hits += 1
        return CacheHit("semantic", found.entry.served_response(), found.entry.usage,
                        similarity=found.match.similarity, lookup_cost_usd=cost)

    async def store(self, exchange: Exchange, response: ChatResponse) -> None:
        plan = self._pending.pop(exchange.request_id, None)
        if plan is None or exchange.fallback_used or exchange.usage_estimated:
            # A fallback model's answer is not what was asked for; keep asking.
            return
        if not storable(response, self.settings):
            return
        try:
            await self._store(plan, response, exchange)
        except Exception as error:  # a cache fault must not fail the request
            self._fault("store", error)

    async def _store(self, plan: _Plan, response: ChatResponse, exchange: Exchange) -> None:
        now = time.time()
        policy, settings = plan.policy, self.settings
        exact_until = now + (policy.ttl_s or settings.exact.ttl_s) if policy.store_exact else None
        semantic_key = plan.semantic_key if policy.store_semantic and plan.query else None
        semantic_until = now + (policy.ttl_s or settings.semantic.ttl_s) if semantic_key else None
        usage = exchange.usage or response.usage
        if semantic_key is None or semantic_key is plan.key:
            await self._put(plan.key, response, usage, now, exact_until, semantic_until)
        else:  # the layers have different scopes: one payload each
            await self._put(plan.key, response, usage, now, exact_until, None)
            await self._put(semantic_key, response, usage, now, None, semantic_until)
        if semantic_key is not None and semantic_until is not None and plan.query and self.semantic:
            await self.semantic.add(plan.query, semantic_key.id, semantic_until)
        self.stats.stores += 1

    async def _put(self, key: CacheKey, response: ChatResponse, usage: Usage, now: float,
                   exact_until: float | None, semantic_until: float | None) -> None:
        if exact_until is None and semantic_until is None:
            return
        entry = CachedAnswer(response, usage, key.scope, key.model, now, exact_until,
                             semantic_until)
        await self.backend.put(key.id, encode(entry), scope=key.scope, model=key.model,
                               expires_at=entry.expires_at)

    async def clear(self, *, scope: str | None = None, model: str | None = None) -> int:
        """Drop stored answers of ``scope`` and/or ``model`` (all when both are None)."""
        removed = await self.backend.clear(scope=scope, model=model)
        if self.semantic is not None and (scope is not None or model is None):
            # The matcher clears by partition prefix (scope, then model); a model-only
            # clear leaves index entries whose payloads are gone — dropped lazily.
            prefix = "" if scope is None else partition_prefix(scope, model)
            await self.semantic.clear(prefix)
        return removed

    def _fault(self, operation: str, error: Exception) -> None:
        self.stats.errors += 1
        self._down_until = time.monotonic() + _COOLDOWN_S
        log.warning("response cache %s failed (%s: %s); bypassing the cache for %.0f s",
                    operation, type(error).__name__, error, _COOLDOWN_S)

    async def aclose(self) -> None:
        try:
            if self.semantic is not None:
                await self.semantic.aclose()
        finally:
            await self.backend.aclose()


__all__ = ["CacheLever", "CacheStats"]
