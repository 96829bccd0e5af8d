"""The request flow: levers → provider (retries, fallbacks) → accounting → ledger.

``Gateway`` is the in-process library entry point as well as what the HTTP server
calls; it knows nothing about HTTP or wire formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..accounting.catalog import PriceCatalog
from ..config import GatewayConfig
from ..errors import GatewayError, StreamInterrupted, UpstreamError
from ..ledger import open_ledger
from ..ledger.writer import LedgerWriter
from ..levers.base import Admission, CacheHit, Governance, ResponseCache
from ..levers.cache import build as build_cache
from ..levers.governance import build as build_governance
from ..providers.base import Provider
from ..providers.registry import DEFAULT_BASE_URLS, ProviderSet
from ..tokens import count_chat, count_text
from ..types import (
    Attribution,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamEvent,
    StreamUsage,
    Usage,
    WireFormat,
)
from ..wire.accumulate import StreamAccumulator
from .dispatch import Dispatcher
from .exchange import Exchange
from .replay import aiter_events as _aiter
from .replay import response_events
from .settlement import Accountant, Settlement


@dataclass(slots=True)
class Completion:
    response: ChatResponse
    exchange: Exchange
    settlement: Settlement
    headers: dict[str, str] = field(default_factory=dict)


class CompletionStream:
    """A stream being relayed: iterate ``events``; accounting happens when it ends."""

    def __init__(self, gateway: Gateway, exchange: Exchange, first: StreamEvent,
                 upstream: AsyncIterator[StreamEvent], admission: Admission | None = None
                 ) -> None:
        self.exchange = exchange
        self.admission = admission
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
    def __init__(self, config: GatewayConfig, *, emulator: object | None = None) -> None:
        self.config = config
        self.providers = ProviderSet(config, emulator)
        self.dispatcher = Dispatcher(config, self.providers)
        openai_providers = frozenset(
            name for name, p in config.providers.items()
            if p.type == "emulator" or (p.type == "openai" and (
                p.base_url or DEFAULT_BASE_URLS["openai"]).startswith(DEFAULT_BASE_URLS["openai"]))
        )
        self.accountant = Accountant(PriceCatalog(config.pricing),
                                     prompt_storage=config.storage.prompts,
                                     openai_providers=openai_providers)
        _ensure_sqlite_dir(config.storage.ledger)
        storage = config.storage
        self.ledger = (open_ledger(storage.ledger, schema=storage.ledger_schema)
                       if storage.ledger_is_postgres and storage.ledger_schema
                       else open_ledger(storage.ledger))
        self.writer = LedgerWriter(self.ledger, data_dir=config.data_dir,
                                   flush_interval=config.storage.ledger_flush_interval_s)
        self.governance: Governance | None = build_governance(config, self.ledger, self.accountant)
        self.cache: ResponseCache | None = build_cache(config)

    @property
    def emulator(self) -> Any:
        return self.providers.emulator

    def exchange(self, request: ChatRequest, attribution: Attribution, *,
                 endpoint: str, started: float | None = None) -> Exchange:
        exchange = Exchange(request=request, attribution=attribution, requested_model=request.model,
                            wire_format=request.source_format, endpoint=endpoint,
                            stream=request.stream)
        if started is not None:
            exchange.started = started
        return exchange

    async def complete(self, request: ChatRequest, attribution: Attribution | None = None, *,
                       exchange: Exchange | None = None, client_key: str | None = None
                       ) -> Completion:
        exchange = exchange or self.exchange(request, attribution or Attribution(),
                                             endpoint=_endpoint(request.source_format))
        admission = await self._admit(exchange, client_key)

        async def call(provider: Provider, model: str, timeout: float) -> ChatResponse:
            return await provider.complete(request, model, timeout=timeout)

        try:
            hit = await self.cache.lookup(exchange) if self.cache else None
            if hit is not None:
                response = self._serve_hit(exchange, hit)
            else:
                response = await self.dispatcher.run(exchange, call)
                exchange.usage = response.usage
                if self.cache:
                    await self.cache.store(exchange, response)
        except BaseException as error:
            await self._fail(exchange, admission, error)
            raise
        exchange.finish()
        settlement = await self._settle(exchange, admission)
        headers = self.accountant.headers(exchange, settlement)
        return Completion(response, exchange, settlement, headers)

    async def stream(self, request: ChatRequest, attribution: Attribution | None = None, *,
                     exchange: Exchange | None = None, client_key: str | None = None
                     ) -> CompletionStream:
        exchange = exchange or self.exchange(request, attribution or Attribution(),
                                             endpoint=_endpoint(request.source_format))
        admission = await self._admit(exchange, client_key)

        async def call(provider: Provider, model: str, timeout: float
                       ) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
            events = await provider.open_stream(request, model, timeout=timeout)
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
            hit = await self.cache.lookup(exchange) if self.cache else None
            if hit is not None:
                replay = response_events(self._serve_hit(exchange, hit))
                first, upstream = replay[0], _aiter(replay[1:])
            else:
                first, upstream = await self.dispatcher.run(exchange, call)
        except BaseException as error:
            await self._fail(exchange, admission, error)
            raise
        return CompletionStream(self, exchange, first, upstream, admission)

    def _serve_hit(self, exchange: Exchange, hit: CacheHit) -> ChatResponse:
        """A cached answer: nothing billed upstream, baseline = the call that made it."""
        exchange.cache_status = hit.kind
        exchange.usage = Usage()
        exchange.baseline_usage = hit.usage_as_generated
        exchange.lever_cost_usd = hit.lookup_cost_usd
        exchange.served_model = hit.response.model
        if hit.similarity is not None:
            exchange.response_headers["x-tokenthrift-cache-similarity"] = f"{hit.similarity:.4f}"
        return hit.response

    async def _finish_stream(self, stream: CompletionStream) -> Settlement:
        exchange = stream.exchange
        if exchange.cache_status == "miss":
            usage = stream.accumulator.usage
            if usage is None or exchange.status != 200:
                usage = self._estimate_usage(exchange, stream.accumulator)
                exchange.usage_estimated = True
            exchange.usage = usage
            if self.cache and exchange.status == 200 and not exchange.usage_estimated:
                await self.cache.store(exchange, stream.accumulator.response())
        exchange.finish()
        return await self._settle(exchange, stream.admission)

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

    async def embed(self, request: EmbeddingRequest, attribution: Attribution | None = None, *,
                    wire_format: WireFormat = "openai", started: float | None = None,
                    client_key: str | None = None) -> tuple[EmbeddingResponse, dict[str, str]]:
        exchange = Exchange(request=None, attribution=attribution or Attribution(),
                            requested_model=request.model, wire_format=wire_format,
                            endpoint="embeddings")
        if started is not None:
            exchange.started = started
        admission = await self._admit(exchange, client_key)

        async def call(provider: Provider, model: str, timeout: float) -> EmbeddingResponse:
            return await provider.embed(request, model, timeout=timeout)

        try:
            response = await self.dispatcher.run(exchange, call)
        except BaseException as error:
            await self._fail(exchange, admission, error)
            raise
        exchange.usage = Usage(input_tokens=response.input_tokens)
        exchange.finish()
        settlement = await self._settle(exchange, admission)
        return response, self.accountant.headers(exchange, settlement)

    async def count_tokens(self, request: ChatRequest) -> int:
        """Prompt tokens as the serving model counts them (free, so no ledger row)."""
        exchange = self.exchange(request, Attribution(), endpoint="count_tokens")

        async def call(provider: Provider, model: str, timeout: float) -> int:
            return await provider.count_tokens(request, model, timeout=timeout)

        return await self.dispatcher.run(exchange, call)

    async def list_models(self) -> list[str]:
        names = [route.name for route in self.config.models if "*" not in route.name]
        for route in self.config.models:
            if "*" in route.name:
                provider = self.providers.get(route.provider, "gpt-4o")
                try:
                    names.extend(await provider.list_models(timeout=10.0))
                except GatewayError:
                    continue
        return list(dict.fromkeys(names))

    async def _admit(self, exchange: Exchange, client_key: str | None) -> Admission | None:
        if self.governance is None:
            return None
        try:
            return await self.governance.admit(exchange, client_key)
        except GatewayError as error:
            exchange.status, exchange.error_class = error.status, error.kind
            exchange.finish()
            await self._settle(exchange, None)
            raise

    async def _fail(self, exchange: Exchange, admission: Admission | None,
                    error: BaseException) -> None:
        if isinstance(error, GatewayError):
            exchange.status, exchange.error_class = error.status, error.kind
        else:  # cancelled (client went away) or a bug: still release and record
            exchange.status, exchange.error_class = 499, type(error).__name__
        exchange.usage = None
        exchange.finish()
        await self._settle(exchange, admission)

    async def _settle(self, exchange: Exchange, admission: Admission | None) -> Settlement:
        if exchange.baseline_model is None:  # never dispatched: a cache hit, or refused early
            with contextlib.suppress(GatewayError):
                exchange.baseline_model = self.dispatcher.candidates(
                    exchange.requested_model)[0].upstream_model
        settlement = self.accountant.settle(exchange, exchange.baseline_model)
        # The ledger row first: a cancellation while governance settles must not lose it.
        self.writer.submit(self.accountant.record(exchange, settlement))
        if self.governance is not None:
            await self.governance.settle(admission, settlement.actual_usd, exchange.usage)
        return settlement

    async def aclose(self) -> None:
        for lever in (self.cache, self.governance):
            if lever is not None:
                await lever.aclose()
        await self.providers.aclose()
        self.writer.close()
        self.ledger.close()


def _endpoint(wire_format: WireFormat) -> str:
    return "messages" if wire_format == "anthropic" else "chat.completions"


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith(("postgres://", "postgresql://")) or url in ("memory", ":memory:"):
        return
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


__all__ = ["Completion", "CompletionStream", "Gateway", "StreamUsage"]
