"""Do report totals equal the exact decimal sum of a million rows? And how long do they take?

Writes ``--rows`` records with awkward amounts (0.1, 0.2, $0.01875/MTok token prices, a
pico-dollar, negative savings, rows of millions of dollars so the pico-USD total passes
2^63) into a fresh SQLite ledger, then compares ``report spend`` and ``report savings
--by lever`` totals with ``sum()`` over the same ``Decimal``s, and times the reports.

Run: ``.venv/bin/python benchmarks/ledger_exact_sums.py --rows 1000000``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from tokenthrift.ledger import LedgerRecord, open_ledger
from tokenthrift.ledger.reports import savings_report, spend_report

AMOUNTS = [Decimal(x) for x in ("0.1", "0.2", "0.00001875", "0.000000000001", "0.3",
                                "1234.567890123456", "0.000207", "0.0000000375")]  # fmt: skip
SAVINGS = [Decimal(x) for x in ("0.003243", "-0.000000000007", "0.1", "0.00000001875")]
BIG = Decimal("4999999.999999999999")  # every 100,000th row


def record(i: int) -> LedgerRecord:
    cost = BIG if i % 100_000 == 0 else AMOUNTS[i % len(AMOUNTS)]
    saved = SAVINGS[i % len(SAVINGS)]
    return LedgerRecord(
        request_id=f"r{i}", ts=1_793_000_000.0 + i, team=f"team-{i % 7}",
        requested_model="gpt-4o", served_model="gpt-4o-mini", wire_format="openai",
        endpoint="chat.completions", cost_usd=cost, baseline_cost_usd=cost + saved,
        saved_usd=saved, savings={("routing", "exact_cache", "prompt_cache")[i % 3]: saved},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tt-sums-") as tmp:
        ledger = open_ledger(str(Path(tmp) / "ledger.db"))
        cost = saved = Decimal(0)
        started = time.perf_counter()
        for start in range(0, args.rows, 10_000):
            batch = [record(i) for i in range(start, min(args.rows, start + 10_000))]
            cost += sum((r.cost_usd or Decimal(0) for r in batch), Decimal(0))
            saved += sum((r.saved_usd or Decimal(0) for r in batch), Decimal(0))
            ledger.write(batch)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        spend = spend_report(ledger, ["team"])
        spend_s = time.perf_counter() - started
        started = time.perf_counter()
        levers = savings_report(ledger, "lever")
        levers_s = time.perf_counter() - started
        rows_cost = sum((r["cost_usd"] for r in spend.rows), Decimal(0))
        rows_saved = sum((r["saved_usd"] for r in levers.rows), Decimal(0))
        print(f"exact cost sum      {cost}")
        print(f"report spend total  {spend.total['cost_usd']}  (rows add to {rows_cost})")
        print(f"exact saved sum     {saved}")
        print(f"savings by lever    {levers.total['saved_usd']}  (rows add to {rows_saved})")
        exact = spend.total["cost_usd"] == cost == rows_cost and (
            levers.total["saved_usd"] == saved == rows_saved
        )
        print(f"exact: {exact}; report spend --by team {spend_s:.2f} s, "
              f"report savings --by lever {levers_s:.2f} s")  # fmt: skip
        float_total = sum(float(r.cost_usd or 0) for r in map(record, range(0, args.rows, 1)))
        print(f"a float sum of the same costs: {float_total!r}")
        ledger.close()


if __name__ == "__main__":
    main()
