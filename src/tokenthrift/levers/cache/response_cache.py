"""The response cache lever: exact lookup, then semantic lookup, then (on a miss) store.

Keys are computed once, in ``answer``, from the request *as the client asked* — before
any later lever (routing, compression) rewrites it — and kept in the exchange's notes
until ``settle`` stores the answer with the usage of the request as asked (so a later
hit's baseline is that request repeated, see ``repeat``). A broken backend (Redis down,
disk full) never fails a request: it is logged and the request goes upstream as a miss.

Savings: a hit saves what the request would have cost upstream now (``unwind``); the
semantic layer's embedding calls (lookup and store) are the gateway's own spend in the
row that caused them, charged against ``semantic_cache`` (a miss has a small negative
saving with an API embedder, zero with the built-in one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from ...types import ChatResponse, Usage
from ..base import AdminEndpoint, Billable, Lever, Unwound
from .backends import CacheBackend
from .coalescing import InFlight
from .entry import CachedAnswer, decode, encode
from .keys import CacheKey, SemanticQuery, exact_key, partition_prefix, scope_of, semantic_query
from .policy import RequestPolicy, request_policy, storable
from .repeat import repeat_usage
from .semantic_layer import SemanticLayer
from .settings import CacheSettings

if TYPE_CHECKING:
    from ...accounting.settlement import Settlement
    from ...exchange import Exchange

log = logging.getLogger("tokenthrift.cache")
# After a backend fault, bypass the cache this long: with Redis down, every request
# would otherwise wait for its own connection timeout before going upstream.
_COOLDOWN_S = 5.0
# The savings column the semantic layer's embedding spend is charged to.
_EMBEDDING = "semantic_cache"


@dataclass(slots=True)
class _Plan:
    policy: RequestPolicy
    key: CacheKey  # exact layer
    semantic_key: CacheKey | None = None  # the semantic layer's scope may differ
    query: SemanticQuery | None = None
    hit: CachedAnswer | None = None
    hit_kind: str = ""
    leading: bool = False  # first of identical requests in flight (``coalescing``)
    coalesced: bool = False  # answered with the leader's answer


@dataclass(slots=True)
class CacheStats:
    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0
    coalesced: int = 0  # requests answered by an identical request's in-flight call


class CacheLever(Lever):
    name = "cache"

    def __init__(self, settings: CacheSettings, backend: CacheBackend,
                 semantic: SemanticLayer | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock  # wall-clock seconds: entries' stored_at and expiry
        self.backend = backend
        self.semantic = semantic
        self.stats = CacheStats()
        self.in_flight = InFlight()
        self._down_until = 0.0

    # -- hooks --------------------------------------------------------------------------

    async def answer(self, exchange: Exchange) -> ChatResponse | None:
        plan = self._plan(exchange)
        if plan is None or time.monotonic() < self._down_until:
            return None
        exchange.notes[self.name] = plan
        try:
            hit = await self._lookup(exchange, plan)
        except Exception as error:  # a cache fault must not fail the request
            self._fault("lookup", error)
            return None
        if hit is None:
            self.stats.misses += 1
            return None
        exchange.cache_status = "exact" if plan.hit_kind == "exact" else "semantic"
        if plan.coalesced:
            exchange.response_headers["x-tokenthrift-cache-coalesced"] = "true"
            exchange.ledger_notes[self.name] = {"coalesced": True}
        exchange.usage = Usage()
        exchange.served_model = hit.response.model
        return hit.served_response()

    async def observe(self, exchange: Exchange, response: ChatResponse | None) -> None:
        """Embed a miss's query for the store now, so its cost is in this request's row."""
        plan: _Plan | None = exchange.notes.get(self.name)
        if (plan is None or plan.hit is not None or response is None or self.semantic is None
                or plan.query is None or not plan.policy.store_semantic
                or not self._storable(exchange, response)):
            return
        try:
            exchange.add_gateway_cost(_EMBEDDING, await self.semantic.prepare(plan.query))
        except Exception as error:
            self._fault("embed", error)

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        plan: _Plan | None = exchange.notes.get(self.name)
        spent = exchange.gateway_costs.get(_EMBEDDING, Decimal(0))
        without_spend = after.gateway_usd - spent
        if plan is not None and plan.hit is not None:
            entry = plan.hit
            age = max(0.0, exchange.ts - entry.stored_at)
            provider = exchange.candidates[0].provider_name if exchange.candidates else None
            # A coalesced request would have been sent alongside the leader, so it would
            # have cost what the leader's call cost as asked; a stored answer's repeat
            # may find the provider's prompt cache warm (``repeat``).
            usage = entry.usage if plan.coalesced else repeat_usage(entry.usage, entry.protocol,
                                                                    age)
            before = Billable(model=exchange.baseline_model or entry.model, usage=usage,
                              protocol=entry.protocol, provider=provider,
                              gateway_usd=without_spend)
            return Unwound(f"{plan.hit_kind}_cache", before, f"{plan.hit_kind} hit")
        if spent:
            return Unwound(_EMBEDDING, replace(after, gateway_usd=without_spend),
                           "embedding for the semantic cache")
        return None

    async def settle(self, exchange: Exchange, settlement: Settlement) -> None:
        plan: _Plan | None = exchange.notes.pop(self.name, None)
        if plan is None:
            return
        response = exchange.response
        try:
            if (plan.hit is None and response is not None and exchange.status == 200
                    and self._storable(exchange, response)):
                as_asked = settlement.baseline
                usage = (as_asked.usage if as_asked is not None
                         else (exchange.usage or response.usage))
                await self._store(plan, response, usage, exchange)
        except Exception as error:  # a cache fault must not fail the request
            self._fault("store", error)
        finally:
            if plan.leading:  # failed, not storable or a hit: the waiters go on their own
                self.in_flight.release(plan.key.id, None)

    def admin_endpoints(self) -> list[AdminEndpoint]:
        from .admin_api import endpoints

        return endpoints(self)

    # -- lookup and store ---------------------------------------------------------------

    def _plan(self, exchange: Exchange) -> _Plan | None:
        request = exchange.original_request
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

    def _storable(self, exchange: Exchange, response: ChatResponse) -> bool:
        # A fallback model's answer is not what was asked for; keep asking.
        return (not exchange.fallback_used and not exchange.usage_estimated
                and storable(response, self.settings))

    async def _lookup(self, exchange: Exchange, plan: _Plan) -> CachedAnswer | None:
        now = self._clock()
        if plan.policy.lookup_exact:
            payload = await self.backend.get(plan.key.id)
            entry = decode(payload) if payload is not None else None
            if (entry is not None and entry.exact_until is not None and entry.exact_until > now
                    and entry.scope == plan.key.scope and entry.model == plan.key.model):
                self.stats.exact_hits += 1
                plan.hit, plan.hit_kind = entry, "exact"
                return entry
        if plan.policy.lookup_exact or plan.policy.store_exact:
            entry = await self._coalesce(exchange, plan)
            if entry is not None:
                return entry
        if not (plan.policy.lookup_semantic and self.semantic and plan.query and plan.semantic_key):
            return None
        key = plan.semantic_key
        found, cost = await self.semantic.lookup(plan.query, key.scope, key.model, now)
        exchange.add_gateway_cost(_EMBEDDING, cost)
        if found is None:
            return None
        self.stats.semantic_hits += 1
        plan.hit, plan.hit_kind = found.entry, "semantic"
        exchange.response_headers["x-tokenthrift-cache-similarity"] = (
            f"{found.match.similarity:.4f}")
        return found.entry

    async def _coalesce(self, exchange: Exchange, plan: _Plan) -> CachedAnswer | None:
        """Wait for an identical request in flight (see ``coalescing``); else lead this key
        when this request's answer will be stored. No await between the check and the
        registration, so two identical misses never both lead."""
        future = self.in_flight.leader(plan.key.id)
        if future is None:
            if plan.policy.store_exact:
                plan.leading = self.in_flight.lead(plan.key.id)
            return None
        if not plan.policy.lookup_exact:
            return None  # refresh / no-cache: wants its own call
        remaining = (None if exchange.deadline is None
                     else exchange.deadline - time.perf_counter())
        payload = await self.in_flight.wait(future, remaining)
        entry = decode(payload) if payload is not None else None
        if entry is None:
            return None
        self.stats.coalesced += 1
        plan.hit, plan.hit_kind, plan.coalesced = entry, "exact", True
        return entry

    async def _store(self, plan: _Plan, response: ChatResponse, usage: Usage,
                     exchange: Exchange) -> None:
        now = self._clock()
        policy, settings = plan.policy, self.settings
        exact_until = now + (policy.ttl_s or settings.exact.ttl_s) if policy.store_exact else None
        semantic_key = plan.semantic_key if policy.store_semantic and plan.query else None
        semantic_until = now + (policy.ttl_s or settings.semantic.ttl_s) if semantic_key else None
        protocol = exchange.provider_protocol
        shared = semantic_key is None or semantic_key is plan.key
        exact = self._entry(plan.key, response, usage, now, exact_until,
                            semantic_until if shared else None, protocol)
        payload = encode(exact) if exact is not None else None
        if plan.leading:
            # Waiters get the answer now, before the backend writes (which may be slow
            # or fail: the answer is good either way).
            self.in_flight.release(plan.key.id, payload)
        tags = policy.tags
        if exact is not None and payload is not None:
            await self.backend.put(plan.key.id, payload, scope=plan.key.scope,
                                   model=plan.key.model, expires_at=exact.expires_at, tags=tags)
        if not shared and semantic_key is not None:  # the layers have different scopes
            entry = self._entry(semantic_key, response, usage, now, None, semantic_until,
                                protocol)
            if entry is not None:
                await self.backend.put(semantic_key.id, encode(entry), scope=semantic_key.scope,
                                       model=semantic_key.model, expires_at=entry.expires_at,
                                       tags=tags)
        if semantic_key is not None and semantic_until is not None and plan.query and self.semantic:
            await self.semantic.add(plan.query, semantic_key.id, semantic_until)
        self.stats.stores += 1

    @staticmethod
    def _entry(key: CacheKey, response: ChatResponse, usage: Usage, now: float,
               exact_until: float | None, semantic_until: float | None,
               protocol: str | None) -> CachedAnswer | None:
        if exact_until is None and semantic_until is None:
            return None
        return CachedAnswer(response, usage, key.scope, key.model, now, exact_until,
                            semantic_until, protocol)  # type: ignore[arg-type]

    async def clear(self, *, scope: str | None = None, model: str | None = None,
                    tag: str | None = None) -> int:
        """Drop stored answers of ``scope``, ``model`` and/or ``tag`` (all when none is
        given); return how many payloads were removed."""
        removed = await self.backend.clear(scope=scope, model=model, tag=tag)
        if self.semantic is not None and tag is None and (scope is not None or model is None):
            # The matcher clears by partition prefix (scope, then model); a model-only or
            # tag clear leaves index entries whose payloads are gone — dropped lazily.
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
