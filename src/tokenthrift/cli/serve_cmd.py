"""``tokenthrift serve``: run the gateway."""

from __future__ import annotations

import logging

import click
import uvicorn

from ..config import ConfigError, load_config
from ..server.runner import DEFAULT_PORT, uvicorn_config


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (default: embedded default, emulator upstream).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config_path: str | None, host: str, port: int, log_level: str) -> None:
    """Run the OpenAI- and Anthropic-compatible gateway."""
    from ..pipeline import Gateway
    from ..server.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_path)
        gateway = Gateway(config)
    except (ConfigError, ValueError) as exc:  # a lever rejecting its own config section
        raise click.ClickException(str(exc)) from None
    source = config_path or "embedded default (emulator upstream, SQLite ledger)"
    click.echo(f"tokenthrift gateway on http://{host}:{port}  config: {source}"
               f"  ledger: {_safe_url(config.storage.ledger)}", err=True)
    uvicorn.Server(uvicorn_config(create_app(gateway), host, port, log_level=log_level)).run()


def _safe_url(url: str) -> str:
    """A ledger URL without its password, fit for a log line."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
