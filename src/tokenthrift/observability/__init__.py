"""What the gateway tells the outside about itself: Prometheus metrics (``/metrics``),
OpenTelemetry GenAI spans and metrics (optional extra), fed by pipeline observers.

``build_observers(config)`` is called by the composition root; docs/observability.md
lists every metric, its labels and the cardinality limits."""

from __future__ import annotations

from ..config import GatewayConfig
from ..pipeline.gateway import Observer
from .metrics import GatewayMetrics
from .settings import ObservabilitySettings, parse_observability


def build_observers(config: GatewayConfig) -> list[Observer]:
    """The observers ``config.observability`` asks for (metrics on by default)."""
    settings = parse_observability(config.observability)
    observers: list[Observer] = []
    if settings.metrics.enabled:
        observers.append(GatewayMetrics(settings.metrics))
    if settings.otel.enabled:
        from .otel import build_otel_observer

        observers.append(build_otel_observer(settings.otel))
    return observers


__all__ = ["GatewayMetrics", "ObservabilitySettings", "build_observers", "parse_observability"]
