"""What the dashboard and the HTML report show, read from a ``Ledger``.

Totals (spend, baseline, saved…) come from the ledger's own sums, so they are exact and
cover every request in the range. Charts and tables are built from the range's most
recent rows (at most ``max_rows``; ``truncated`` says when there were more): spend over
time by team, model and customer, savings by lever over time against the baseline, the
cache's hit rate, the routing mix (model asked for → model that served), the top
prompt templates by cost with the audit's recommendations (``tokenthrift audit``) and
the latest requests with their cost breakdown.

Money leaves as floats rounded to 10 decimals, like every JSON answer of the gateway.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..accounting.cost import to_float
from ..accounting.settlement import Accountant
from ..audit.recommend import recommend
from ..audit.report import MIN_WINDOW_S, MONTH_S
from ..audit.templates import group
from ..ledger.base import Ledger
from ..ledger.record import LEVERS, LedgerRecord

SERIES_DIMENSIONS = ("team", "model", "customer")
MAX_SERIES = 8  # per chart, the rest is "other"
TOP_PROMPTS = 10
RECENT = 30
MAX_ROWS = 20_000
# Bucket widths for the time axis, from a second to a day: the smallest that keeps the
# chart under ~60 bars over the span of the data shown.
_STEPS = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200,
          86400)
_ZERO = Decimal(0)
NONE_LABEL = "(none)"


@dataclass(frozen=True, slots=True)
class Query:
    since: float | None = None  # unix seconds; None: everything
    team: str | None = None  # only this team's requests ("" = requests without a team)
    max_rows: int = MAX_ROWS


def dashboard_data(ledger: Ledger, query: Query, *, budgets: list[dict[str, Any]] | None = None,
                   accountant: Accountant | None = None, now: float | None = None
                   ) -> dict[str, Any]:
    """Everything one dashboard view shows, as JSON-ready data."""
    now = time.time() if now is None else now
    teams = ledger.spend(["team"], query.since)
    if query.team is None:
        (totals,) = ledger.spend([], query.since)
    else:
        totals = next((t for t in teams if (t["team"] or "") == query.team), {})
    rows = [r for r in ledger.rows(query.since, limit=query.max_rows)
            if query.team is None or (r.team or "") == query.team]
    rows.reverse()  # oldest first
    bucket = bucket_seconds(rows)
    return {
        "generated_at": now,
        "since": query.since,
        "team": query.team,
        "teams": sorted(t["team"] or "" for t in teams),
        "totals": _json_row(totals),
        "rows": len(rows),
        "truncated": len(rows) >= query.max_rows,
        "bucket_s": bucket,
        "series": time_series(rows, bucket),
        "levers": lever_totals(rows),
        "cache": cache_counts(rows),
        "routing": routing_mix(rows),
        "top_prompts": top_prompts(rows, accountant),
        "recent": [request_view(r) for r in reversed(rows[-RECENT:])],
        "budgets": budgets,
    }


def bucket_seconds(rows: list[LedgerRecord]) -> float:
    if not rows:
        return 60
    span = max(rows[-1].ts - rows[0].ts, 1.0)
    return next((step for step in _STEPS if span / step <= 60), _STEPS[-1])


def time_series(rows: list[LedgerRecord], bucket: float) -> dict[str, Any]:
    """Per bucket: spend by team/model/customer, savings by lever, cost and baseline,
    requests and cache hits."""
    if not rows:
        return {"t": [], "spend": {d: {} for d in SERIES_DIMENSIONS}, "saved": {}, "cost": [],
                "baseline": [], "requests": [], "hits": []}
    start = math.floor(rows[0].ts / bucket) * bucket
    count = int((rows[-1].ts - start) // bucket) + 1
    spend: dict[str, dict[str, list[Decimal]]] = {
        d: defaultdict(lambda: [_ZERO] * count) for d in SERIES_DIMENSIONS}
    saved: dict[str, list[Decimal]] = defaultdict(lambda: [_ZERO] * count)
    cost, baseline = [_ZERO] * count, [_ZERO] * count
    requests, hits = [0] * count, [0] * count
    keep = {d: _top(rows, d) for d in SERIES_DIMENSIONS}
    for row in rows:
        i = int((row.ts - start) // bucket)
        requests[i] += 1
        hits[i] += row.cache_status in ("exact", "semantic")
        usd = row.cost_usd or _ZERO
        cost[i] += usd
        baseline[i] += row.baseline_cost_usd if row.baseline_cost_usd is not None else usd
        for dim in SERIES_DIMENSIONS:
            name = _dimension(row, dim)
            spend[dim][name if name in keep[dim] else "other"][i] += usd
        for lever, amount in row.savings.items():
            saved[lever][i] += amount
    return {
        "t": [round(start + i * bucket, 3) for i in range(count)],
        "spend": {d: {name: _floats(v) for name, v in _ordered(spend[d])}
                  for d in SERIES_DIMENSIONS},
        "saved": {lever: _floats(saved[lever]) for lever in _lever_order(saved)},
        "cost": _floats(cost),
        "baseline": _floats(baseline),
        "requests": requests,
        "hits": hits,
    }


def lever_totals(rows: list[LedgerRecord]) -> list[dict[str, Any]]:
    saved: dict[str, Decimal] = defaultdict(Decimal)
    requests: dict[str, int] = defaultdict(int)
    for row in rows:
        for lever, amount in row.savings.items():
            saved[lever] += amount
            requests[lever] += amount != 0
    return [{"lever": lever, "saved_usd": _usd(saved[lever]), "requests": requests[lever]}
            for lever in _lever_order(saved)]


def cache_counts(rows: list[LedgerRecord]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.cache_status] += 1
    hits = counts.get("exact", 0) + counts.get("semantic", 0)
    return {"by_status": dict(counts), "hit_rate": hits / len(rows) if rows else None}


def routing_mix(rows: list[LedgerRecord]) -> list[dict[str, Any]]:
    mix: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        key = (row.requested_model, row.served_model or NONE_LABEL)
        entry = mix.setdefault(key, [0, _ZERO, 0])
        entry[0] += 1
        entry[1] += row.cost_usd or _ZERO
        entry[2] += row.fallback_used
    return [{"requested_model": asked, "served_model": served, "requests": n,
             "cost_usd": to_float(usd), "fallbacks": fallbacks}
            for (asked, served), (n, usd, fallbacks)
            in sorted(mix.items(), key=lambda item: (-item[1][0], item[0]))]


def top_prompts(rows: list[LedgerRecord], accountant: Accountant | None = None
                ) -> list[dict[str, Any]]:
    """The costliest prompt templates, as ``tokenthrift audit`` groups them (dates, numbers
    and ids masked; the text only when prompts are stored in full), with the audit's
    recommendations when an accountant can re-price the rows."""
    out = []
    templates = group(rows)[:TOP_PROMPTS]
    first = min((r.ts for r in rows), default=0.0)
    last = max((r.ts for r in rows), default=0.0)
    monthly = Decimal(MONTH_S) / Decimal(str(max(MIN_WINDOW_S, last - first)))
    for template in templates:
        advice = recommend(template, accountant) if accountant is not None else []
        out.append({
            "fingerprint": template.fingerprint,
            "text": _clip(template.example or None),
            "requests": template.requests,
            "cost_usd": _usd(template.cost_usd),
            "saved_usd": _usd(sum((r.saved_usd or _ZERO for r in template.rows), _ZERO)),
            "teams": sorted({r.team or NONE_LABEL for r in template.rows}),
            "models": sorted({r.requested_model for r in template.rows}),
            "recommendations": [{"lever": r.lever, "reason": r.reason,
                                 "monthly_usd": _usd(r.saving_usd * monthly)} for r in advice],
        })
    return out


def request_view(row: LedgerRecord) -> dict[str, Any]:
    return {
        "request_id": row.request_id, "ts": row.ts, "team": row.team, "customer": row.customer,
        "requested_model": row.requested_model, "served_model": row.served_model,
        "status": row.status, "cache": row.cache_status, "stream": row.stream,
        "input_tokens": row.input_tokens, "cache_read_tokens": row.cache_read_tokens,
        "cache_write_tokens": row.cache_write_tokens, "output_tokens": row.output_tokens,
        "cost_usd": _money(row.cost_usd), "baseline_cost_usd": _money(row.baseline_cost_usd),
        "saved_usd": _money(row.saved_usd), "unattributed_usd": _money(row.unattributed_usd),
        "gateway_cost_usd": to_float(row.gateway_cost_usd),
        "savings": {k: to_float(v) for k, v in row.savings.items()},
        "latency_ms": row.latency_ms, "overhead_ms": row.overhead_ms,
        "fallback_used": row.fallback_used, "error": row.error_class,
    }


# -- helpers ---------------------------------------------------------------------------


def _dimension(row: LedgerRecord, dim: str) -> str:
    value = row.served_model if dim == "model" else getattr(row, dim)
    return value or NONE_LABEL


def _top(rows: list[LedgerRecord], dim: str) -> set[str]:
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        spend[_dimension(row, dim)] += row.cost_usd or _ZERO
    ranked = sorted(spend, key=lambda k: (-spend[k], k))
    return set(ranked if len(ranked) <= MAX_SERIES else ranked[:MAX_SERIES - 1])


def _ordered(series: dict[str, list[Decimal]]) -> list[tuple[str, list[Decimal]]]:
    """Largest total first, ``other`` last."""
    return sorted(series.items(), key=lambda kv: (kv[0] == "other", -sum(kv[1]), kv[0]))


def _lever_order(levers: Iterable[str]) -> list[str]:
    names = set(levers)
    return [x for x in LEVERS if x in names] + sorted(names - set(LEVERS))


def _usd(value: Decimal) -> float:
    return to_float(value) or 0.0


def _floats(values: list[Decimal]) -> list[float]:
    return [_usd(v) for v in values]


def _money(value: Decimal | None) -> float | None:
    return None if value is None else to_float(value)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: to_float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _clip(text: str | None, limit: int = 240) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"
