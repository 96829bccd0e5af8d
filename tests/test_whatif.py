"""``tokenthrift whatif``: recorded traffic re-priced under a policy; the identity check."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tokenthrift
from tokenthrift.cli.main import cli
from tokenthrift.config import parse_config

TEAMS = ("search", "analytics")
TASKS = ("chat", "classification")


async def _record_traffic(tmp_path: Path) -> Path:
    """Real gateway traffic through the emulator: two models, repeats (exact cache hits)."""
    db = tmp_path / "ledger.db"
    config = parse_config({"storage": {"ledger": f"sqlite:///{db}"},
                           "cache": {"exact": {"enabled": True}}})
    gateway = tokenthrift.build_gateway(config)
    try:
        for i in range(24):
            model = "gpt-4o" if i % 3 else "claude-haiku-4-5"
            body: dict[str, Any] = {
                "model": model, "max_tokens": 64,
                "messages": [{"role": "user", "content": f"question {i % 8} " + "word " * 40}]}
            parse = tokenthrift.anthropic_messages.parse_request if model.startswith("claude") \
                else tokenthrift.openai_chat.parse_request
            attribution = tokenthrift.Attribution(team=TEAMS[i % 2], task=TASKS[(i // 2) % 2])
            await gateway.complete(parse(body), attribution)
        gateway.writer.flush()
    finally:
        await gateway.aclose()
    return db


def _whatif(db: Path, tmp_path: Path, policy: str) -> dict[str, Any]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    result = CliRunner().invoke(cli, ["whatif", "--since", "30d", "--policy", str(path),
                                      "--ledger", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output, parse_float=Decimal)


@pytest.fixture
async def ledger_db(tmp_path: Path) -> Path:
    return await _record_traffic(tmp_path)


def test_identity_policy_projects_the_recorded_cost(ledger_db: Path, tmp_path: Path) -> None:
    out = _whatif(ledger_db, tmp_path, "cache: {exact: true, semantic: true}\n")
    assert out["requests"] == 24 and out["unpriced_requests"] == 0
    recorded = out["recorded_cost_usd"]
    assert recorded > 0
    assert abs(out["projected_cost_usd"] - recorded) <= recorded * Decimal("0.01")
    assert out["identity_error_pct"] < 1
    assert all(v == 0 for v in out["saving_by_lever"].values())
    # the recorded traffic had exact-cache hits, so the identity is not trivial
    assert out["recorded_saved_by_lever"]["exact_cache"] > 0


def test_empty_policy_is_the_identity_too(ledger_db: Path, tmp_path: Path) -> None:
    out = _whatif(ledger_db, tmp_path, "{}\n")
    assert abs(out["projected_cost_usd"] - out["recorded_cost_usd"]) <= \
        out["recorded_cost_usd"] * Decimal("0.01")


def test_turning_the_cache_off_costs_what_it_saved(ledger_db: Path, tmp_path: Path) -> None:
    out = _whatif(ledger_db, tmp_path, "cache: {enabled: false}\n")
    saved = out["recorded_saved_by_lever"]["exact_cache"]
    assert out["saving_by_lever"]["cache"] == -saved
    assert out["projected_cost_usd"] == out["recorded_cost_usd"] + saved


def test_routing_to_a_smaller_model_saves(ledger_db: Path, tmp_path: Path) -> None:
    out = _whatif(ledger_db, tmp_path, "routing: {map: {gpt-4o: gpt-4o-mini}}\n")
    assert out["saving_by_lever"]["routing"] > 0
    assert out["requests_affected"]["routing"] > 0
    assert out["projected_cost_usd"] < out["recorded_cost_usd"]


def test_batching_one_team_halves_its_share(ledger_db: Path, tmp_path: Path) -> None:
    everything = _whatif(ledger_db, tmp_path, "batch: {teams: ['*']}\n")
    # Every priced upstream call at Batch API prices: half, but cache hits cost nothing.
    repriced = everything["repriced_cost_usd"]
    assert everything["projected_cost_usd"] == pytest.approx(repriced / 2, rel=Decimal("0.01"))
    one = _whatif(ledger_db, tmp_path, "batch: {teams: [analytics]}\n")
    assert 0 < one["saving_by_lever"]["batch"] < everything["saving_by_lever"]["batch"]


def test_self_hosting_prices_gpu_time(ledger_db: Path, tmp_path: Path) -> None:
    out = _whatif(ledger_db, tmp_path, "self_hosted: {model: llama-local, gpu_hour_usd: 2.0, "
                  "tokens_per_second: 2500, tasks: [classification]}\n")
    assert out["requests_affected"]["self_hosted"] > 0
    assert out["saving_by_lever"]["self_hosted"] > 0


def test_a_typo_in_the_policy_is_named(ledger_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("batch: {team: [x]}\n")
    result = CliRunner().invoke(cli, ["whatif", "--policy", str(path), "--ledger", str(ledger_db)])
    assert result.exit_code != 0 and "batch.team" in result.output
