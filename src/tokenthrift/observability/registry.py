"""Counters, gauges and histograms in the Prometheus text format (version 0.0.4).

Written for the request path: updating a metric is one dict lookup and one addition on
the event loop thread, with no lock (every update happens on that thread; a scrape reads
on it too). Label values arrive as tuples in the metric's label order; ``LabelValues``
bounds how many distinct values a label may take, so a client sending a new team header
per request cannot grow the scrape without limit.

Money counters add ``Decimal`` amounts, so a counter equals the ledger's exact sum of the
same rows to the last digit printed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal

Number = int | float | Decimal
Labels = tuple[str, ...]
OTHER = "other"  # what a label value past the limit is reported as
MAX_VALUE_LENGTH = 64
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LabelValues:
    """The first ``limit`` distinct values of each label, then ``"other"``.

    First come, first kept: deterministic, and the values that appear early in a
    gateway's life (the teams and models in steady use) are the ones kept. A missing
    value (no team) is the empty string, which Prometheus treats as no label."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}

    def __call__(self, label: str, value: str | None) -> str:
        if not value:
            return ""
        seen = self._seen.get(label)
        if seen is None:
            seen = self._seen[label] = set()
        if value in seen:
            return value
        if len(value) > MAX_VALUE_LENGTH:
            value = value[:MAX_VALUE_LENGTH]
            if value in seen:
                return value
        if len(seen) >= self.limit:
            return OTHER
        seen.add(value)
        return value

    def distinct(self, label: str) -> int:
        return len(self._seen.get(label, ()))


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labels: Labels = tuple(labels)

    def samples(self) -> Iterable[tuple[str, Labels, Labels, Number]]:
        """(sample name, label names, label values, value) of every series."""
        return ()

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}")
        out.append(f"# TYPE {self.name} {self.kind}")
        for name, labels, values, value in self.samples():
            out.append(f"{name}{_labels(labels, values)} {_number(value)}")


class Counter(Metric):
    """Counts (``int``) or exact money (``Decimal``): never floats, which do not add up."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[Labels, int | Decimal] = {}

    def inc(self, key: Labels, amount: int | Decimal = 1) -> None:
        values = self.values
        values[key] = values.get(key, 0) + amount

    def samples(self) -> Iterable[tuple[str, Labels, Labels, Number]]:
        for key, value in sorted(self.values.items()):
            yield self.name, self.labels, key, value


class Gauge(Metric):
    """A value set at scrape time (budgets, cache entries); ``replace`` swaps them all."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[Labels, Number] = {}

    def replace(self, values: dict[Labels, Number]) -> None:
        self.values = values

    def samples(self) -> Iterable[tuple[str, Labels, Labels, Number]]:
        for key, value in sorted(self.values.items()):
            yield self.name, self.labels, key, value


class Histogram(Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str],
                 buckets: Sequence[float]) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        # per series: [count in each bucket (non-cumulative) ..., above the last, sum]
        self.series: dict[Labels, list[float]] = {}

    def observe(self, key: Labels, value: float) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def samples(self) -> Iterable[tuple[str, Labels, Labels, Number]]:
        names = (*self.labels, "le")
        for key, series in sorted(self.series.items()):
            running = 0.0
            for bound, count in zip(self.buckets, series, strict=False):
                running += count
                yield f"{self.name}_bucket", names, (*key, _number(bound)), running
            total = running + series[-2]
            yield f"{self.name}_bucket", names, (*key, "+Inf"), total
            yield f"{self.name}_sum", self.labels, key, series[-1]
            yield f"{self.name}_count", self.labels, key, total


def render(metrics: Iterable[Metric]) -> str:
    out: list[str] = []
    for metric in metrics:
        metric.render(out)
    out.append("")
    return "\n".join(out)


def _labels(names: Labels, values: Labels) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _number(value: Number) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)
