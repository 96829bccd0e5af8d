"""The ``tokenthrift`` command line."""

from __future__ import annotations

import click

from .audit_cmd import audit
from .batch_cmd import batch_group
from .bench_cmd import bench_group
from .budgets_cmd import budgets
from .cache_cmd import cache
from .compress_cmd import compress
from .config_cmd import config
from .dashboard_cmd import dashboard
from .demo_cmd import demo
from .emulator_cmd import emulator
from .keys_cmd import keys
from .plan_cmd import plan_group
from .prices_cmd import prices
from .report_cmd import report
from .router_cmd import router
from .serve_cmd import serve
from .whatif_cmd import whatif


@click.group()
@click.version_option(package_name="tokenthrift")
def cli() -> None:
    """tokenthrift: cut LLM API spend and prove every dollar saved."""


for command in (serve, config, emulator, demo, report, cache, keys, budgets):
    cli.add_command(command)
cli.add_command(router)
cli.add_command(dashboard)
cli.add_command(plan_group)
cli.add_command(whatif)
cli.add_command(batch_group)
cli.add_command(prices)
cli.add_command(compress)
cli.add_command(bench_group)
cli.add_command(audit)
