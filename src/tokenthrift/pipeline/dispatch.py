"""Sending a request upstream: the exchange's candidates in order (the route's model,
then its fallbacks, as the levers left them), each with retries and backoff honouring
``retry-after``, all within the request's deadline.

Retry rule (the official OpenAI and Anthropic SDKs retry the same statuses): 408, 409,
429 and every 5xx are retried with exponential backoff and jitter; a connection cut or
timeout counts as 5xx. 400, 404, 413 and 422 say the request itself is wrong, so neither
a retry nor a fallback would help: they go straight back to the client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..config import GatewayConfig
from ..errors import GatewayError, InvalidUpstreamUsage, StreamInterrupted, UpstreamError
from ..exchange import Exchange
from ..providers.base import Provider
from ..providers.registry import ProviderSet
from ..routes import Candidate

T = TypeVar("T")
UpstreamCall = Callable[[Provider, str, float], Awaitable[T]]

_NO_FALLBACK = frozenset({400, 404, 413, 422})
DEADLINE = "deadline_exceeded"


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        providers: ProviderSet,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.providers = providers
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()

    async def run(self, exchange: Exchange, call: UpstreamCall[T]) -> T:
        chain = exchange.candidates
        if not chain:
            raise GatewayError(
                "not_found", f"The model `{exchange.requested_model}` does not exist on this "
                "gateway.", param="model", code="model_not_found")
        last_error: UpstreamError | None = None
        for position, candidate in enumerate(chain):
            provider = self.providers.get(candidate.provider_name, candidate.upstream_model)
            exchange.serve_with(candidate.upstream_model, candidate.provider_name, provider.protocol,
                                fallback=position > 0)
            try:
                return await self._with_retries(exchange, provider, candidate, call)
            except InvalidUpstreamUsage:
                raise  # the call happened (and may be billed): never send it again
            except UpstreamError as error:
                last_error = error
                if error.status in _NO_FALLBACK or error.code == DEADLINE:
                    break
        assert last_error is not None
        raise client_facing(last_error)

    def _attempt_timeout(self, exchange: Exchange, candidate: Candidate) -> float:
        timeout = candidate.route.timeout_s or self.config.timeout_s
        if exchange.deadline is None:
            return timeout
        left = exchange.deadline - self._clock()
        if left <= 0:
            raise UpstreamError("the request's deadline passed before the upstream answered",
                                status=504, kind="upstream_timeout", code=DEADLINE)
        return min(timeout, left)

    async def _with_retries(self, exchange: Exchange, provider: Provider, candidate: Candidate,
                            call: UpstreamCall[T]) -> T:
        retry = self.config.retry
        for attempt in range(retry.max_retries + 1):
            timeout = self._attempt_timeout(exchange, candidate)
            started = self._clock()
            try:
                return await call(provider, candidate.upstream_model, timeout)
            except StreamInterrupted as cut:
                error = UpstreamError(f"upstream connection cut: {cut}", status=502)
            except UpstreamError as upstream:
                error = upstream
            finally:
                exchange.upstream_ms += (self._clock() - started) * 1000.0
            if not error.retryable or attempt == retry.max_retries:
                raise error
            if error.retry_after is not None and error.retry_after > retry.max_retry_after_s:
                raise error  # waiting that long is worse than trying the fallback now
            delay = self._backoff(attempt, error.retry_after)
            if exchange.deadline is not None and self._clock() + delay >= exchange.deadline:
                raise error  # no time left to wait and try again
            exchange.retries += 1
            await self._sleep(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        retry = self.config.retry
        delay = min(retry.max_backoff_s, retry.backoff_s * (2**attempt))
        delay *= 0.5 + self._rng.random() / 2  # jitter: replicas must not retry in lockstep
        return max(delay, retry_after or 0.0)


def client_facing(error: UpstreamError) -> GatewayError:
    """The error the client sees once retries and fallbacks are exhausted."""
    if error.status in _NO_FALLBACK:
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
                        code=error.code or "upstream_error")
