"""``tokenthrift audit``: the prompt templates that cost the most, and what would save
money on each (``tokenthrift.audit``)."""

from __future__ import annotations

import json
import time

import click

from tokenthrift.assembly import build_accountant
from tokenthrift.audit.report import audit as audit_report
from tokenthrift.audit.report import render_table
from tokenthrift.config import ConfigError, GatewayConfig, load_config
from tokenthrift.ledger.location import DEFAULT_LEDGER_PATH, LEDGER_ENV, open_ledger
from tokenthrift.ledger.reports import parse_since

# Rows read per audit; a month of traffic of a busy gateway fits (rows are small).
MAX_ROWS = 50_000_000


@click.command("audit")
@click.option("--since", default="30d", show_default=True, help="Ledger window (30d, a date).")
@click.option("--top", default=5, show_default=True, type=click.IntRange(min=1),
              help="How many templates to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--ledger", "location", envvar=LEDGER_ENV, default=str(DEFAULT_LEDGER_PATH),
              show_default=True, help=f"Ledger location (env {LEDGER_ENV}).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Gateway config (its price overrides and providers).")
def audit(since: str, top: int, fmt: str, location: str, config_path: str | None) -> None:
    """The prompt templates that cost the most, with estimated monthly savings."""
    try:
        start = parse_since(since)
        config = load_config(config_path) if config_path else GatewayConfig.embedded_default()
    except (ValueError, OSError, ConfigError) as exc:
        raise click.UsageError(str(exc)) from None
    ledger = open_ledger(location)
    try:
        rows = ledger.rows(start, limit=MAX_ROWS)
    finally:
        ledger.close()
    entries = audit_report(rows, build_accountant(config), since=start, now=time.time(), top=top)
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
    else:
        click.echo(render_table(entries))
