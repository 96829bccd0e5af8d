"""The gateway's Prometheus metrics, fed from every finished request's ledger record.

``GatewayMetrics`` is a pipeline ``Observer``: ``record`` runs right after the ledger row
is submitted, with the same figures, so the counters and the ledger agree:

* ``tokenthrift_baseline_cost_usd_total`` minus ``tokenthrift_cost_usd_total`` equals
  ``sum(tokenthrift_saved_usd_total)`` plus ``tokenthrift_unattributed_usd_total`` (the
  ledger's savings rule, summed over the requests).
* the money counters are exact sums (``Decimal``) of the rows' amounts.

Labels: ``model`` is the served model (the requested one when nothing was served),
``provider`` the configured provider name, ``team``/``task`` from attribution; the
``customer``, ``user`` and ``key`` labels are off unless configured, and every
attribution label keeps at most ``max_label_values`` distinct values (then ``other``).
Gauges read live state at scrape time (``collect.refresh_gauges``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import Counter, Gauge, Histogram, LabelValues, Metric, render
from .settings import MetricsSettings

if TYPE_CHECKING:
    from ..accounting.settlement import Settlement
    from ..exchange import Exchange
    from ..ledger.record import LedgerRecord

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0)
_MEMO_LIMIT = 4096  # label combinations remembered, so most requests skip LabelValues
# record attribute per attribution label
_SOURCE = {"model": "model", "provider": "provider", "team": "team", "task": "task",
           "customer": "customer", "user": "user", "key": "key_id"}


class GatewayMetrics:
    """Every ``tokenthrift_*`` metric of one gateway process."""

    def __init__(self, settings: MetricsSettings | None = None) -> None:
        self.settings = settings = settings or MetricsSettings()
        self.values = LabelValues(settings.max_label_values)
        attrs = self.attribution_labels = settings.labels
        self.cost = Counter("tokenthrift_cost_usd_total",
                            "Actual spend in USD (upstream bills plus the gateway's own spend).",
                            attrs)
        self.baseline = Counter("tokenthrift_baseline_cost_usd_total",
                                "What the requests would have cost as asked, without levers.",
                                attrs)
        self.saved = Counter("tokenthrift_saved_usd_total",
                             "USD saved against the baseline, by lever (negative: it cost more).",
                             ("lever", *attrs))
        self.unattributed = Counter(
            "tokenthrift_unattributed_usd_total",
            "Baseline minus cost that no lever earned (e.g. a fallback to another model).", attrs)
        self.unpriced = Counter("tokenthrift_unpriced_requests_total",
                                "Requests whose cost is unknown (no price for the model).", attrs)
        self.tokens = Counter(
            "tokenthrift_tokens_total",
            "Tokens billed, by type: input is uncached input; reasoning is part of output.",
            ("token_type", *attrs))
        self.requests = Counter(
            "tokenthrift_requests_total",
            "Requests finished, by HTTP status and cache outcome (miss, exact, semantic, "
            "bypass); requested_model is what the client asked for, model what served it.",
            ("status", "cache", "requested_model", *attrs))
        self.duration = Histogram("tokenthrift_request_duration_seconds",
                                  "Time from receiving a request to its last byte.",
                                  ("model", "provider"), DURATION_BUCKETS)
        self.overhead = Histogram("tokenthrift_overhead_seconds",
                                  "Time spent inside the gateway (duration minus upstream wait).",
                                  ("model", "provider"), OVERHEAD_BUCKETS)
        self.budget_remaining = Gauge(
            "tokenthrift_budget_remaining_usd",
            "USD left in the budget's current period (limit - spent - reserved).",
            ("scope", "id", "period"))
        self.budget_limit = Gauge("tokenthrift_budget_limit_usd",
                                  "The budget's limit per period in USD.", ("scope", "id", "period"))
        self.budget_spent = Gauge("tokenthrift_budget_spent_usd",
                                  "USD spent in the budget's current period.",
                                  ("scope", "id", "period"))
        self.cache_entries = Gauge("tokenthrift_cache_entries",
                                   "Answers stored in the response cache.")
        self._sources = tuple(_SOURCE[label] for label in attrs)
        self._others = tuple(s for s in self._sources if s not in ("model", "provider"))
        self._labels: dict[tuple[str | None, ...], tuple[tuple[str, ...], tuple[str, str], str]] = {}

    @property
    def all(self) -> tuple[Metric, ...]:
        return (self.cost, self.baseline, self.saved, self.unattributed, self.unpriced,
                self.tokens, self.requests, self.duration, self.overhead,
                self.budget_remaining, self.budget_limit, self.budget_spent,
                self.cache_entries)

    def record(self, exchange: Exchange, settlement: Settlement, record: LedgerRecord) -> None:
        """Count one finished request (the pipeline ``Observer`` hook)."""
        self.observe(record)

    def observe(self, record: LedgerRecord) -> None:
        served = record.served_model or record.requested_model
        raw = (served, record.provider, record.requested_model,
               *(getattr(record, s) for s in self._others))
        labels = self._labels.get(raw)
        if labels is None:
            labels = self._bind(record, served, raw)
        attrs, where, requested = labels
        self.requests.inc((str(record.status), record.cache_status, requested, *attrs))
        if record.cost_usd is not None:
            self.cost.inc(attrs, record.cost_usd)
        else:
            self.unpriced.inc(attrs)
        if record.baseline_cost_usd is not None:
            self.baseline.inc(attrs, record.baseline_cost_usd)
        for lever, usd in record.savings.items():
            self.saved.inc((lever, *attrs), usd)
        if record.unattributed_usd:
            self.unattributed.inc(attrs, record.unattributed_usd)
        tokens = self.tokens
        for token_type, count in (("input", record.input_tokens),
                                  ("output", record.output_tokens),
                                  ("cache_read", record.cache_read_tokens),
                                  ("cache_write", record.cache_write_tokens),
                                  ("reasoning", record.reasoning_tokens)):
            if count:
                tokens.inc((token_type, *attrs), count)
        self.duration.observe(where, record.latency_ms / 1000.0)
        self.overhead.observe(where, record.overhead_ms / 1000.0)

    def _bind(self, record: LedgerRecord, served: str, raw: tuple[str | None, ...]
              ) -> tuple[tuple[str, ...], tuple[str, str], str]:
        """The bounded label values of a combination not seen before (then memoised)."""
        bound = self.values
        model, provider = bound("model", served), bound("provider", record.provider)
        attrs = tuple(model if source == "model" else provider if source == "provider"
                      else bound(source, getattr(record, source)) for source in self._sources)
        labels = (attrs, (model, provider), bound("requested_model", record.requested_model))
        if len(self._labels) >= _MEMO_LIMIT:  # random label values must not grow memory
            self._labels.clear()
        self._labels[raw] = labels
        return labels

    def render(self) -> str:
        return render(self.all)
