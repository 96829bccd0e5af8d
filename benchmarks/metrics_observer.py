"""Cost of observability on the request path.

    .venv/bin/python benchmarks/metrics_observer.py

1. ``GatewayMetrics.observe`` per finished request (what ``/metrics`` costs the hot
   path), on realistic ledger records (4 teams, 3 models, savings on a third of them),
   and the cost of rendering one scrape.
2. The OpenTelemetry observer (``otel`` extra): what ``record`` costs the request (a
   queue put) and what its export thread spends per request on the span and the 3
   histogram records (the SDK's batch processor with an exporter that drops spans).
3. End to end: whole in-process requests over the emulator (settlement included), with
   and without the metrics observer, runs interleaved.

Numbers are in docs/observability.md.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tokenthrift.assembly import build_gateway
from tokenthrift.config import parse_config
from tokenthrift.exchange import Exchange
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.observability.metrics import GatewayMetrics
from tokenthrift.types import Attribution
from tokenthrift.wire import openai_chat

BATCHES, BATCH = 200, 1000


def records() -> list[LedgerRecord]:
    out = []
    for i in range(BATCH):
        cost = Decimal("0.000123456789") * (i % 7 + 1)
        saved = {"exact_cache": cost} if i % 3 == 0 else {}
        out.append(LedgerRecord(
            request_id=f"r{i}", ts=1.8e9 + i, team=f"team-{i % 4}", task="faq",
            requested_model=f"model-{i % 3}", served_model=f"model-{i % 3}",
            provider="openai", wire_format="openai", endpoint="chat.completions",
            input_tokens=1200, cache_read_tokens=512 * (i % 2), output_tokens=300,
            cost_usd=Decimal(0) if saved else cost, baseline_cost_usd=cost,
            saved_usd=cost if saved else Decimal(0), savings=saved,
            cache_status="exact" if saved else "miss", latency_ms=420.5, overhead_ms=0.31))
    return out


def per_call(call: Callable[[LedgerRecord], None], rows: list[LedgerRecord]) -> list[float]:
    """µs per call, averaged over each batch of ``BATCH`` calls."""
    for row in rows:  # warm: every label value seen once
        call(row)
    samples = []
    for _ in range(BATCHES):
        started = time.perf_counter_ns()
        for row in rows:
            call(row)
        samples.append((time.perf_counter_ns() - started) / 1000 / len(rows))
    return samples


def show(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    print(f"{name}: mean {statistics.fmean(samples):.2f} µs/request, p50 "
          f"{statistics.median(samples):.2f} µs, p99 {ordered[int(len(ordered) * 0.99)]:.2f} µs "
          f"(batches of {BATCH})")


def prometheus_part(rows: list[LedgerRecord]) -> None:
    metrics = GatewayMetrics()
    show("metrics observer", per_call(metrics.observe, rows))
    started = time.perf_counter()
    text = metrics.render()
    print(f"render /metrics: {(time.perf_counter() - started) * 1000:.2f} ms, "
          f"{text.count(chr(10))} lines")


def otel_part(rows: list[LedgerRecord]) -> None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        print("otel observer: skipped (pip install 'tokenthrift[otel]')")
        return
    from tokenthrift.observability.otel import OtelObserver

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 20))
    observer = OtelObserver(tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    exchange = Exchange(request=None, attribution=Attribution(), requested_model="model-0",
                        wire_format="openai", endpoint="chat.completions")
    exchange.provider_protocol = "openai"
    started = time.perf_counter()
    show("otel observer, request path (queued)",
         per_call(lambda row: observer.record(exchange, None, row), rows))  # type: ignore[arg-type]
    observer.flush()
    total = (BATCHES + 1) * len(rows)
    print(f"otel export thread: {(time.perf_counter() - started) / total * 1e6:.1f} µs/request "
          f"to build the span and record the metrics ({total} requests, drained)")
    observer.shutdown()


async def request_ms(gateway: Any, n: int) -> list[float]:
    """Wall time of whole in-process requests, settlement (ledger row, observers) included:
    ``overhead_ms`` stops before settlement, so it would not show an observer's cost."""
    out = []
    for i in range(n):
        request = openai_chat.parse_request({
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]})
        started = time.perf_counter()
        await gateway.complete(request, Attribution(team=f"team-{i % 4}"))
        out.append((time.perf_counter() - started) * 1000)
    return out


def end_to_end() -> None:
    raw = {"cache": {"exact": {"enabled": False}},
           "providers": {"emulator": {"type": "emulator"}}}
    with tempfile.TemporaryDirectory() as tmp:
        with_metrics = build_gateway(parse_config({**raw, "storage": {
            "ledger": f"sqlite:///{tmp}/a.db"}}))
        without = build_gateway(parse_config({**raw, "storage": {
            "ledger": f"sqlite:///{tmp}/b.db"}}), observers=[])

        async def run() -> tuple[list[float], list[float]]:
            on: list[float] = []
            off: list[float] = []
            await request_ms(with_metrics, 200)  # warm both
            await request_ms(without, 200)
            for _ in range(10):  # interleaved, so machine load hits both alike
                on += await request_ms(with_metrics, 200)
                off += await request_ms(without, 200)
            await with_metrics.aclose()
            await without.aclose()
            return on, off

        on, off = asyncio.run(run())
    print(f"whole request p50 (in-process emulator, no network): with metrics "
          f"{statistics.median(on):.3f} ms, without {statistics.median(off):.3f} ms "
          f"({len(on)} requests each, interleaved)")


def main() -> None:
    rows = records()
    prometheus_part(rows)
    otel_part(rows)
    end_to_end()


if __name__ == "__main__":
    main()
