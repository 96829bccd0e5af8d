"""``tokenthrift budgets set|list``: budgets, straight in the ledger database.

These mirror ``/admin/budgets``. Running gateways pick a change up within
``governance.refresh_s`` (5 s by default). ``list`` shows live spend and in-flight
reservations when the counters are in Redis; with in-process counters it shows the
spend recorded in the ledger (in-flight reservations live inside the gateway: ask
``GET /admin/budgets`` for them).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

from .keys_cmd import config_option, format_option, opened_store, print_table


@click.group()
def budgets() -> None:
    """Budgets on keys, teams, users, customers and tags."""


@budgets.command("set")
@click.option("--scope", required=True,
              type=click.Choice(["team", "user", "customer", "tag", "key"]))
@click.option("--id", "subject", required=True, help="Team/user/customer/tag name or key id.")
@click.option("--usd", required=True, help="The limit in USD.")
@click.option("--period", type=click.Choice(["day", "week", "month", "total"]),
              default="month", show_default=True)
@click.option("--soft-limit-pct", default=None, metavar="50,80,100",
              help="Percentages that trigger the webhook (default 50,80,100 with a webhook).")
@click.option("--webhook", default=None, metavar="URL", help="POSTed once per threshold.")
@config_option
def set_command(scope: str, subject: str, usd: str, period: str, soft_limit_pct: str | None,
                webhook: str | None, config_path: str | None) -> None:
    """Create or replace the budget of a scope, id and period."""
    from ..levers.governance.specs import parse_budget

    raw: dict[str, Any] = {"scope": scope, "id": subject, "usd": usd, "period": period,
                           "webhook": webhook}
    try:
        if soft_limit_pct is not None:
            raw["soft_limit_pct"] = [float(p) for p in soft_limit_pct.split(",") if p.strip()]
        budget = parse_budget(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with opened_store(config_path) as (store, _):
        store.upsert_budget(budget, time.time())
    click.echo(f"budget set: {budget.name} ${budget.usd}")


@budgets.command("list")
@config_option
@format_option
def list_command(config_path: str | None, fmt: str) -> None:
    """Budgets with spend, reservations, what remains and when the period ends."""
    from ..levers.governance.counters import BudgetHold
    from ..levers.governance.periods import window_at
    from ..levers.governance.settings import parse_settings
    from ..levers.governance.views import budget_status_view

    with opened_store(config_path) as (store, config):
        settings = parse_settings(config)
        now = time.time()
        holds = [BudgetHold.of(b, window_at(b.period, now, settings.timezone))
                 for b in store.budgets()]
        live = _live_usage(settings, holds) if settings.backend == "redis" else [None] * len(holds)
        rows = []
        for hold, usage in zip(holds, live, strict=True):
            if usage is None:
                spent = store.spent(hold.budget, hold.window, settings.reserve_cap_usd)
                view = budget_status_view(hold, _nano(spent), 0, settings.timezone)
                view["reserved"] = None
            else:
                view = budget_status_view(hold, usage[0], usage[1], settings.timezone)
            rows.append(view)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ["scope", "id", "period", "usd", "spent", "reserved", "remaining", "period end",
         "webhook"],
        [[r["scope"], r["id"], r["period"], r["usd"], f"{r['spent']:.6f}",
          "" if r["reserved"] is None else f"{r['reserved']:.6f}", f"{r['remaining']:.6f}",
          r["period_end"] or "never", r["webhook"] or ""] for r in rows])


def _live_usage(settings: Any, holds: list[Any]) -> list[tuple[int, int] | None]:
    from ..levers.governance.redis_backend import RedisCounters

    async def read() -> list[tuple[int, int] | None]:
        counters = RedisCounters(settings.redis_url, settings.redis_prefix)
        try:
            return await counters.usage(holds)
        finally:
            await counters.aclose()

    try:
        return asyncio.run(read())
    except Exception as exc:  # Redis down: the ledger still knows what was spent
        click.echo(f"warning: Redis unreachable ({exc}); showing ledger spend", err=True)
        return [None] * len(holds)


def _nano(usd: Any) -> int:
    from ..levers.governance.budgets import to_nano

    return to_nano(usd)
