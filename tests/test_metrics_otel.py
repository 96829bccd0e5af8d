"""OpenTelemetry GenAI export: one span per request with the ``gen_ai.*`` attributes
(usage with cache read/creation tokens) and tokenthrift's cost, baseline and savings;
``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``; and the OTLP/HTTP
exporter built from the config really posts to the collector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import config_for
from tokenthrift.assembly import build_gateway
from tokenthrift.emulator import Fault
from tokenthrift.observability import build_observers
from tokenthrift.observability.otel import OtelObserver
from tokenthrift.server.app import create_app
from tokenthrift.server.runner import ServerThread

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode


@pytest.fixture
def otel(tmp_path: Path
         ) -> Iterator[tuple[Any, Any, OtelObserver, InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    observer = OtelObserver(tracer_provider, MeterProvider(metric_readers=[reader]))
    raw = {"models": [{"name": "gpt-4o", "provider": "emulator",
                       "fallbacks": ["claude-haiku-4-5"]}, {"name": "*", "provider": "emulator"}],
           "retry": {"max_retries": 0}, "cache": {"exact": {"enabled": True}}}
    gateway = build_gateway(config_for(tmp_path, raw), observers=[observer])
    server = ServerThread(create_app(gateway)).start()
    try:
        yield server, gateway, observer, spans, reader
        observer.shutdown()
    finally:
        server.stop()


def _metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def test_a_span_per_request_with_genai_usage_and_savings(otel: Any) -> None:
    import anthropic
    import openai

    server, gateway, observer, spans, reader = otel
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
    for _ in range(2):  # the second one is an exact-cache hit
        client.chat.completions.create(model="gpt-4o-mini", temperature=0.0,
                                       messages=[{"role": "user", "content": "same question"}],
                                       extra_headers={"x-tokenthrift-team": "search"})
    anthropic.Anthropic(base_url=server.url, api_key="sk-x", max_retries=0).messages.create(
        model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    gateway.emulator.add_fault(
        Fault(kind="status", status=400, model="gpt-4.1-nano", count=1))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4.1-nano",
                                       messages=[{"role": "user", "content": "refused"}])
    observer.flush()
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["chat gpt-4o-mini", "chat gpt-4o-mini",
                                          "chat claude-haiku-4-5", "chat gpt-4.1-nano"]
    miss, hit, claude, failed = (dict(s.attributes or {}) for s in finished)
    assert all(s.kind is SpanKind.CLIENT for s in finished)
    assert miss["gen_ai.operation.name"] == "chat" and miss["gen_ai.provider.name"] == "openai"
    assert miss["gen_ai.request.model"] == miss["gen_ai.response.model"] == "gpt-4o-mini"
    assert miss["gen_ai.request.temperature"] == 0.0 and miss["gen_ai.response.id"]
    assert miss["gen_ai.usage.input_tokens"] > 0 and miss["gen_ai.usage.output_tokens"] > 0
    assert miss["gen_ai.usage.cache_read.input_tokens"] == 0
    assert miss["tokenthrift.cost_usd"] > 0 and miss["tokenthrift.team"] == "search"
    assert hit["tokenthrift.cache"] == "exact" and hit["tokenthrift.cost_usd"] == 0
    assert hit["tokenthrift.saved_usd.exact_cache"] == hit["tokenthrift.baseline_cost_usd"] > 0
    assert claude["gen_ai.provider.name"] == "anthropic"
    assert claude["gen_ai.request.max_tokens"] == 20
    assert failed["error.type"] and finished[3].status.status_code is StatusCode.ERROR
    assert all(s.end_time > s.start_time for s in finished)

    points = _metric_points(reader)
    usage = points["gen_ai.client.token.usage"]
    types = {p.attributes["gen_ai.token.type"] for p in usage}
    assert types == {"input", "output"}
    assert sum(p.count for p in points["gen_ai.client.operation.duration"]) == 4
    errors = [p for p in points["gen_ai.client.operation.duration"] if "error.type" in p.attributes]
    assert len(errors) == 1 and errors[0].attributes["gen_ai.request.model"] == "gpt-4.1-nano"


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_config_builds_an_otlp_exporter_that_posts_to_the_collector(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    collector = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    raw = {"observability": {"otel": {"enabled": True, "endpoint": endpoint,
                                      "service_name": "tt-test"}}}
    observers = build_observers(config_for(tmp_path, raw))
    otel_observers = [o for o in observers if isinstance(o, OtelObserver)]
    assert len(otel_observers) == 1 and len(observers) == 2  # metrics stay on
    gateway = build_gateway(config_for(tmp_path, raw), observers=observers)
    server = ServerThread(create_app(gateway)).start()
    try:
        import openai

        openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0
                      ).chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "hi"}])
        otel_observers[0].flush()
    finally:
        server.stop()
        otel_observers[0].shutdown()
        collector.shutdown()
    paths = {path for path, _ in _Collector.received}
    assert {"/v1/traces", "/v1/metrics"} <= paths
    request = ExportTraceServiceRequest()
    request.ParseFromString(next(body for path, body in _Collector.received
                                 if path == "/v1/traces"))
    resource = request.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "tt-test"
    span = resource.scope_spans[0].spans[0]
    assert span.name == "chat gpt-4o-mini"
    keys = {a.key for a in span.attributes}
    assert {"gen_ai.usage.input_tokens", "tokenthrift.cost_usd"} <= keys


def test_otel_off_by_default(tmp_path: Path) -> None:
    observers = build_observers(config_for(tmp_path, {}))
    assert not any(isinstance(o, OtelObserver) for o in observers) and observers
