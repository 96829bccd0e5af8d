"""`tokenthrift demo`: the built-in workload replayed through a real in-process gateway,
with every number read back from the ledger."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.demo.runner import DemoOptions, DemoResult, run_demo
from tokenthrift.demo.workload import (
    ENGINEERING_HANDBOOK,
    SUPPORT_POLICY,
    TEAMS,
    DemoRequest,
    build_workload,
)
from tokenthrift.ledger import LedgerRecord, open_ledger
from tokenthrift.tokens import count_text

N = 40


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    data_dir = tmp_path_factory.mktemp("demo")
    return run_demo(DemoOptions(requests=N, concurrency=4, data_dir=str(data_dir)))


@pytest.fixture(scope="module")
def rows(demo_run: DemoResult) -> dict[str, tuple[DemoRequest, LedgerRecord]]:
    """Each request the demo sent, with its ledger row, by request id."""
    ledger = open_ledger(str(demo_run.options.ledger_path))
    try:
        found: dict[str, tuple[DemoRequest, LedgerRecord]] = {}
        for outcome in demo_run.outcomes:
            assert outcome.request_id, f"request #{outcome.request.index} got no request id"
            record = ledger.get(outcome.request_id)
            assert record is not None, f"no ledger row for {outcome.request_id}"
            found[outcome.request_id] = (outcome.request, record)
        return found
    finally:
        ledger.close()


def test_workload_is_deterministic_per_seed() -> None:
    bodies = [r.body for r in build_workload(60, seed=3)]
    assert bodies == [r.body for r in build_workload(60, seed=3)]
    assert bodies != [r.body for r in build_workload(60, seed=4)]


def test_workload_exercises_every_lever_and_both_wire_formats() -> None:
    workload = build_workload(300)
    kinds = Counter(r.kind for r in workload)
    assert kinds["repeat"] > 0 and kinds["reworded"] > 0
    assert {r.wire for r in workload} == {"openai", "anthropic"}
    assert {r.team for r in workload} == {t.name for t in TEAMS}
    assert {r.customer for r in workload} == {"acme", "globex", "initech", "umbrella"}
    assert any(r.wire == "openai" and r.model.startswith("claude") for r in workload)
    assert any(r.wire == "anthropic" and r.model.startswith("gpt") for r in workload)
    assert any(r.stream for r in workload) and not all(r.stream for r in workload)
    openai_streams = [r for r in workload if r.stream and r.wire == "openai"]
    # Streams whose client asked for usage and streams whose client did not.
    assert {"stream_options" in r.body for r in openai_streams} == {True, False}
    assert any(r.attribution_in_metadata for r in workload)
    assert any(isinstance(r.body.get("system"), list) for r in workload)  # cache_control


def test_exact_repeats_send_identical_bodies() -> None:
    workload = build_workload(300)
    fresh = {json.dumps(r.body, sort_keys=True) for r in workload if r.kind != "repeat"}
    repeats = [r for r in workload if r.kind == "repeat"]
    assert repeats
    assert all(json.dumps(r.body, sort_keys=True) in fresh for r in repeats)


def test_shared_system_prompts_are_long_enough_to_cache() -> None:
    for prompt in (SUPPORT_POLICY, ENGINEERING_HANDBOOK):
        assert count_text(prompt, "gpt-4o") > 1500
        assert count_text(prompt, "claude-sonnet-4-5") > 1500


def test_every_request_succeeds_and_has_one_ledger_row(demo_run: DemoResult) -> None:
    assert [o.error for o in demo_run.failures] == []
    assert len(demo_run.outcomes) == N
    assert demo_run.ledger_rows == N
    assert demo_run.by_team.total["requests"] == N
    ledger = open_ledger(str(demo_run.options.ledger_path))
    try:
        assert len(ledger.rows(limit=10 * N)) == N
    finally:
        ledger.close()


def test_ledger_attributes_teams_models_and_wire_formats(
    rows: dict[str, tuple[DemoRequest, LedgerRecord]],
) -> None:
    records = [record for _, record in rows.values()]
    assert len({r.team for r in records}) >= 3
    assert len({r.served_model for r in records}) >= 4
    assert {r.wire_format for r in records} == {"openai", "anthropic"}
    for request, record in rows.values():
        # Attribution arrives by header or by OpenAI metadata / Anthropic metadata.user_id.
        assert (record.team, record.customer, record.task) == (
            request.team,
            request.customer,
            request.task,
        )
        assert record.user is not None and record.user.startswith(f"u-{request.customer}-")
        assert record.requested_model == request.model
        assert record.status == 200 and record.cost_usd is not None
        assert not record.usage_estimated
        if record.cache_status == "miss":
            # Exact upstream usage for every upstream call, streams included.
            assert record.output_tokens > 0
        else:  # answered by the response cache: nothing billed, the whole call saved
            assert record.cost_usd == 0 and record.output_tokens == 0
            assert record.saved_usd is not None and record.saved_usd > 0


def test_long_system_prompts_are_billed_at_the_cached_rate(
    demo_run: DemoResult,
    rows: dict[str, tuple[DemoRequest, LedgerRecord]],
) -> None:
    long_prompt = [record for request, record in rows.values() if request.long_prompt]
    short_prompt = [record for request, record in rows.values() if not request.long_prompt]
    assert long_prompt and short_prompt
    assert sum(r.cache_read_tokens for r in long_prompt) > 0
    # Short prompts are under every provider's minimum cacheable length.
    assert all(r.cache_read_tokens == 0 for r in short_prompt)
    assert demo_run.long_prompt_cached_tokens == sum(r.cache_read_tokens for r in long_prompt)


def test_costs_told_to_clients_match_the_ledger(demo_run: DemoResult) -> None:
    headers, trailers = demo_run.headers, demo_run.trailers
    assert headers.responses + trailers.responses == N
    assert headers.responses > 0 and headers.told_usd > 0
    assert abs(headers.told_usd - headers.ledger_usd) <= 1e-9
    assert headers.ok and trailers.ok and demo_run.ok


def test_report_command_reads_the_demo_ledger(demo_run: DemoResult) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "spend",
            "--by",
            "team",
            "--format",
            "json",
            "--ledger",
            str(demo_run.options.ledger_path),
        ],
    )
    assert result.exit_code == 0, result.output
    teams = {row["team"]: row for row in json.loads(result.stdout)}
    assert set(teams) == {r.team for r in build_workload(N)}
    assert sum(row["requests"] for row in teams.values()) == N


def test_demo_command_prints_json_and_fresh_starts_over(tmp_path: Path) -> None:
    args = [
        "demo",
        "--requests",
        "8",
        "--concurrency",
        "2",
        "--data-dir",
        str(tmp_path),
        "--format",
        "json",
    ]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    result = runner.invoke(cli, [*args, "--fresh", "--seed", "11"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout, parse_float=Decimal)
    assert summary["ok"] and summary["traffic"]["failed"] == 0
    assert summary["total"]["requests"] == 8
    checks = summary["checks"]
    # The lever rows add up to the requests' savings exactly; what no lever earned (the
    # demo's injected upstream failures are served by a fallback) is reported apart.
    assert checks["savings_add_up"]
    levers = sum((row["saved_usd"] for row in summary["savings_by_lever"]), Decimal(0))
    assert levers == checks["requests_saved_usd"]
    assert checks["not_lever_savings"]["fallback_requests"] >= 0
    assert summary["ledger"] == str(tmp_path / "ledger.db")
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    try:
        assert len(ledger.rows(limit=100)) == 8  # --fresh dropped the first run's rows
    finally:
        ledger.close()


def test_demo_command_prints_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "-n", "12", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in (
        "Spend by team",
        "Spend by model",
        "Savings by lever",
        "exact cache",
        "0 of 12 requests failed",
        "tokenthrift report spend --by customer",
    ):
        assert text in result.stdout
