"""``tokenthrift keys create|list|revoke``: virtual keys, straight in the ledger database.

These mirror ``/admin/keys`` and work whether or not a gateway is running: they write
to the database the config names (``storage.ledger``). A running gateway sees a new key
at once and a revocation within ``governance.key_cache_ttl_s`` (5 s by default).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..config import ConfigError, GatewayConfig, load_config


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        default=None, help="YAML config file; its storage.ledger database "
                        "holds keys and budgets (default: the embedded default).")(fn)


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                        show_default=True)(fn)


@contextmanager
def opened_store(config_path: str | None) -> Iterator[tuple[Any, GatewayConfig]]:
    """The governance store of the config's ledger database, and the config."""
    from ..ledger import LedgerError
    from ..levers.governance.store import GovernanceStore

    try:
        config = load_config(config_path)
        store = GovernanceStore.for_config(config)
    except (ConfigError, LedgerError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store, config
    except LedgerError as exc:
        raise click.ClickException(f"database error: {exc}") from None
    finally:
        store.close()


def print_table(columns: list[str], rows: list[list[Any]]) -> None:
    table = Table()
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@click.group()
def keys() -> None:
    """Virtual keys: create, list, revoke."""


@keys.command("create")
@click.option("--team")
@click.option("--user")
@click.option("--customer")
@click.option("--model", "models", multiple=True,
              help="Allowed model (repeat; globs like 'gpt-4o*'); default: every model.")
@click.option("--budget-usd", type=str, help="A budget on this key, in USD.")
@click.option("--budget-period", type=click.Choice(["day", "week", "month", "total"]),
              default="month", show_default=True)
@click.option("--rpm", type=int, help="Requests per minute.")
@click.option("--tpm", type=int, help="Tokens per minute.")
@click.option("--expires-at", help="ISO 8601 time (UTC unless it has an offset).")
@click.option("--metadata", help="JSON object stored with the key.")
@config_option
@format_option
def create_command(team: str | None, user: str | None, customer: str | None,
                   models: tuple[str, ...], budget_usd: str | None, budget_period: str,
                   rpm: int | None, tpm: int | None, expires_at: str | None,
                   metadata: str | None, config_path: str | None, fmt: str) -> None:
    """Create a key; it is printed once and never shown again."""
    from ..levers.governance.specs import parse_key_spec
    from ..levers.governance.views import key_view

    raw: dict[str, Any] = {"team": team, "user": user, "customer": customer,
                           "models": list(models) or None, "rpm": rpm, "tpm": tpm,
                           "expires_at": expires_at}
    if budget_usd is not None:
        raw["budget"] = {"usd": budget_usd, "period": budget_period}
    try:
        raw["metadata"] = json.loads(metadata) if metadata else None
        spec = parse_key_spec(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with opened_store(config_path) as (store, config):
        key, secret = store.create_key(spec, time.time())
        zone = _zone(config)
    if fmt == "json":
        click.echo(json.dumps({**key_view(key, zone), "key": secret}, indent=2))
        return
    click.echo(f"Created key {key.id} ({key.prefix}…). Copy it now, it is not shown again:",
               err=True)
    click.echo(secret)


@keys.command("list")
@config_option
@format_option
def list_command(config_path: str | None, fmt: str) -> None:
    """Keys with owners and all-time spend (never the keys themselves)."""
    from ..levers.governance.views import key_view

    with opened_store(config_path) as (store, config):
        found = store.list_keys()
        spend = store.spend_by_key([k.id for k in found])
        zone = _zone(config)
    views = [key_view(k, zone, spend=spend.get(k.id)) for k in found]
    if fmt == "json":
        click.echo(json.dumps(views, indent=2))
        return
    print_table(
        ["id", "prefix", "team", "user", "customer", "models", "rpm", "tpm", "expires", "status",
         "spend $"],
        [[v["id"], v["prefix"] + "…", v["team"], v["user"], v["customer"],
          ",".join(v["models"]) if v["models"] else "*", v["rpm"], v["tpm"], v["expires_at"],
          "revoked" if v["revoked"] else "active", f"{v.get('spend') or 0:.6f}"]
         for v in views])


@keys.command("revoke")
@click.argument("key_id")
@config_option
def revoke_command(key_id: str, config_path: str | None) -> None:
    """Revoke a key by id (vk_…)."""
    with opened_store(config_path) as (store, _):
        found = store.revoke_key(key_id, time.time())
    if not found:
        raise click.ClickException(f"no key with id {key_id!r}")
    click.echo(f"revoked {key_id}")


def _zone(config: GatewayConfig) -> Any:
    from ..levers.governance.settings import parse_settings

    try:
        return parse_settings(config).timezone
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
