"""Spend and savings reports add up to what was recorded, computed here by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tokenthrift.ledger import LEVERS, Ledger, LedgerRecord
from tokenthrift.ledger.reports import (
    parse_dimensions,
    parse_since,
    savings_report,
    spend_report,
)

MakeRecord = Callable[..., LedgerRecord]

DAY1 = datetime(2026, 11, 2, 23, 59, 59, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 3, 0, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def four_requests(ledger: Ledger, make_record: MakeRecord) -> Ledger:
    """search: two requests (one unpriced), support: one, no team: one."""
    ledger.write([
        make_record(request_id="r1", ts=DAY1, team="search", customer="acme", user="ann",
                    key_id="k1", task="rag", tags=["a", "b"], served_model="gpt-4o-mini",
                    input_tokens=100, cache_read_tokens=50, cache_write_5m_tokens=10,
                    cache_write_1h_tokens=5, output_tokens=20, reasoning_tokens=5,
                    cost_usd=D("0.010"), baseline_cost_usd=D("0.040"), saved_usd=D("0.030"),
                    savings={"routing": D("0.025"), "prompt_cache": D("0.005")}),
        make_record(request_id="r2", ts=DAY1, team="search", customer="acme", key_id="k1",
                    tags=["a"], served_model="llama-local", input_tokens=7, output_tokens=3,
                    cost_usd=None, baseline_cost_usd=None, saved_usd=None),
        make_record(request_id="r3", ts=DAY2, team="support", customer="globex", key_id="k2",
                    task="chat", served_model="gpt-4o", input_tokens=1000, output_tokens=100,
                    cost_usd=D("0.002"), baseline_cost_usd=D("0.020"), saved_usd=D("0.018"),
                    savings={"exact_cache": D("0.018")}, cache_status="exact"),
        make_record(request_id="r4", ts=DAY2 + 3600, tags=["b"], served_model="gpt-4o",
                    input_tokens=400, output_tokens=40,
                    cost_usd=D("0.005"), baseline_cost_usd=D("0.005"), saved_usd=D("0.0")),
    ])  # fmt: skip
    return ledger


def pick(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows]


def test_spend_by_team_sums_known_costs_and_counts_unknown_ones(four_requests: Ledger) -> None:
    rows = four_requests.spend(["team"])
    assert pick(rows, "team", "requests", "unknown_cost_requests") == [
        ("search", 2, 1),
        (None, 1, 0),
        ("support", 1, 0),
    ]
    search = rows[0]
    assert search["cost_usd"] == D("0.010")
    assert search["baseline_cost_usd"] == D("0.040")
    assert search["saved_usd"] == D("0.030")
    assert pick([search], "input_tokens", "cache_read_tokens", "cache_write_tokens",
                "output_tokens", "reasoning_tokens") == [(107, 50, 15, 23, 5)]  # fmt: skip


def test_a_group_with_only_unpriced_requests_costs_zero_known_dollars(
    four_requests: Ledger,
) -> None:
    (llama,) = [r for r in four_requests.spend(["model"]) if r["model"] == "llama-local"]
    assert (llama["requests"], llama["unknown_cost_requests"]) == (1, 1)
    assert llama["cost_usd"] == 0 and isinstance(llama["cost_usd"], D)
    assert four_requests.get("r2").cost_usd is None  # type: ignore[union-attr]


def test_spend_by_tag_counts_a_request_under_each_of_its_tags(four_requests: Ledger) -> None:
    rows = four_requests.spend(["tag"])
    # b: r1 + r4 = 0.015; a: r1 + r2(unpriced) = 0.010; untagged: r3 = 0.002
    assert pick(rows, "tag", "requests", "unknown_cost_requests") == [
        ("b", 2, 0),
        ("a", 2, 1),
        (None, 1, 0),
    ]
    assert [r["cost_usd"] for r in rows] == [D("0.015"), D("0.010"), D("0.002")]


def test_spend_by_day_uses_utc_dates_in_ascending_order(four_requests: Ledger) -> None:
    rows = four_requests.spend(["day"])
    assert pick(rows, "day", "requests") == [("2026-11-02", 2), ("2026-11-03", 2)]
    assert [r["cost_usd"] for r in rows] == [D("0.010"), D("0.007")]


def test_spend_by_several_dimensions(four_requests: Ledger) -> None:
    rows = four_requests.spend(["day", "team"])
    assert pick(rows, "day", "team", "requests") == [
        ("2026-11-02", "search", 2),
        ("2026-11-03", None, 1),  # 0.005 before support's 0.002
        ("2026-11-03", "support", 1),
    ]


@pytest.mark.parametrize(
    ("dimension", "first"),
    [("customer", "acme"), ("user", "ann"), ("key", "k1"), ("task", "rag"),
     ("model", "gpt-4o-mini")],
)  # fmt: skip
def test_every_spend_dimension_names_its_column(
    four_requests: Ledger, dimension: str, first: str
) -> None:
    rows = four_requests.spend([dimension])
    assert rows[0][dimension] == first
    assert sum(r["requests"] for r in rows) == 4


def test_since_keeps_only_later_requests(four_requests: Ledger) -> None:
    (total,) = four_requests.spend([], since=DAY2)
    assert total["requests"] == 2
    assert total["cost_usd"] == D("0.007")


def test_unknown_dimension_is_refused(four_requests: Ledger) -> None:
    with pytest.raises(ValueError, match="colour"):
        four_requests.spend(["colour"])


def test_spend_report_total_counts_a_multi_tag_request_once(four_requests: Ledger) -> None:
    report = spend_report(four_requests, ["tag"])
    assert sum(r["requests"] for r in report.rows) == 5  # r1 is in "a" and "b"
    assert report.total["requests"] == 4
    assert report.total["unknown_cost_requests"] == 1
    assert report.total["cost_usd"] == D("0.017")
    assert report.columns[:3] == ["tag", "requests", "cost_usd"]


def test_savings_by_lever_has_one_row_per_lever(four_requests: Ledger) -> None:
    rows = four_requests.savings("lever")
    assert pick(rows, "lever", "requests") == [
        ("routing", 1),
        ("exact_cache", 1),
        ("prompt_cache", 1),
        ("semantic_cache", 0),
        ("compression", 0),
        ("batch", 0),
    ]
    assert [r["saved_usd"] for r in rows] == [D("0.025"), D("0.018"), D("0.005"), 0, 0, 0]
    report = savings_report(four_requests, "lever")
    assert report.total["saved_usd"] == D("0.048")
    assert report.total["requests"] is None  # a request can save through several levers


def test_savings_by_team_has_baseline_cost_saved_and_each_lever(four_requests: Ledger) -> None:
    rows = four_requests.savings("team")
    assert [r["team"] for r in rows] == ["search", "support", None]
    search = rows[0]
    assert (search["requests"], search["unknown_cost_requests"]) == (2, 1)
    assert search["baseline_cost_usd"] == D("0.040")
    assert search["cost_usd"] == D("0.010")
    assert search["saved_usd"] == D("0.030")
    assert search["saved_routing_usd"] == D("0.025")
    assert search["saved_prompt_cache_usd"] == D("0.005")
    assert search["saved_exact_cache_usd"] == 0
    assert rows[1]["saved_exact_cache_usd"] == D("0.018")
    report = savings_report(four_requests, "model")
    assert report.total["saved_usd"] == D("0.048")
    assert report.total["requests"] == 4


def test_empty_ledger_reports_nothing_but_a_zero_total(ledger: Ledger) -> None:
    report = spend_report(ledger, ["team"])
    assert report.rows == []
    assert report.total["requests"] == 0 and report.total["cost_usd"] == D(0)


# -- parsing the CLI's words -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("7d", 7 * 86400), ("24h", 86400), ("30m", 1800), ("90s", 90), ("2w", 14 * 86400),
     ("1.5h", 5400)],
)  # fmt: skip
def test_parse_since_relative(text: str, seconds_ago: float) -> None:
    assert parse_since(text, now=1_800_000_000.0) == 1_800_000_000.0 - seconds_ago


def test_parse_since_dates_are_utc() -> None:
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert parse_since("2026-11-01T08:30") == datetime(2026, 11, 1, 8, 30, tzinfo=UTC).timestamp()
    assert parse_since("2026-11-01T08:30+01:00") == datetime(2026, 11, 1, 7, 30,
                                                              tzinfo=UTC).timestamp()  # fmt: skip


@pytest.mark.parametrize("text", ["yesterday", "7", "-3d", ""])
def test_parse_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text)


def test_dimensions_may_be_repeated_or_comma_separated() -> None:
    allowed = ("team", "tag", "day")
    assert parse_dimensions(["team,tag", "day", "Team"], allowed) == ["team", "tag", "day"]
    with pytest.raises(ValueError, match="model"):
        parse_dimensions(["team,model"], allowed)


# -- exact sums --------------------------------------------------------------------------

# Amounts a float sum gets wrong, the smallest unit the ledger keeps, negative savings, and
# rows big enough that their pico-USD total passes 2^63 (SQLite's SUM would overflow).
AWKWARD = [D("0.1"), D("0.2"), D("0.3"), D("0.000000000001"), D("0.00001875"),
           D("-0.000000000007"), D("1234.567890123456"), D("4999999.999999999999"),
           D("4999999.999999999999"), D("0.000000123456")]  # fmt: skip


@pytest.fixture
def awkward(ledger: Ledger, make_record: MakeRecord) -> tuple[Ledger, list[LedgerRecord]]:
    records = []
    for i, cost in enumerate(AWKWARD * 3):
        saving = AWKWARD[(i + 3) % len(AWKWARD)]
        records.append(make_record(
            team=("a", "b", None)[i % 3], tags=["x"] if i % 2 else [],
            cost_usd=cost, baseline_cost_usd=cost + saving + D("0.000000000003"),
            saved_usd=saving,
            savings={("routing", "exact_cache", "distill")[i % 3]: saving},
            gateway_cost_usd=D("0.000000000001") * i,
        ))  # fmt: skip
    ledger.write(records)
    return ledger, records


def total_of(records: list[LedgerRecord], field: str) -> D:
    return sum((getattr(r, field) for r in records), D(0))


def test_spend_totals_are_the_exact_decimal_sums_of_the_rows(
    awkward: tuple[Ledger, list[LedgerRecord]],
) -> None:
    ledger, records = awkward
    assert total_of(records, "cost_usd") > D(2) ** 63 / 10**12  # past SQLite's int64 SUM
    report = spend_report(ledger, ["team"])
    for field in ("cost_usd", "baseline_cost_usd", "saved_usd", "unattributed_usd",
                  "gateway_cost_usd"):  # fmt: skip
        assert report.total[field] == total_of(records, field), field
        assert sum((row[field] for row in report.rows), D(0)) == total_of(records, field)
    assert report.total["unattributed_usd"] == D("0.000000000003") * len(records)
    by_tag = {row["tag"]: row["cost_usd"] for row in ledger.spend(["tag"])}
    assert by_tag["x"] == total_of([r for r in records if r.tags], "cost_usd")


def test_savings_by_lever_total_is_the_sum_of_the_rows_saved(
    awkward: tuple[Ledger, list[LedgerRecord]],
) -> None:
    ledger, records = awkward
    report = savings_report(ledger, "lever")
    assert report.total["saved_usd"] == total_of(records, "saved_usd")
    assert sum((row["saved_usd"] for row in report.rows), D(0)) == report.total["saved_usd"]
    levers = [row["lever"] for row in report.rows]
    # pipeline order for ties, then levers registered elsewhere alphabetically
    assert set(levers) == {*LEVERS, "distill"} and len(levers) == 7
    extra = {label: usd for label, usd, _ in report.extra}
    assert extra == {"unattributed_usd": D("0.000000000003") * len(records),
                     "gateway_cost_usd": total_of(records, "gateway_cost_usd")}  # fmt: skip
    by_team = savings_report(ledger, "team")
    assert by_team.total["saved_usd"] == total_of(records, "saved_usd")
    assert by_team.total["saved_distill_usd"] == sum(
        (r.savings.get("distill", D(0)) for r in records), D(0)
    )
    assert by_team.metric_columns[-1] == "saved_distill_usd"


def test_savings_by_lever_lists_levers_in_pipeline_order_then_others(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    ledger.write([make_record(savings={"zeta": D(1), "alpha": D(1)})])
    assert [row["lever"] for row in ledger.savings("lever")] == ["alpha", "zeta", *LEVERS]
