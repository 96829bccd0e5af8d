"""The audit report: the top templates by cost with their recommendations, each saving
scaled from the audited window to a 30-day month."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..accounting.settlement import Accountant
from ..ledger.money import plain
from ..ledger.record import LedgerRecord
from .recommend import recommend
from .templates import group

MONTH_S = 30 * 86400
# A window shorter than this is scaled as if it were this long (a burst of test traffic
# must not be multiplied into a fantasy monthly figure).
MIN_WINDOW_S = 3600.0


def audit(rows: Iterable[LedgerRecord], accountant: Accountant, *, since: float, now: float,
          top: int = 5) -> list[dict[str, Any]]:
    """The JSON ``tokenthrift audit`` prints: one entry per template, costliest first."""
    rows = list(rows)
    first = min((r.ts for r in rows), default=now)
    window = max(MIN_WINDOW_S, now - max(since, first))
    monthly = Decimal(MONTH_S) / Decimal(str(window))
    out = []
    for template in group(rows)[:top]:
        out.append({
            "fingerprint": template.fingerprint,
            "example": template.example,
            "requests": template.requests,
            "input_tokens": template.input_tokens,
            "output_tokens": template.output_tokens,
            "cost_usd": usd(template.cost_usd),
            "recommendations": [
                {"lever": r.lever, "estimated_monthly_saving_usd": usd(r.saving_usd * monthly),
                 "reason": r.reason}
                for r in recommend(template, accountant)
            ],
        })
    return out


def usd(value: Decimal) -> float:
    return float(plain(value.quantize(Decimal("1e-10"))))


def render_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no chat traffic in the window"
    lines = []
    for rank, entry in enumerate(entries, 1):
        tokens = entry["input_tokens"] + entry["output_tokens"]
        lines.append(f"{rank}. {entry['fingerprint']}  {entry['requests']:,} requests  "
                     f"{tokens:,} tokens  ${entry['cost_usd']:,.6f}")
        if entry["example"]:
            lines.append(f"   {entry['example']}")
        for r in entry["recommendations"]:
            lines.append(f"   - {r['lever']:<13} ~${r['estimated_monthly_saving_usd']:,.2f}/month"
                         f"  {r['reason']}")
        if not entry["recommendations"]:
            lines.append("   (nothing to recommend)")
    return "\n".join(lines)
