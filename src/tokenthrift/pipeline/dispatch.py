"""Sending a request upstream: the exchange's candidates in order (the route's model,
then its fallbacks, as the levers left them), each with retries and backoff honouring
``retry-after``, all within the request's deadline.

Retry rule (the official OpenAI and Anthropic SDKs retry the same statuses): 408, 409,
429 and every 5xx are retried with exponential backoff and jitter; a connection cut or
timeout counts as 5xx. 400, 404, 413 and 422 say the request itself is wrong, so neither
a retry nor a fallback would help: they go straight back to the client.

The candidates' order comes from ``deployments.Deployments``: each pool of deployments
of one model name balanced (weight or least in flight), deployments cooling down after
repeated failures moved to the end. Serving from another deployment of the requested
model is not a fallback (same model as asked); serving from a fallback model is.

A cascade (``exchange.cascade``, set by routing for a non-stream chat request): the
candidates are its first step; when the step's answer fails the cascade's check, or
every candidate of the step failed upstream, dispatch records the rejected answer and
tries the next step. The last step's result (or error) is the request's.
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
from ..routes import Candidate, Cascade, RejectedAnswer
from ..types import ChatResponse, Usage
from .deployments import Deployments

T = TypeVar("T")
UpstreamCall = Callable[[Provider, str, float], Awaitable[T]]

_NO_FALLBACK = frozenset({400, 404, 413, 422})
# Statuses that say the deployment (not the request) is failing: they count toward its cooldown.
_DEPLOYMENT_FAULT = frozenset({401, 403, 408, 429})
DEADLINE = "deadline_exceeded"


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        providers: ProviderSet,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
        deployments: Deployments | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.deployments = deployments or Deployments(config)
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        # Streams still running, by request id: their deployment stays "in flight".
        self._held: dict[str, Candidate] = {}

    async def run(self, exchange: Exchange, call: UpstreamCall[T], *, hold: bool = False) -> T:
        """The first answer of the candidates in order (and of a cascade's steps).

        ``hold``: the call opens a stream; its deployment stays in flight until
        ``release(exchange)``."""
        chain = exchange.candidates
        if not chain:
            raise GatewayError(
                "not_found", f"The model `{exchange.requested_model}` does not exist on this "
                "gateway.", param="model", code="model_not_found")
        cascade = exchange.cascade
        if cascade is None:
            return await self._serve(exchange, chain, call, hold)
        return await self._cascade(exchange, cascade, call, hold)

    def release(self, exchange: Exchange) -> None:
        """A held stream ended: its deployment is no longer in flight; a stream cut by the
        upstream (status 502) counts as a failure of the deployment."""
        candidate = self._held.pop(exchange.request_id, None)
        if candidate is None:
            return
        if exchange.status == 502:
            self.deployments.record(candidate, probe=False, failed=True)
        self.deployments.done(candidate)

    async def _serve(self, exchange: Exchange, chain: list[Candidate], call: UpstreamCall[T],
                     hold: bool) -> T:
        last_error: UpstreamError | None = None
        asked = chain[0].pool
        for candidate in self.deployments.order(chain):
            provider = self.providers.get(candidate.provider_name, candidate.upstream_model)
            exchange.serve_with(candidate.upstream_model, candidate.provider_name, provider.protocol,
                                fallback=candidate.pool != asked)
            try:
                result = await self._with_retries(exchange, provider, candidate, call)
            except InvalidUpstreamUsage:
                raise  # the call happened (and may be billed): never send it again
            except UpstreamError as error:
                last_error = error
                if error.status in _NO_FALLBACK or error.code == DEADLINE:
                    break
                continue
            if hold:
                self._held[exchange.request_id] = candidate
            else:
                self.deployments.done(candidate)
            return result
        assert last_error is not None
        raise client_facing(last_error) from last_error

    async def _cascade(self, exchange: Exchange, cascade: Cascade, call: UpstreamCall[T],
                       hold: bool) -> T:
        steps = [exchange.candidates, *cascade.steps]
        for number, chain in enumerate(steps, start=1):
            exchange.candidates = chain  # settlement undoes a fallback to this step's model
            cascade.steps_taken = number
            last = number == len(steps)
            try:
                result = await self._serve(exchange, chain, call, hold and last)
            except InvalidUpstreamUsage:
                raise
            except GatewayError as error:
                out_of_time = exchange.deadline is not None and self._clock() >= exchange.deadline
                if last or out_of_time or error.status in _NO_FALLBACK:
                    raise
                upstream = error.__cause__ if isinstance(error.__cause__, UpstreamError) else error
                self._reject(exchange, cascade, None, f"error:{upstream.status}")
                continue
            if last or not isinstance(result, ChatResponse):
                return result
            reason = cascade.check(result)
            if reason is None:
                return result
            self._reject(exchange, cascade, result, reason)
        raise AssertionError("unreachable")

    @staticmethod
    def _reject(exchange: Exchange, cascade: Cascade, response: ChatResponse | None,
                reason: str) -> None:
        """Note a step that did not give the answer: a rejected answer (billed) or an
        upstream failure (nothing billed)."""
        cascade.rejected.append(RejectedAnswer(
            exchange.served_model or "", exchange.provider or "",
            exchange.provider_protocol or "openai",
            response.usage if response is not None else Usage(), reason))

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
        """The candidate's answer; on success its deployment is left in flight (the
        caller calls ``deployments.done``), on failure it is not."""
        retry = self.config.retry
        deployments = self.deployments
        for attempt in range(retry.max_retries + 1):
            timeout = self._attempt_timeout(exchange, candidate)
            started = self._clock()
            probe = deployments.started(candidate)
            try:
                result = await call(provider, candidate.upstream_model, timeout)
            except StreamInterrupted as cut:
                error = UpstreamError(f"upstream connection cut: {cut}", status=502)
            except UpstreamError as upstream:
                error = upstream
            except BaseException:
                deployments.record(candidate, probe=probe, failed=None)
                deployments.done(candidate)
                raise
            else:
                deployments.record(candidate, probe=probe, failed=False)
                return result
            finally:
                exchange.upstream_ms += (self._clock() - started) * 1000.0
            deployments.record(candidate, probe=probe, failed=_deployment_fault(error))
            deployments.done(candidate)
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


def _deployment_fault(error: UpstreamError) -> bool | None:
    if isinstance(error, InvalidUpstreamUsage) or error.code == DEADLINE:
        return None  # the upstream answered / the request ran out of time
    if error.status in _DEPLOYMENT_FAULT or error.status >= 500 or error.kind == "upstream_timeout":
        return True
    return None


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
