"""OpenTelemetry GenAI export (optional extra: ``pip install 'tokenthrift[otel]'``).

One CLIENT span per finished request following the GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.usage.*`` including cache read and creation tokens,
``error.type``), plus tokenthrift's own attributes (cost, baseline, savings per lever,
cache outcome, attribution); and the GenAI client metrics
``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``.

Spans are built after the fact from the ledger record (start = arrival, end = last
byte) on an export thread: the request path only queues the record (~1 µs); building
the span and recording the histograms (~0.1 ms in the SDK) happens off the event loop. ``build_otel_observer`` exports over OTLP/HTTP to
``observability.otel.endpoint``; tests inject in-memory providers.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

from ..config_section import ConfigError
from .settings import OtelSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from ..accounting.settlement import Settlement
    from ..exchange import Exchange
    from ..ledger.record import LedgerRecord

log = logging.getLogger("tokenthrift.observability")
# Advisory bucket boundaries from the GenAI metrics conventions.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92]
_OPERATION = {"chat.completions": "chat", "messages": "chat", "embeddings": "embeddings"}


class OtelObserver:
    """A pipeline ``Observer`` turning each ledger record into a GenAI span and metrics."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._kind, self._status, self._error = SpanKind.CLIENT, Status, StatusCode.ERROR
        self.tracer_provider, self.meter_provider = tracer_provider, meter_provider
        self.tracer = tracer_provider.get_tracer("tokenthrift")
        meter = meter_provider.get_meter("tokenthrift")
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Measures number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="tokenthrift-otel", daemon=True)
        self._worker.start()

    def record(self, exchange: Exchange, settlement: Settlement, record: LedgerRecord) -> None:
        """Hand the request to the export thread: building a span and recording metrics
        in the SDK costs ~0.1 ms, which the response should not wait for."""
        request = exchange.original_request
        self._queue.put((record, exchange.provider_protocol,
                         exchange.response.id if exchange.response is not None else None,
                         request.max_tokens if request is not None else None,
                         request.temperature if request is not None else None))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._export(*item)
            except Exception:  # one bad record must not stop the exports
                log.exception("OpenTelemetry export of a request failed")
            finally:
                self._queue.task_done()

    def _export(self, record: LedgerRecord, protocol: str | None, response_id: str | None,
                max_tokens: int | None, temperature: float | None) -> None:
        common = {
            "gen_ai.operation.name": _OPERATION.get(record.endpoint, record.endpoint),
            "gen_ai.provider.name": protocol or record.wire_format,
            "gen_ai.request.model": record.requested_model,
        }
        if record.served_model:
            common["gen_ai.response.model"] = record.served_model
        failed = record.status >= 400
        if failed:
            common["error.type"] = record.error_class or str(record.status)
        start = int(record.ts * 1e9)
        span = self.tracer.start_span(
            f"{common['gen_ai.operation.name']} {record.requested_model}", kind=self._kind,
            start_time=start, attributes={**common, **_span_attributes(record)})
        if failed:
            span.set_status(self._status(self._error, record.error_class))
        if response_id is not None:
            span.set_attribute("gen_ai.response.id", response_id)
        if max_tokens is not None:
            span.set_attribute("gen_ai.request.max_tokens", max_tokens)
        if temperature is not None:
            span.set_attribute("gen_ai.request.temperature", temperature)
        span.end(end_time=start + int(record.latency_ms * 1e6))
        input_tokens = record.input_tokens + record.cache_read_tokens + record.cache_write_tokens
        if record.status < 400 or input_tokens or record.output_tokens:
            self.token_usage.record(input_tokens, {**common, "gen_ai.token.type": "input"})
            self.token_usage.record(record.output_tokens,
                                    {**common, "gen_ai.token.type": "output"})
        self.duration.record(record.latency_ms / 1000.0, common)

    def flush(self, timeout_ms: int = 10_000) -> None:
        """Export what is buffered now (tests, shutdown)."""
        self._queue.join()
        self.tracer_provider.force_flush(timeout_ms)
        self.meter_provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        """Flush and stop the exporters (the SDK also does this at interpreter exit)."""
        self._queue.put(None)
        self._worker.join(timeout=10)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _span_attributes(record: LedgerRecord) -> dict[str, Any]:
    # gen_ai.usage.input_tokens counts every input token, cached ones included; the
    # cache read/creation attributes say how many of them were.
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": (record.input_tokens + record.cache_read_tokens
                                      + record.cache_write_tokens),
        "gen_ai.usage.output_tokens": record.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": record.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": record.cache_write_tokens,
        "gen_ai.usage.reasoning.output_tokens": record.reasoning_tokens,
        "tokenthrift.request_id": record.request_id,
        "tokenthrift.cache": record.cache_status,
        "tokenthrift.stream": record.stream,
        "tokenthrift.fallback_used": record.fallback_used,
        "tokenthrift.overhead_ms": record.overhead_ms,
        "http.response.status_code": record.status,
    }
    for name, value in (("cost_usd", record.cost_usd),
                        ("baseline_cost_usd", record.baseline_cost_usd),
                        ("saved_usd", record.saved_usd),
                        ("unattributed_usd", record.unattributed_usd)):
        if value is not None:
            attributes[f"tokenthrift.{name}"] = float(value)
    for lever, usd in record.savings.items():
        attributes[f"tokenthrift.saved_usd.{lever}"] = float(usd)
    for name in ("team", "task", "customer", "user"):
        value = getattr(record, name)
        if value:
            attributes[f"tokenthrift.{name}"] = value
    return attributes


def build_otel_observer(settings: OtelSettings) -> OtelObserver:
    """An observer exporting over OTLP/HTTP to ``settings.endpoint``."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError("observability.otel.enabled: the OpenTelemetry SDK is not installed; "
                          "pip install 'tokenthrift[otel]'") from None
    endpoint = settings.endpoint.rstrip("/")
    resource = Resource.create({"service.name": settings.service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"))
    return OtelObserver(tracer_provider, MeterProvider(resource=resource, metric_readers=[reader]))
