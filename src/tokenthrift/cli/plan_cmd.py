"""``tokenthrift plan selfhost|vram``: self-hosting break-even and VRAM estimates."""

from __future__ import annotations

import json
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from tokenthrift.ledger.location import DEFAULT_LEDGER_PATH, LEDGER_ENV, open_ledger
from tokenthrift.ledger.reports import parse_since
from tokenthrift.planning.gpus import GPUS
from tokenthrift.planning.gpus import gpu as gpu_named
from tokenthrift.planning.selfhost import Traffic, plan
from tokenthrift.planning.shapes import MODELS, ModelShape, model_shape, nearest_shape
from tokenthrift.planning.vram import KV_BYTES, WEIGHT_BYTES, estimate, report

_QUANTS = click.Choice(["fp16", "int8", "int4"])
_MONTH_S = 30 * 86400


@click.group("plan")
def plan_group() -> None:
    """Planning: self-hosting break-even and the VRAM a model needs."""


def _shape(model: str | None, params: float | None, layers: int | None,
           kv_heads: int | None, head_dim: int | None) -> tuple[ModelShape, list[str]]:
    notes: list[str] = []
    if params is None:
        try:
            return model_shape(model or "llama-3.1-8b"), notes
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--model") from None
    if params <= 0:
        raise click.BadParameter("must be positive", param_hint="--params")
    near = nearest_shape(params)
    if None in (layers, kv_heads, head_dim):
        notes.append(f"KV cache shape taken from {near.name} (nearest in size); give "
                     "--layers/--kv-heads/--head-dim for an exact figure")
    shape = ModelShape(model or f"custom-{params:.3g}", params, layers or near.layers,
                       kv_heads or near.kv_heads, head_dim or near.head_dim,
                       source="--params" if not notes else f"--params, shape of {near.name}")
    return shape, notes


def _traffic(location: str, since: str) -> tuple[Decimal, Traffic, dict[str, Any]]:
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    window = max(1.0, time.time() - start)
    ledger = open_ledger(location)
    try:
        (total,) = ledger.spend([], start)
    finally:
        ledger.close()
    scale = Decimal(_MONTH_S) / Decimal(str(window))
    spend = (total["cost_usd"] or Decimal(0)) * scale
    prompt = total["input_tokens"] + total["cache_read_tokens"] + total["cache_write_tokens"]
    traffic = Traffic(float(prompt * scale), float(total["output_tokens"] * scale))
    source = {"ledger_since": since, "ledger_requests": total["requests"],
              "ledger_cost_usd": float(total["cost_usd"] or 0),
              "scaled_to_30_days_by": float(round(scale, 6))}
    return spend.quantize(Decimal("0.01")), traffic, source


@plan_group.command("selfhost")
@click.option("--from-ledger", is_flag=True, help="Spend and token volume from the ledger.")
@click.option("--since", default="30d", show_default=True, help="Ledger window (7d, 30d, a date).")
@click.option("--ledger", "location", envvar=LEDGER_ENV, default=str(DEFAULT_LEDGER_PATH),
              show_default=True, help=f"Ledger location (env {LEDGER_ENV}).")
@click.option("--monthly-api-spend", metavar="USD", help="API spend per month, in USD.")
@click.option("--model", help=f"Open model to self-host ({', '.join(MODELS)}).")
@click.option("--params", type=float, help="Parameter count instead of --model (e.g. 8e9).")
@click.option("--gpu", "gpu_name", type=click.Choice(list(GPUS)), default="h100",
              show_default=True)
@click.option("--gpu-hourly", metavar="USD", help="Price of one GPU-hour (default: catalog).")
@click.option("--utilization", type=float, default=0.7, show_default=True)
@click.option("--quant", type=_QUANTS, default="fp16", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def selfhost_command(from_ledger: bool, since: str, location: str,
                     monthly_api_spend: str | None, model: str | None, params: float | None,
                     gpu_name: str, gpu_hourly: str | None, utilization: float, quant: str,
                     fmt: str) -> None:
    """When does a self-hosted open model beat the API bill?"""
    if from_ledger == (monthly_api_spend is not None):
        raise click.UsageError("give exactly one of --from-ledger or --monthly-api-spend")
    shape, notes = _shape(model, params, None, None, None)
    traffic: Traffic | None = None
    source: dict[str, Any] = {}
    if from_ledger:
        spend, traffic, source = _traffic(location, since)
        if spend <= 0:
            raise click.UsageError(f"the ledger has no priced spend since {since}")
    else:
        spend = _usd(monthly_api_spend, "--monthly-api-spend")
    hourly = None if gpu_hourly is None else _usd(gpu_hourly, "--gpu-hourly")
    est = estimate(shape, quant=quant, context=2048, concurrency=1)
    try:
        result = plan(monthly_api_spend=spend, est=est, gpu=gpu_named(gpu_name), hourly=hourly,
                      utilization=utilization, traffic=traffic)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    assumptions: dict[str, Any] = result["assumptions"]  # type: ignore[assignment]
    assumptions.update(source)
    if notes:
        assumptions["caveats"] = [*assumptions["caveats"], *notes]
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"API spend:          ${result['monthly_api_spend_usd']:,.2f}/month")
    click.echo(f"GPU (utilised hrs): ${result['monthly_gpu_cost_usd']:,.2f}/month = "
               f"{result['gpu_as_pct_of_api']:g}% of API  -> {result['recommendation']}")
    click.echo(f"GPU (always on):    ${result['always_on_monthly_gpu_cost_usd']:,.2f}/month = "
               f"{result['always_on_gpu_as_pct_of_api']:g}% of API  -> "
               f"{result['always_on_recommendation']}")
    click.echo(f"GPUs needed:        {result['gpus_needed']} x {gpu_name}")
    traffic_text = result["traffic_tokens_per_month"]
    click.echo(f"capacity:           {result['capacity_tokens_per_month']:,} tokens/month"
               + (f" (traffic {traffic_text:,})" if traffic_text is not None else ""))
    click.echo(str(result["applies"]))


@plan_group.command("vram")
@click.option("--model", help=f"One of {', '.join(MODELS)}.")
@click.option("--params", type=float, help="Parameter count (e.g. 8e9) instead of --model.")
@click.option("--layers", type=int)
@click.option("--kv-heads", type=int)
@click.option("--head-dim", type=int)
@click.option("--quant", type=click.Choice(list(WEIGHT_BYTES)), default="fp16",
              show_default=True)
@click.option("--context", type=int, default=8192, show_default=True)
@click.option("--concurrency", type=int, default=1, show_default=True)
@click.option("--kv-quant", type=click.Choice(list(KV_BYTES)), default="fp16",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def vram_command(model: str | None, params: float | None, layers: int | None,
                 kv_heads: int | None, head_dim: int | None, quant: str, context: int,
                 concurrency: int, kv_quant: str, fmt: str) -> None:
    """VRAM for weights, KV cache and overhead, and which GPUs hold it."""
    if model is None and params is None:
        raise click.UsageError("give --model or --params")
    shape, notes = _shape(model, params, layers, kv_heads, head_dim)
    try:
        est = estimate(shape, quant=quant, kv_quant=kv_quant, context=context,
                       concurrency=concurrency)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = report(est)
    if notes:
        result["notes"] = notes
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{shape.name} {quant}, {context:,} tokens x {concurrency} sequences")
    for key in ("weights_gb", "kv_cache_gb", "overhead_gb", "total_gb"):
        click.echo(f"  {key:<12} {result[key]:>10.3f}")
    fits: dict[str, bool] = result["fits"]  # type: ignore[assignment]
    click.echo("  fits on one: " + (", ".join(n for n, ok in fits.items() if ok) or "none"))
    vs: dict[str, Any] = result["vs_fp16"]  # type: ignore[assignment]
    cheapest: dict[str, Any] = result["cheapest"]  # type: ignore[assignment]
    click.echo(f"  cheapest: {cheapest['count']} x {cheapest['gpu']} "
               f"${cheapest['hourly_usd']:.2f}/h; vs fp16: {vs['saved_gb']:.3f} GB less, "
               f"${vs['saved_hourly_usd']:.2f}/h less")
    for note in notes:
        click.echo(f"  note: {note}")


def _usd(text: str | None, hint: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise click.BadParameter(f"expected a number of USD, got {text!r}", param_hint=hint) from None
    if not value.is_finite() or value <= 0:
        raise click.BadParameter("must be a positive number", param_hint=hint)
    return value
