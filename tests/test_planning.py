"""``tokenthrift plan selfhost`` and ``plan vram``: the rule of thumb exactly, the capacity
check, VRAM numbers computed by hand."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenthrift.cli.main import cli
from tokenthrift.ledger import open_ledger
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.planning.gpus import GPUS, gpu
from tokenthrift.planning.selfhost import Traffic, plan, recommend
from tokenthrift.planning.shapes import model_shape
from tokenthrift.planning.vram import estimate


def run(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rule_of_thumb_exactly() -> None:
    out = run("plan", "selfhost", "--monthly-api-spend", "5000", "--gpu-hourly", "2.50",
              "--utilization", "0.7")
    assert out["monthly_gpu_cost_usd"] == 1260.0  # 2.50 x 720 h x 0.7
    assert out["monthly_api_spend_usd"] == 5000.0
    assert round(out["gpu_as_pct_of_api"]) == 25
    assert out["recommendation"] == "self-host now"
    assert out["always_on_monthly_gpu_cost_usd"] == 1800.0  # reserved: 2.50 x 24 x 30
    assert out["gpus_needed"] == 1
    assert "autoscaled" in out["applies"] and "reserved" in out["applies"]
    for key in ("capacity_tokens_per_month", "traffic_tokens_per_month", "assumptions"):
        assert key in out


@pytest.mark.parametrize(("pct", "advice"), [
    (Decimal("49.9"), "self-host now"),
    (Decimal("50"), "self-host if traffic grows 2x"),
    (Decimal("79.9"), "self-host if traffic grows 2x"),
    (Decimal("80"), "stay on the API"),
])
def test_thresholds(pct: Decimal, advice: str) -> None:
    assert recommend(pct) == advice


def test_small_api_bill_stays_on_the_api() -> None:
    out = run("plan", "selfhost", "--monthly-api-spend", "1000", "--gpu-hourly", "2.50")
    assert out["gpu_as_pct_of_api"] == 126.0
    assert out["recommendation"] == "stay on the API"


def test_traffic_beyond_one_gpu_needs_more_gpus_and_costs_more() -> None:
    est = estimate(model_shape("llama-3.1-8b"), quant="fp16", context=2048)
    light = plan(monthly_api_spend=Decimal(5000), est=est, gpu=gpu("h100"), hourly=None,
                 utilization=0.7, traffic=Traffic(1e9, 2e8))
    assert light["gpus_needed"] == 1  # positive control: a billion tokens fit on one
    capacity = light["capacity_tokens_per_month"]
    assert isinstance(capacity, int) and capacity > 1.2e9
    heavy = plan(monthly_api_spend=Decimal(5000), est=est, gpu=gpu("h100"), hourly=None,
                 utilization=0.7, traffic=Traffic(capacity * 2.5 * 0.83, capacity * 2.5 * 0.17))
    assert heavy["gpus_needed"] >= 3
    assert heavy["monthly_gpu_cost_usd"] == 1260.0 * heavy["gpus_needed"]  # type: ignore[operator]


def test_70b_in_fp16_needs_two_h100s_per_replica() -> None:
    est = estimate(model_shape("llama-3.1-70b"), quant="fp16", context=2048)
    result = plan(monthly_api_spend=Decimal(20000), est=est, gpu=gpu("h100"), hourly=None,
                  utilization=0.7, traffic=None)
    assert result["assumptions"]["gpus_per_replica"] == 2  # type: ignore[index]
    int4 = estimate(model_shape("llama-3.1-70b"), quant="int4", context=2048)
    assert int4.gpus_to_hold(gpu("h100")) == 1


def test_vram_llama_8b_by_hand() -> None:
    # Llama 3.1 8B: 8.03e9 params, 32 layers, 8 KV heads, head_dim 128 (config.json).
    # int4 weights: 8.03e9 x 0.5 B = 4.015 GB
    # KV per token (fp16): 2 x 32 x 8 x 128 x 2 B = 131,072 B
    # 8,192 tokens x 8 sequences = 65,536 tokens -> 8,589,934,592 B = 8.589934592 GB
    # overhead: 1 GB + 10% x (4.015 + 8.589934592) = 2.2604934592 GB
    # total: 14.8654280512 GB -> fits an L4 (24 GB); fp16 (31.51 GB) does not.
    out = run("plan", "vram", "--model", "llama-3.1-8b", "--quant", "int4", "--context", "8192",
              "--concurrency", "8")
    assert out["weights_gb"] == 4.015
    assert out["kv_cache_gb"] == 8.59
    assert out["overhead_gb"] == 2.26
    assert out["total_gb"] == 14.865
    assert out["fits"]["l4"] is True
    assert set(out["fits"]) == set(GPUS)
    fp16 = run("plan", "vram", "--model", "llama-3.1-8b", "--quant", "fp16", "--context", "8192",
               "--concurrency", "8")
    # fp16 weights 16.06 GB; total 1 + 1.1 x (16.06 + 8.589934592) = 28.1149280512
    assert fp16["total_gb"] == 28.115
    assert fp16["fits"]["l4"] is False and fp16["fits"]["a100-40gb"] is True
    assert out["vs_fp16"]["saved_gb"] == pytest.approx(28.1149280512 - 14.8654280512, abs=1e-3)
    assert out["vs_fp16"]["saved_hourly_usd"] > 0  # int4 fits a cheaper GPU


def test_kv_int8_halves_the_kv_cache() -> None:
    fp16 = run("plan", "vram", "--model", "qwen2.5-7b", "--quant", "int8", "--context", "32768",
               "--concurrency", "4")
    int8 = run("plan", "vram", "--model", "qwen2.5-7b", "--quant", "int8", "--context", "32768",
               "--concurrency", "4", "--kv-quant", "int8")
    assert int8["kv_cache_gb"] == pytest.approx(fp16["kv_cache_gb"] / 2, abs=0.001)


def test_vram_from_params_and_shape() -> None:
    out = run("plan", "vram", "--params", "8.03e9", "--layers", "32", "--kv-heads", "8",
              "--head-dim", "128", "--quant", "int4", "--context", "8192", "--concurrency", "8")
    assert out["total_gb"] == 14.865
    guessed = run("plan", "vram", "--params", "8e9", "--quant", "int4")
    assert "notes" in guessed


def test_selfhost_from_ledger(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ledger = open_ledger(str(db))
    now = time.time()
    ledger.write([
        LedgerRecord(request_id=f"r{i}", ts=now - 3600 * i, requested_model="gpt-4o",
                     served_model="gpt-4o", wire_format="openai", endpoint="chat.completions",
                     input_tokens=1_000_000, output_tokens=200_000,
                     cost_usd=Decimal("4.5"), baseline_cost_usd=Decimal("4.5"))
        for i in range(10)
    ])
    ledger.close()
    out = run("plan", "selfhost", "--from-ledger", "--since", "30d", "--ledger", str(db),
              "--gpu-hourly", "2.50")
    assert out["monthly_api_spend_usd"] == 45.0
    assert out["traffic_tokens_per_month"] == 12_000_000
    assert out["recommendation"] == "stay on the API"
    assert out["assumptions"]["ledger_requests"] == 10


def test_selfhost_needs_one_spend_source() -> None:
    result = CliRunner().invoke(cli, ["plan", "selfhost"])
    assert result.exit_code != 0 and "--from-ledger" in result.output
    ok = CliRunner().invoke(cli, ["plan", "selfhost", "--monthly-api-spend", "5000"])
    assert ok.exit_code == 0 and "self-host now" in ok.output
