"""``tokenthrift config check FILE``: validate a config file without starting anything.

It reads the file as ``serve`` does and runs every lever's settings parser (not the
levers themselves, so no database, Redis or model is opened). Exit status: 0 valid,
1 invalid (the message names the key), 2 no such file.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..config import ConfigError, load_config
from .serve_cmd import check_levers

EXIT_INVALID = 1
EXIT_MISSING = 2


@click.group()
def config() -> None:
    """Check the gateway's configuration file."""


@config.command()
@click.argument("path", type=click.Path(dir_okay=False))
def check(path: str) -> None:
    """Validate PATH: every section, key and value, and each lever's settings.

    Nothing is opened or started. Exit status: 0 valid, 1 invalid (the message names
    the key), 2 no such file.
    """
    if not Path(path).is_file():
        click.echo(f"error: config file not found: {path}", err=True)
        raise SystemExit(EXIT_MISSING)
    try:
        gateway_config = load_config(path)
        levers = check_levers(gateway_config)
    except ConfigError as exc:
        click.echo(f"error: {path}: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    models = len(gateway_config.models)
    click.echo(f"ok: {path} ({models} model{'s' if models != 1 else ''}, "
               f"levers: {', '.join(levers) or 'none'})")
