"""Sending a request upstream: the configured route, retries with backoff honouring
``retry-after``, then ordered fallbacks."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..config import GatewayConfig, ModelRoute
from ..errors import GatewayError, StreamInterrupted, UpstreamError
from ..providers.base import Provider
from ..providers.registry import ProviderSet
from .exchange import Exchange

T = TypeVar("T")
UpstreamCall = Callable[[Provider, str, float], Awaitable[T]]

# Client errors from the upstream say the request itself is wrong: retrying or
# falling back would fail the same way (and cost money), so they go straight back.
_CLIENT_ERRORS = frozenset({400, 404, 409, 413, 422})


@dataclass(slots=True)
class Candidate:
    route: ModelRoute
    upstream_model: str
    provider_name: str


def route_candidates(config: GatewayConfig, model: str) -> list[Candidate]:
    """The primary upstream model for ``model`` followed by its configured fallbacks."""
    route = config.route_for(model)
    if route is None:
        raise GatewayError(
            "not_found", f"The model `{model}` does not exist on this gateway.",
            param="model", code="model_not_found",
        )
    chain = [Candidate(route, route.upstream_model or model, route.provider)]
    for name in route.fallbacks:
        fallback = config.route_for(name)
        if fallback is None:
            continue  # validated at start-up; a dangling name is skipped, not fatal
        chain.append(Candidate(fallback, fallback.upstream_model or name, fallback.provider))
    return chain


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        providers: ProviderSet,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.providers = providers
        self._sleep = sleep
        self._rng = random.Random()

    def candidates(self, model: str) -> list[Candidate]:
        return route_candidates(self.config, model)

    async def run(self, exchange: Exchange, call: UpstreamCall[T]) -> T:
        last_error: UpstreamError | None = None
        chain = self.candidates(exchange.requested_model)
        # The baseline is priced on what was asked for: the route's primary model.
        exchange.baseline_model = chain[0].upstream_model
        for position, candidate in enumerate(chain):
            provider = self.providers.get(candidate.provider_name, candidate.upstream_model)
            timeout = candidate.route.timeout_s or self.config.timeout_s
            exchange.serve_with(candidate.upstream_model, candidate.provider_name, provider.protocol,
                                fallback=position > 0)
            try:
                return await self._with_retries(exchange, provider, candidate, timeout, call)
            except UpstreamError as error:
                last_error = error
                if error.status in _CLIENT_ERRORS:
                    break
        assert last_error is not None
        raise client_facing(last_error)

    async def _with_retries(
        self,
        exchange: Exchange,
        provider: Provider,
        candidate: Candidate,
        timeout: float,
        call: UpstreamCall[T],
    ) -> T:
        retry = self.config.retry
        for attempt in range(retry.max_retries + 1):
            started = time.perf_counter()
            try:
                return await call(provider, candidate.upstream_model, timeout)
            except StreamInterrupted as cut:
                error = UpstreamError(f"upstream connection cut: {cut}", status=502)
            except UpstreamError as upstream:
                error = upstream
            finally:
                exchange.upstream_ms += (time.perf_counter() - started) * 1000.0
            if not error.retryable or attempt == retry.max_retries:
                raise error
            if error.retry_after is not None and error.retry_after > retry.max_retry_after_s:
                raise error  # waiting that long is worse than trying the fallback now
            exchange.retries += 1
            await self._sleep(self._backoff(attempt, error.retry_after))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        retry = self.config.retry
        delay = min(retry.max_backoff_s, retry.backoff_s * (2**attempt))
        delay *= 0.5 + self._rng.random() / 2  # jitter: replicas must not retry in lockstep
        return max(delay, retry_after or 0.0)


def client_facing(error: UpstreamError) -> GatewayError:
    """The error the client sees once retries and fallbacks are exhausted."""
    if error.status in _CLIENT_ERRORS:
        kind = {404: "not_found", 413: "request_too_large"}.get(error.status, "invalid_request")
        return GatewayError(kind, error.message, status=error.status, code=error.code)  # type: ignore[arg-type]
    if error.status == 429:
        return GatewayError(
            "rate_limit", f"upstream rate limit: {error.message}",
            code="rate_limit_exceeded", retry_after=error.retry_after,
        )
    if error.kind == "upstream_timeout" or error.status in (408, 504):
        return GatewayError("upstream_timeout", error.message)
    return GatewayError("upstream", f"upstream error ({error.status}): {error.message}",
                        code="upstream_error")
