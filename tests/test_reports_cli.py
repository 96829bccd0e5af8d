"""``tokenthrift report spend|savings`` as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenthrift.cli.report_cmd import report
from tokenthrift.ledger import LedgerRecord, open_ledger

MakeRecord = Callable[..., LedgerRecord]


@pytest.fixture
def ledger_path(tmp_path: Path, make_record: MakeRecord) -> Path:
    path = tmp_path / "ledger.db"
    ledger = open_ledger(str(path))
    ledger.write([
        make_record(team="search", tags=["a"], cost_usd=0.25, baseline_cost_usd=1.0,
                    saved_usd=0.75, savings={"routing": 0.75}, input_tokens=10),
        make_record(team="search", tags=["a", "b"], cost_usd=None, baseline_cost_usd=None,
                    input_tokens=5),
        make_record(team="support", cost_usd=0.0012346, baseline_cost_usd=0.0012346,
                    saved_usd=0.0, input_tokens=1),
    ])  # fmt: skip
    ledger.close()
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(report, list(args), env=env)
    return result.exit_code, result.output


def test_spend_json_has_the_group_key_named_by_dimension(ledger_path: Path) -> None:
    code, out = run("spend", "--by", "team", "--format", "json", "--ledger", str(ledger_path))
    assert code == 0, out
    rows = json.loads(out)
    assert [(r["team"], r["requests"], r["cost_usd"], r["unknown_cost_requests"])
            for r in rows] == [("search", 2, 0.25, 1), ("support", 1, 0.0012346, 0)]  # fmt: skip
    assert {"baseline_cost_usd", "saved_usd", "input_tokens", "cache_read_tokens",
            "cache_write_tokens", "output_tokens", "reasoning_tokens"} <= rows[0].keys()  # fmt: skip


def test_spend_csv_by_several_dimensions(ledger_path: Path) -> None:
    code, out = run("spend", "--by", "team,tag", "--format", "csv", "--ledger", str(ledger_path))
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["team"], r["tag"], r["requests"]) for r in rows] == [
        ("search", "a", "2"),
        ("support", "", "1"),  # untagged: empty cell
        ("search", "b", "1"),
    ]
    assert list(rows[0])[:4] == ["team", "tag", "requests", "cost_usd"]


def test_spend_table_has_money_to_six_decimals_and_a_total_row(ledger_path: Path) -> None:
    code, out = run("spend", "--by", "tag", "--ledger", str(ledger_path))
    assert code == 0, out
    lines = out.splitlines()
    (total,) = [line for line in lines if "total" in line]
    assert "0.251235" in total  # 0.25 + 0.0012346, counted once although r2 has two tags
    assert " 3 " in total  # three requests, not four tag rows
    assert any("(none)" in line and "0.001235" in line for line in lines)


def test_savings_by_lever_table_and_json(ledger_path: Path) -> None:
    code, out = run("savings", "--ledger", str(ledger_path))
    assert code == 0, out
    assert "routing" in out and "0.750000" in out and "total" in out
    code, out = run("savings", "--by", "lever", "--format", "json", "--ledger", str(ledger_path))
    rows = json.loads(out)
    assert rows[0] == {"lever": "routing", "saved_usd": 0.75, "requests": 1}
    assert len(rows) == 6


def test_savings_by_team_csv_has_a_column_per_lever(ledger_path: Path) -> None:
    code, out = run("savings", "--by", "team", "--format", "csv", "--ledger", str(ledger_path))
    assert code == 0, out
    header = next(csv.reader(io.StringIO(out)))
    assert header[:6] == ["team", "requests", "baseline_cost_usd", "cost_usd",
                          "unknown_cost_requests", "saved_usd"]  # fmt: skip
    assert "saved_routing_usd" in header and "saved_batch_usd" in header


def test_since_filters_rows(ledger_path: Path) -> None:
    # the records are from 2026-10-26
    code, out = run("spend", "--since", "2026-10-27", "--format", "json",
                    "--ledger", str(ledger_path))  # fmt: skip
    assert code == 0, out
    assert json.loads(out) == []


def test_ledger_location_from_env_and_from_the_default_path(
    ledger_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run("spend", "--format", "json", env={"TOKENTHRIFT_LEDGER": str(ledger_path)})
    assert code == 0 and len(json.loads(out)) == 2
    monkeypatch.delenv("TOKENTHRIFT_LEDGER", raising=False)
    workdir = tmp_path / "work"
    (workdir / ".tokenthrift").mkdir(parents=True)
    ledger_path.rename(workdir / ".tokenthrift" / "ledger.db")
    monkeypatch.chdir(workdir)
    code, out = run("spend", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 2


def test_missing_ledger_is_a_clear_error_not_a_new_file(tmp_path: Path) -> None:
    code, out = run("spend", "--ledger", str(tmp_path / "nope.db"))
    assert code == 1
    assert "no ledger at" in out
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    "args",
    [("spend", "--by", "colour"), ("spend", "--since", "yesterday"),
     ("savings", "--by", "tag"), ("spend", "--format", "xml")],
)  # fmt: skip
def test_bad_options_are_usage_errors(ledger_path: Path, args: tuple[str, ...]) -> None:
    code, out = run(*args, "--ledger", str(ledger_path))
    assert code == 2, out


def test_json_and_csv_money_parse_back_to_the_exact_sums(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    amounts = [Decimal("0.1"), Decimal("0.2"), Decimal("0.00001875"), Decimal("1e-12"),
               Decimal("3000000.000000000001"), Decimal("4000000.5"), Decimal("3000000")]  # fmt: skip
    path = tmp_path / "exact.db"
    ledger = open_ledger(str(path))
    ledger.write([make_record(team="t", cost_usd=a, baseline_cost_usd=a * 2, saved_usd=a,
                              savings={"routing": a}) for a in amounts])  # fmt: skip
    ledger.close()
    exact = sum(amounts, Decimal(0))  # 10000000.300018750001: past 2^63 pico-USD
    code, out = run("spend", "--by", "team", "--format", "json", "--ledger", str(path))
    assert code == 0, out
    assert "e-" not in out.lower() and "e+" not in out.lower()
    (row,) = json.loads(out, parse_float=Decimal)
    assert (row["cost_usd"], row["saved_usd"], row["baseline_cost_usd"]) == (
        exact,
        exact,
        2 * exact,
    )
    code, out = run("savings", "--by", "lever", "--format", "json", "--ledger", str(path))
    rows = json.loads(out, parse_float=Decimal)
    assert sum(Decimal(r["saved_usd"]) for r in rows) == exact
    code, out = run("spend", "--by", "team", "--format", "csv", "--ledger", str(path))
    (csv_row,) = csv.DictReader(io.StringIO(out))
    assert Decimal(csv_row["cost_usd"]) == exact


def test_tables_show_what_is_not_a_lever_saving_apart(tmp_path: Path,
                                                      make_record: MakeRecord) -> None:  # fmt: skip
    path = tmp_path / "fallback.db"
    ledger = open_ledger(str(path))
    # a fallback to a cheaper model: 0.4 saved that no lever earned; 0.01 of embeddings
    ledger.write([make_record(cost_usd=Decimal("0.5"), baseline_cost_usd=Decimal("1"),
                              saved_usd=Decimal("0.1"), savings={"routing": Decimal("0.1")},
                              gateway_cost_usd=Decimal("0.01"))])  # fmt: skip
    ledger.close()
    code, out = run("savings", "--ledger", str(path))
    assert code == 0, out
    (line,) = [x for x in out.splitlines() if x.startswith("unattributed")]
    assert "0.400000" in line and "not a lever saving" in line
    assert any(x.startswith("gateway $") and "0.010000" in x for x in out.splitlines())
    code, out = run("spend", "--format", "csv", "--ledger", str(path))
    (row,) = csv.DictReader(io.StringIO(out))
    assert (row["unattributed_usd"], row["gateway_cost_usd"]) == ("0.4", "0.01")
