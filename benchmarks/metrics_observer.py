"""Cost of the metrics observer per finished request (the hot path's share of /metrics).

    .venv/bin/python benchmarks/metrics_observer.py

Feeds realistic ledger records (4 teams, 3 models, savings on a third of them) to
``GatewayMetrics.observe`` and prints the mean and p50/p99 per call, plus the cost of
rendering one scrape. Numbers are in docs/observability.md.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal

from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.observability.metrics import GatewayMetrics

N = 200_000


def records() -> list[LedgerRecord]:
    out = []
    for i in range(1000):
        cost = Decimal("0.000123456789") * (i % 7 + 1)
        saved = {"exact_cache": cost} if i % 3 == 0 else {}
        out.append(LedgerRecord(
            request_id=f"r{i}", ts=0.0, team=f"team-{i % 4}", task="faq",
            requested_model=f"model-{i % 3}", served_model=f"model-{i % 3}",
            provider="openai", wire_format="openai", endpoint="chat.completions",
            input_tokens=1200, cache_read_tokens=512 * (i % 2), output_tokens=300,
            cost_usd=Decimal(0) if saved else cost, baseline_cost_usd=cost,
            saved_usd=cost if saved else Decimal(0), savings=saved,
            cache_status="exact" if saved else "miss", latency_ms=420.5, overhead_ms=0.31))
    return out


def main() -> None:
    metrics = GatewayMetrics()
    rows = records()
    for row in rows:  # warm: every label value seen once
        metrics.observe(row)
    samples = []
    for batch in range(N // 1000):
        started = time.perf_counter_ns()
        for row in rows:
            metrics.observe(row)
        samples.append((time.perf_counter_ns() - started) / 1000)
        del batch
    per_call = [s / 1000 for s in samples]  # µs per observe, averaged over 1000 calls
    started = time.perf_counter()
    text = metrics.render()
    render_ms = (time.perf_counter() - started) * 1000
    print(f"observe: mean {statistics.fmean(per_call):.2f} µs/request, "
          f"p50 {statistics.median(per_call):.2f} µs, "
          f"p99 {sorted(per_call)[int(len(per_call) * 0.99)]:.2f} µs (batches of 1000)")
    print(f"render: {render_ms:.2f} ms for {text.count(chr(10))} lines")


if __name__ == "__main__":
    main()
