"""``tokenthrift audit``: ledger traffic grouped by prompt template (variable parts
masked), ranked by cost, with what would save money on each template."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tokenthrift.accounting.billable import Billable
from tokenthrift.assembly import build_accountant
from tokenthrift.audit.report import MONTH_S, audit
from tokenthrift.audit.templates import group, static_prefix
from tokenthrift.cli.main import cli
from tokenthrift.config import GatewayConfig
from tokenthrift.ledger.location import open_ledger
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.levers.prompt_cache.template import mask, template_fingerprint
from tokenthrift.types import Usage

NOW = 1_800_000_000.0
ACCOUNTANT = build_accountant(GatewayConfig.embedded_default())
RULES = " ".join(f"Rule {i}: answer questions about topic {i} politely." for i in range(300))
_ids = iter(range(1_000_000))


def record(model: str, usage: Usage, ts: float, *, prompt_text: str | None = None,
           notes: dict[str, Any] | None = None, task: str | None = None,
           fingerprint: str | None = None, stream: bool = True, tags: list[str] | None = None
           ) -> LedgerRecord:
    cost = ACCOUNTANT.price(Billable(model, usage))
    return LedgerRecord(
        request_id=f"req_{next(_ids):06d}", ts=ts, requested_model=model, served_model=model,
        provider="emu", wire_format="openai", endpoint="chat.completions",
        input_tokens=usage.input_tokens, cache_read_tokens=usage.cache_read_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens, output_tokens=usage.output_tokens,
        cost_usd=cost, baseline_cost_usd=cost, task=task, notes=notes or {},
        prompt_text=prompt_text, prompt_fingerprint=fingerprint or f"fp{next(_ids)}",
        stream=stream, tags=tags or [])


def support_rows(n: int = 120) -> list[LedgerRecord]:
    """A support bot on Claude: the date and customer id at the top of a 3,000-token system
    prompt, never cached; one request every 30 seconds."""
    rows = []
    for i in range(n):
        system = f"Today is 2026-03-{i % 28 + 1:02d}. Customer id {40000 + i}.\n{RULES}"
        text = f"{system}\n\nuser: where is my order number {i}?"
        rows.append(record("claude-sonnet-4-5", Usage(input_tokens=3100, output_tokens=200),
                           NOW - 3600 + 30 * i, prompt_text=text))
    return rows


def classifier_rows(n: int = 200) -> list[LedgerRecord]:
    """A sentiment classifier on gpt-4o run in a loop (bursts, not streamed), with the
    prompt-cache lever's template note; a tenth of the prompts repeat."""
    note = {"prompt_cache": {"template": "c1a55" * 3 + "f", "static_tokens": 300,
                             "example": "Classify the sentiment of the review."}}
    return [record("gpt-4o", Usage(input_tokens=400, output_tokens=5), NOW - 1800 + 0.2 * i,
                   notes=note, task="classification", fingerprint=f"review{i % 180}",
                   stream=False)
            for i in range(n)]


def small_rows(n: int = 50) -> list[LedgerRecord]:
    return [record("gpt-4o-mini", Usage(input_tokens=100, output_tokens=20), NOW - 600 + i,
                   prompt_text=f"user: translate word {i}") for i in range(n)]


def test_templates_mask_dates_numbers_and_ids() -> None:
    a = "Today is 2026-03-01 10:15. Customer 4711, order ord_8f3a9b2c1d4e, mail a.b@c.io"
    b = "Today is 2025-12-24 09:00. Customer 12, order ord_77aa00bb11cc, mail x@y.org"
    assert mask(a) == mask(b) == ("Today is <date>. Customer <n>, order <id>, mail <email>")
    assert template_fingerprint(a) == template_fingerprint(b)
    assert template_fingerprint(a) != template_fingerprint("Yesterday was 2026-03-01.")


def test_static_prefix_of_a_stored_prompt() -> None:
    assert static_prefix("You are terse.\n\nuser: hi\nassistant: yo") == "You are terse."
    assert static_prefix("user: hi there") == "user: hi there"


def test_grouping_merges_a_template_and_ranks_by_cost() -> None:
    rows = small_rows() + classifier_rows() + support_rows()
    templates = group(rows)
    assert [t.requests for t in templates[:2]] == [120, 200]  # support costs the most
    support = templates[0]
    assert "<date>" in support.example and "2026-03" not in support.example
    assert "<n>" in support.example and "40000" not in support.example
    costs = [t.cost_usd for t in templates]
    assert costs == sorted(costs, reverse=True)
    # 50 translations with nothing but a number varying are one template
    assert templates[-1].requests == 50


def recommendations(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["lever"]: r for r in entry["recommendations"]}


def test_recommendations_with_monthly_savings() -> None:
    rows = support_rows() + classifier_rows() + small_rows()
    entries = audit(rows, ACCOUNTANT, since=NOW - 30 * 86400, now=NOW, top=5)
    assert [set(e) for e in entries] == [{"fingerprint", "example", "requests", "input_tokens",
                                          "output_tokens", "cost_usd", "recommendations"}] * 3
    support, classifier, small = entries
    assert support["requests"] == 120 and support["input_tokens"] == 120 * 3100
    # the support prompt has no static_tokens note (no lever): cacheability is unknown,
    # but its context is long enough to compress
    assert "compression" in recommendations(support)
    levers = recommendations(classifier)
    assert {"routing", "exact_cache", "batch"} <= set(levers)
    # window: the ledger's traffic started an hour ago, so an hour scales to a month
    scale = Decimal(MONTH_S) / Decimal(3600)
    repeats = sum((r.cost_usd or Decimal(0)) for r in classifier_rows()[180:])
    assert levers["exact_cache"]["estimated_monthly_saving_usd"] == pytest.approx(
        float(repeats * scale), rel=1e-9)
    assert "20 of 200 requests repeat" in levers["exact_cache"]["reason"]
    assert "gpt-4o-mini" in levers["routing"]["reason"]
    assert "bursts" in levers["batch"]["reason"]
    savings = [r["estimated_monthly_saving_usd"] for r in classifier["recommendations"]]
    assert savings == sorted(savings, reverse=True) and all(s > 0 for s in savings)
    assert small["recommendations"] == []  # positive control: nothing worth doing


def test_an_uncached_static_prefix_is_recommended_for_caching() -> None:
    note = {"prompt_cache": {"template": "s" * 16, "static_tokens": 3000,
                             "varying_prefix_at_token": 5}}
    rows = [record("claude-sonnet-4-5", Usage(input_tokens=3100, output_tokens=200),
                   NOW - 3000 + 30 * i, notes=note) for i in range(100)]
    cached = [record("claude-sonnet-4-5", Usage(input_tokens=100, cache_read_tokens=3000,
                                                output_tokens=200),
                     NOW - 3000 + 30 * i, notes={"prompt_cache": {**note["prompt_cache"],
                                                                  "template": "t" * 16}})
              for i in range(100)]
    entries = audit(rows + cached, ACCOUNTANT, since=NOW - 86400, now=NOW)
    by_fp = {e["fingerprint"]: recommendations(e) for e in entries}
    advice = by_fp["s" * 16]["prompt_cache"]
    assert "only 0% of it was billed at the cached rate" in advice["reason"]
    assert "from token 5" in advice["reason"]
    # one write then 99 reads instead of 100 uncached prefixes
    price = lambda u: ACCOUNTANT.price(Billable("claude-sonnet-4-5", u))  # noqa: E731
    per_read = price(Usage(input_tokens=3000)) - price(Usage(cache_read_tokens=3000))
    premium = price(Usage(cache_write_5m_tokens=3000)) - price(Usage(input_tokens=3000))
    window = Decimal(MONTH_S) / Decimal(3600)
    assert advice["estimated_monthly_saving_usd"] == pytest.approx(
        float((99 * per_read - premium) * window), rel=1e-9)
    assert "prompt_cache" not in by_fp["t" * 16]  # already cached: nothing to gain


def test_cli_json_and_table(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    import time

    shift = time.time() - NOW  # the CLI audits up to now
    rows = support_rows() + classifier_rows() + small_rows()
    for row in rows:
        row.ts += shift
    ledger.write(rows)
    ledger.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "--ledger", f"sqlite:///{tmp_path}/ledger.db",
                                 "--top", "2", "--format", "json", "--since", "7d"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["requests"] for e in entries] == [120, 200]
    table = runner.invoke(cli, ["audit", "--ledger", f"sqlite:///{tmp_path}/ledger.db"])
    assert table.exit_code == 0 and "1. " in table.output and "/month" in table.output
    bad = runner.invoke(cli, ["audit", "--since", "yesterday-ish"])
    assert bad.exit_code == 2 and "cannot read" in bad.output
