"""``tokenthrift whatif --since 30d --policy POLICY.yaml``: recorded traffic re-priced
under another policy (``planning.whatif``)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import yaml

from tokenthrift.assembly import build_accountant
from tokenthrift.config import ConfigError, GatewayConfig, load_config
from tokenthrift.ledger.location import DEFAULT_LEDGER_PATH, LEDGER_ENV, open_ledger
from tokenthrift.ledger.money import plain
from tokenthrift.ledger.reports import parse_since
from tokenthrift.planning.policy import parse_policy
from tokenthrift.planning.whatif import STEPS, Projection, Replayer

_MONTH_S = 30 * 86400
# Rows read per replay; a month of traffic of a busy gateway fits (rows are small).
MAX_ROWS = 50_000_000
CAVEATS = (
    "a mapped or self-hosted model is priced with the recorded token counts: its tokenizer "
    "and answer lengths differ, and its quality is not checked here",
    "cache thresholds are not re-simulated: a hit is kept or paid at its baseline "
    "(use `tokenthrift cache eval` for thresholds)",
    "batch eligibility assumes the traffic could wait up to 24 hours",
    "the projection scales the window linearly to 30 days",
)


@click.command("whatif")
@click.option("--since", default="30d", show_default=True, help="Ledger window (30d, a date).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Policy YAML to re-price the traffic under.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--ledger", "location", envvar=LEDGER_ENV, default=str(DEFAULT_LEDGER_PATH),
              show_default=True, help=f"Ledger location (env {LEDGER_ENV}).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Gateway config (its price overrides and providers).")
def whatif(since: str, policy_path: Path, fmt: str, location: str,
           config_path: str | None) -> None:
    """What recorded traffic would have cost under POLICY, saving by lever."""
    try:
        start = parse_since(since)
        policy = parse_policy(yaml.safe_load(policy_path.read_text()))
        config = load_config(config_path) if config_path else GatewayConfig.embedded_default()
    except (ValueError, OSError, yaml.YAMLError, ConfigError) as exc:
        raise click.UsageError(str(exc)) from None
    ledger = open_ledger(location)
    try:
        rows = ledger.rows(start, limit=MAX_ROWS)
    finally:
        ledger.close()
    projection = Replayer(build_accountant(config), policy).project(rows)
    window = max(1.0, time.time() - start)
    result = as_json(projection, Decimal(_MONTH_S) / Decimal(str(window)), since)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{projection.requests:,} requests since {since}"
               f" ({projection.unpriced:,} unpriced, left out)")
    click.echo(f"recorded   ${result['recorded_cost_usd']:>14,.6f}   "
               f"monthly ${result['recorded_monthly_usd']:,.2f}")
    click.echo(f"projected  ${result['projected_cost_usd']:>14,.6f}   "
               f"monthly ${result['projected_monthly_usd']:,.2f}")
    for lever, usd in result["saving_by_lever"].items():
        click.echo(f"  saving {lever:<12} ${usd:>14,.6f}  ({projection.affected[lever]:,} requests)")
    if projection.routed_on_prompts:
        to = ", ".join(f"{m} {n:,}" for m, n in result["routing"]["to_model"].items())
        click.echo(f"  routing on {projection.routed_on_prompts:,} stored prompts: {to}")
    click.echo(f"identity check: re-priced ${result['repriced_cost_usd']:,.6f} vs recorded "
               f"({result['identity_error_pct']:.4f}% apart)")
    for caveat in result["caveats"]:
        click.echo(f"  caveat: {caveat}")


def as_json(p: Projection, monthly: Decimal, since: str) -> dict[str, Any]:
    def usd(value: Decimal) -> float:
        return float(plain(value.quantize(Decimal("1e-10"))))

    return {
        "since": since,
        "requests": p.requests,
        "unpriced_requests": p.unpriced,
        "recorded_cost_usd": usd(p.recorded_usd),
        "repriced_cost_usd": usd(p.repriced_usd),
        "projected_cost_usd": usd(p.projected_usd),
        "recorded_monthly_usd": usd(p.recorded_usd * monthly),
        "projected_monthly_usd": usd(p.projected_usd * monthly),
        "saving_by_lever": {lever: usd(p.saving_by_lever[lever]) for lever in STEPS},
        "saving_monthly_by_lever": {lever: usd(p.saving_by_lever[lever] * monthly)
                                    for lever in STEPS},
        "requests_affected": dict(p.affected),
        "recorded_saved_by_lever": {k: usd(v) for k, v in sorted(p.recorded_saved.items())},
        "identity_error_pct": float(p.identity_error * 100),
        "routing": {"decided_on_stored_prompts": p.routed_on_prompts,
                    "without_stored_prompt": p.routing_without_prompt,
                    "to_model": dict(sorted(p.routed_to.items()))},
        "caveats": [*CAVEATS, *p.caveats()],
    }
