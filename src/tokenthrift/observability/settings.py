"""The ``observability`` config section: ``/metrics``, the ``/ui`` dashboard, OpenTelemetry.

```yaml
observability:
  metrics:
    enabled: true                          # GET /metrics (Prometheus text format)
    auth: false                            # true: the master key is required to scrape
    labels: [model, provider, team, task]  # also allowed: customer, user, key
    max_label_values: 50                   # distinct values kept per label, then "other"
  dashboard:
    enabled: true                          # /ui (master key required when one is set)
  otel:
    enabled: false                         # needs: pip install 'tokenthrift[otel]'
    endpoint: http://127.0.0.1:4318        # OTLP/HTTP collector
    service_name: tokenthrift
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config_section import ConfigError, Section, text_list

# Attribution labels a metric may carry; customer, user and key are off by default
# because they grow with the number of customers (one time series each).
LABELS: tuple[str, ...] = ("model", "provider", "team", "task", "customer", "user", "key")
DEFAULT_LABELS: tuple[str, ...] = ("model", "provider", "team", "task")
DEFAULT_MAX_LABEL_VALUES = 50
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    auth: bool = False
    labels: tuple[str, ...] = DEFAULT_LABELS
    max_label_values: int = DEFAULT_MAX_LABEL_VALUES


@dataclass(frozen=True, slots=True)
class OtelSettings:
    enabled: bool = False
    endpoint: str = DEFAULT_OTLP_ENDPOINT
    service_name: str = "tokenthrift"


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    dashboard: bool = True
    otel: OtelSettings = field(default_factory=OtelSettings)


def parse_observability(raw: dict[str, Any] | None) -> ObservabilitySettings:
    """Validate the raw section; every mistake names its key path."""
    top = Section(raw or {}, "observability", ("metrics", "dashboard", "otel"))
    metrics = top.section("metrics", ("enabled", "auth", "labels", "max_label_values"))
    labels = text_list(metrics.get("labels", list(DEFAULT_LABELS)), metrics.path("labels"))
    for label in labels:
        if label not in LABELS:
            raise ConfigError(f"observability.metrics.labels: unknown label {label!r}; "
                              f"allowed: {', '.join(LABELS)}")
    dashboard = top.section("dashboard", ("enabled",))
    otel = top.section("otel", ("enabled", "endpoint", "service_name"))
    return ObservabilitySettings(
        metrics=MetricsSettings(
            enabled=metrics.boolean("enabled", True),
            auth=metrics.boolean("auth", False),
            labels=tuple(dict.fromkeys(labels)),
            max_label_values=metrics.integer("max_label_values", DEFAULT_MAX_LABEL_VALUES,
                                             minimum=1),
        ),
        dashboard=dashboard.boolean("enabled", True),
        otel=OtelSettings(
            enabled=otel.boolean("enabled", False),
            endpoint=otel.text("endpoint", DEFAULT_OTLP_ENDPOINT),
            service_name=otel.text("service_name", "tokenthrift"),
        ),
    )
