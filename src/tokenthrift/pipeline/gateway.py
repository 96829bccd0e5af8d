"""The request flow: the levers' hooks around dispatch, then accounting and the ledger.

``Gateway`` is the in-process library entry point as well as what the HTTP server
calls; it knows nothing about HTTP or wire formats, and no lever by name: it runs the
hooks of ``levers.base.Lever`` over the levers it is given, in their order. It is built
by the composition root (``tokenthrift.assembly.build_gateway``), which injects the
levers, providers, accountant and ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..accounting.settlement import Accountant, Settlement
from ..config import GatewayConfig
from ..errors import GatewayError, InvalidUpstreamUsage, StreamInterrupted, UpstreamError
from ..exchange import Exchange
from ..ledger.base import Ledger
from ..ledger.writer import LedgerWriter
from ..levers.base import Lever, overrides
from ..providers.base import Provider, Shaper
from ..providers.registry import ProviderSet
from ..routes import Candidate, route_candidates
from ..tokens import count_chat, count_text
from ..types import (
    Attribution,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    Usage,
    WireFormat,
)
from ..wire.accumulate import StreamAccumulator
from .dispatch import Dispatcher
from .replay import aiter_events as _aiter
from .replay import response_events

if TYPE_CHECKING:
    from ..ledger.record import LedgerRecord

log = logging.getLogger("tokenthrift.pipeline")


class Observer(Protocol):
    """Sees every finished request after its ledger row is submitted (metrics, traces).

    Called on the event loop for every request: it must be cheap and must not block."""

    def record(self, exchange: Exchange, settlement: Settlement, record: LedgerRecord) -> None: ...


class Forwarder(Protocol):
    """Sends one attempt to a provider in place of the provider's own protocol call: an
    endpoint whose wire format some upstreams speak natively (the Responses API) forwards
    the client's body there and translates for the rest. Dispatch (candidates, retries,
    fallbacks) and every lever hook run as for any request."""

    async def complete(self, provider: Provider, request: ChatRequest, model: str, *,
                       timeout: float, shape: Shaper | None) -> ChatResponse: ...

    async def open_stream(self, provider: Provider, request: ChatRequest, model: str, *,
                          timeout: float, shape: Shaper | None) -> AsyncIterator[StreamEvent]: ...


@dataclass(slots=True)
class Completion:
    response: ChatResponse
    exchange: Exchange
    settlement: Settlement
    headers: dict[str, str] = field(default_factory=dict)


class CompletionStream:
    """A stream being relayed: iterate ``events``; accounting happens when it ends."""

    def __init__(self, gateway: Gateway, exchange: Exchange, first: StreamEvent,
                 upstream: AsyncIterator[StreamEvent]) -> None:
        self.exchange = exchange
        self.settlement: Settlement | None = None
        self._gateway = gateway
        self._first = first
        self._upstream = upstream
        self._started = False
        self.accumulator = StreamAccumulator()

    @property
    def headers(self) -> dict[str, str]:
        """Headers known before the first byte (cost is only known at the end)."""
        exchange = self.exchange
        return {
            "x-tokenthrift-request-id": exchange.request_id,
            "x-tokenthrift-served-model": exchange.served_model or "",
            "x-tokenthrift-cache": exchange.cache_status,
            **exchange.response_headers,
        }

    async def abandon(self) -> None:
        """Settle a stream whose events were never read (the client left before the
        first byte): the upstream call was made, so it gets its ledger row and its
        budget reservation is reconciled instead of waiting for the TTL."""
        if self._started:
            return
        self._started = True
        self.exchange.status, self.exchange.error_class = 499, "client_disconnected"
        await _close(self._upstream)
        self.settlement = await self._gateway._finish_stream(self)

    async def events(self) -> AsyncIterator[StreamEvent]:
        if self._started:
            return
        self._started = True
        exchange = self.exchange
        try:
            self.accumulator.add(self._first)
            yield self._first
            while True:
                waited = time.perf_counter()
                try:
                    event = await anext(self._upstream)
                except StopAsyncIteration:
                    break
                finally:
                    exchange.upstream_ms += (time.perf_counter() - waited) * 1000.0
                self.accumulator.add(event)
                yield event
        except (StreamInterrupted, UpstreamError) as exc:
            exchange.status, exchange.error_class = 502, "stream_interrupted"
            raise StreamInterrupted(str(exc)) from exc
        except BaseException:
            # The client went away (generator closed / task cancelled) mid-stream.
            exchange.status, exchange.error_class = 499, "client_disconnected"
            raise
        finally:
            await _close(self._upstream)
            self.settlement = await self._gateway._finish_stream(self)


async def _close(iterator: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        # Closing a broken upstream must not mask the real outcome.
        with contextlib.suppress(Exception):
            await aclose()


class Gateway:
    def __init__(self, config: GatewayConfig, *, levers: Sequence[Lever], providers: ProviderSet,
                 accountant: Accountant, ledger: Ledger, writer: LedgerWriter,
                 observers: Sequence[Observer] = ()) -> None:
        self.config = config
        self.observers: tuple[Observer, ...] = tuple(observers)
        self.levers: tuple[Lever, ...] = tuple(levers)
        self.providers = providers
        self.accountant = accountant
        self.ledger = ledger
        self.writer = writer
        self.dispatcher = Dispatcher(config, providers)
        # Per hook, the levers that implement it (the hot path skips no-op calls).
        self._hooks = {hook: tuple(lever for lever in self.levers if overrides(lever, hook))
                       for hook in ("resolve", "admit", "answer", "rewrite", "shape", "observe",
                                    "settle")}

    def lever(self, name: str) -> Lever | None:
        """The lever named ``name`` (its config section), if this gateway runs it."""
        return next((lever for lever in self.levers if lever.name == name), None)

    @property
    def emulator(self) -> object | None:
        return self.providers.emulator

    def exchange(self, request: ChatRequest, attribution: Attribution, *, endpoint: str,
                 started: float | None = None, request_id: str | None = None) -> Exchange:
        exchange = Exchange(request=request, attribution=attribution, requested_model=request.model,
                            wire_format=request.source_format, endpoint=endpoint,
                            stream=request.stream)
        if started is not None:
            exchange.started = started
        if request_id is not None:
            exchange.request_id = request_id
        self._resolve(exchange)
        return exchange

    def _resolve(self, exchange: Exchange) -> None:
        """The candidates as asked; an unknown model is refused at dispatch (after auth)."""
        exchange.candidates = self._candidates(exchange.requested_model)
        if exchange.candidates:
            exchange.baseline_model = exchange.candidates[0].upstream_model
        for lever in self._hooks["resolve"]:
            lever.resolve(exchange)
        exchange.deadline = exchange.started + (self.config.deadline_s or self.config.timeout_s)

    def _candidates(self, model: str) -> list[Candidate]:
        try:
            return route_candidates(self.config, model)
        except GatewayError:
            return []

    # -- chat -------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, attribution: Attribution | None = None, *,
                       exchange: Exchange | None = None, client_key: str | None = None,
                       forward: Forwarder | None = None) -> Completion:
        exchange = exchange or self.exchange(request, attribution or Attribution(),
                                             endpoint=_endpoint(request.source_format))
        if client_key is not None:
            exchange.client_key = client_key
        await self._admit(exchange)

        async def call(provider: Provider, model: str, timeout: float) -> ChatResponse:
            if forward is not None:
                return await forward.complete(provider, exchange.request or request, model,
                                              timeout=timeout, shape=self._shaper(exchange))
            return await provider.complete(exchange.request or request, model, timeout=timeout,
                                           shape=self._shaper(exchange))

        try:
            response = await self._answer(exchange)
            if response is None:
                await self._rewrite(exchange)
                response = await self.dispatcher.run(exchange, call)
                exchange.usage = response.usage
        except BaseException as error:
            await self._fail(exchange, error)
            raise
        exchange.response = response
        exchange.finish()
        settlement = await self._settle(exchange)
        return Completion(response, exchange, settlement,
                          self.accountant.headers(exchange, settlement))

    async def stream(self, request: ChatRequest, attribution: Attribution | None = None, *,
                     exchange: Exchange | None = None, client_key: str | None = None,
                     forward: Forwarder | None = None) -> CompletionStream:
        exchange = exchange or self.exchange(request, attribution or Attribution(),
                                             endpoint=_endpoint(request.source_format))
        if client_key is not None:
            exchange.client_key = client_key
        await self._admit(exchange)

        async def call(provider: Provider, model: str, timeout: float
                       ) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
            sent, shape = exchange.request or request, self._shaper(exchange)
            if forward is None:
                events = await provider.open_stream(sent, model, timeout=timeout, shape=shape)
            else:
                events = await forward.open_stream(provider, sent, model, timeout=timeout,
                                                   shape=shape)
            try:
                # Wait for the first event here, so a stream that dies (or stalls) before
                # sending anything is retried or falls back while the client has seen
                # nothing. The timeout covers transports without a socket read timeout.
                return await asyncio.wait_for(anext(events), timeout), events
            except StopAsyncIteration:
                raise StreamInterrupted("upstream stream was empty") from None
            except TimeoutError:
                await _close(events)
                raise UpstreamError(f"upstream sent nothing for {timeout:g}s", status=504,
                                    kind="upstream_timeout") from None

        try:
            hit = await self._answer(exchange)
            if hit is not None:
                exchange.response = hit
                replay = response_events(hit)
                first, upstream = replay[0], _aiter(replay[1:])
            else:
                await self._rewrite(exchange)
                first, upstream = await self.dispatcher.run(exchange, call, hold=True)
        except BaseException as error:
            await self._fail(exchange, error)
            raise
        return CompletionStream(self, exchange, first, upstream)

    async def _finish_stream(self, stream: CompletionStream) -> Settlement:
        exchange = stream.exchange
        self.dispatcher.release(exchange)  # its deployment is no longer in flight
        if exchange.cache_status == "miss":
            usage = stream.accumulator.usage
            if usage is None or exchange.status != 200:
                usage = self._estimate_usage(exchange, stream.accumulator)
                exchange.usage_estimated = True
            exchange.usage = usage
            if exchange.status == 200 and not exchange.usage_estimated:
                exchange.response = stream.accumulator.response()
        exchange.finish()
        return await self._settle(exchange)

    def _estimate_usage(self, exchange: Exchange, accumulator: StreamAccumulator) -> Usage:
        """Count locally when the upstream's final usage never arrived (stream cut)."""
        request = exchange.request
        model = exchange.served_model or exchange.requested_model
        if request is None:
            return Usage()
        prompt = count_chat([(m.role, m.text) for m in request.messages], model)
        output = count_text(accumulator.text_so_far, model)
        known = accumulator.usage
        return Usage(input_tokens=known.input_tokens if known else prompt, output_tokens=output)

    # -- other endpoints ----------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest, attribution: Attribution | None = None, *,
                    wire_format: WireFormat = "openai", started: float | None = None,
                    client_key: str | None = None, request_id: str | None = None
                    ) -> tuple[EmbeddingResponse, dict[str, str]]:
        exchange = Exchange(request=None, attribution=attribution or Attribution(),
                            requested_model=request.model, wire_format=wire_format,
                            endpoint="embeddings", client_key=client_key)
        if started is not None:
            exchange.started = started
        if request_id is not None:
            exchange.request_id = request_id
        self._resolve(exchange)
        await self._admit(exchange)

        async def call(provider: Provider, model: str, timeout: float) -> EmbeddingResponse:
            return await provider.embed(request, model, timeout=timeout)

        try:
            response = await self.dispatcher.run(exchange, call)
        except BaseException as error:
            await self._fail(exchange, error)
            raise
        exchange.usage = Usage(input_tokens=response.input_tokens)
        exchange.finish()
        settlement = await self._settle(exchange)
        return response, self.accountant.headers(exchange, settlement)

    async def count_tokens(self, request: ChatRequest, *, client_key: str | None = None) -> int:
        """Prompt tokens as the serving model counts them: authenticated like any call,
        but free, so no reservation and no ledger row."""
        exchange = self.exchange(request, Attribution(), endpoint="count_tokens")
        exchange.client_key = client_key
        await self._authenticate(exchange)

        async def call(provider: Provider, model: str, timeout: float) -> int:
            return await provider.count_tokens(request, model, timeout=timeout)

        return await self.dispatcher.run(exchange, call)

    async def authenticate(self, client_key: str | None) -> None:
        """Check a caller's key as the levers admit a free call (a read of stored
        responses, jobs…): no reservation, no ledger row; raises ``GatewayError``."""
        await self._authenticate(Exchange(
            request=None, attribution=Attribution(), requested_model="", wire_format="openai",
            endpoint="lookup", client_key=client_key))

    async def list_models(self, *, client_key: str | None = None) -> list[str]:
        exchange = Exchange(request=None, attribution=Attribution(), requested_model="",
                            wire_format="openai", endpoint="models", client_key=client_key)
        await self._authenticate(exchange)
        names = [route.name for route in self.config.models if "*" not in route.name]
        for route in self.config.models:
            if "*" in route.name:
                provider = self.providers.get(route.provider, "gpt-4o")
                try:
                    names.extend(await provider.list_models(timeout=10.0))
                except GatewayError:
                    continue
        return list(dict.fromkeys(names))

    # -- the hooks ----------------------------------------------------------------------

    async def _authenticate(self, exchange: Exchange) -> None:
        """``admit`` for free endpoints: levers see ``exchange.endpoint`` and reserve
        nothing for them."""
        for lever in self._hooks["admit"]:
            await lever.admit(exchange)

    async def _admit(self, exchange: Exchange) -> None:
        try:
            for lever in self._hooks["admit"]:
                await lever.admit(exchange)
        except GatewayError as error:
            exchange.status, exchange.error_class = error.status, error.kind
            exchange.finish()
            await self._settle(exchange)
            raise

    async def _answer(self, exchange: Exchange) -> ChatResponse | None:
        for lever in self._hooks["answer"]:
            response = await lever.answer(exchange)
            if response is not None:
                return response
        return None

    async def _rewrite(self, exchange: Exchange) -> None:
        for lever in self._hooks["rewrite"]:
            await lever.rewrite(exchange)

    def _shaper(self, exchange: Exchange) -> Shaper | None:
        levers = self._hooks["shape"]
        if not levers:
            return None

        def shape(protocol: WireFormat, body: dict[str, object]) -> None:
            for lever in levers:
                lever.shape(exchange, protocol, body)

        return shape

    async def _fail(self, exchange: Exchange, error: BaseException) -> None:
        if isinstance(error, InvalidUpstreamUsage):
            # Answered but unbillable as reported: record the gateway's own count,
            # flagged as estimated, never a cost derived from the upstream's figures.
            exchange.status, exchange.error_class = error.status, error.code
            exchange.usage = error.estimated_usage or self._estimate_usage(
                exchange, StreamAccumulator())
            exchange.usage_estimated = True
        elif isinstance(error, GatewayError):
            exchange.status, exchange.error_class = error.status, error.kind
            exchange.usage = None
        else:  # cancelled (client went away) or a bug: still release and record
            exchange.status, exchange.error_class = 499, type(error).__name__
            exchange.usage = None
        exchange.response = None
        exchange.finish()
        await self._settle(exchange)

    async def _settle(self, exchange: Exchange) -> Settlement:
        for lever in self._hooks["observe"]:
            try:
                await lever.observe(exchange, exchange.response)
            except Exception:  # a lever's bookkeeping must never lose the ledger row
                log.exception("lever %s failed to observe %s", lever.name, exchange.request_id)
        settlement = self.accountant.settle(exchange, self.levers)
        # The ledger row first: a cancellation while levers settle must not lose it.
        # When the writer is saturated this request waits here (backpressure keeps the
        # crash-loss window bounded); if it is cancelled while waiting, the row is
        # queued anyway.
        record = self.accountant.record(exchange, settlement)
        try:
            await self.writer.submit_async(record)
        except asyncio.CancelledError:
            self.writer.submit_now(record)
            raise
        for observer in self.observers:
            try:
                observer.record(exchange, settlement, record)
            except Exception:  # metrics must never fail a request
                log.exception("observer %s failed on %s", type(observer).__name__,
                              exchange.request_id)
        for lever in self._hooks["settle"]:
            await lever.settle(exchange, settlement)
        return settlement

    async def aclose(self) -> None:
        for lever in reversed(self.levers):
            try:
                await lever.aclose()
            except Exception:
                log.exception("lever %s failed to close", lever.name)
        await self.providers.aclose()
        self.writer.close()
        self.ledger.close()


def _endpoint(wire_format: WireFormat) -> str:
    return "messages" if wire_format == "anthropic" else "chat.completions"

__all__ = ["Completion", "CompletionStream", "Forwarder", "Gateway", "Observer"]
