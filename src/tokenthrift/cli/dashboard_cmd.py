"""``tokenthrift dashboard``: serve the gateway on a ledger and show where its ``/ui`` is.

The one command after ``tokenthrift demo``: the demo's ledger (``--data-dir``, default
``.tokenthrift``) behind the full gateway, so the page shows spend and savings by lever
from the demo, and budgets live. With ``--config`` it serves that gateway instead, the
same as ``tokenthrift serve``.
"""

from __future__ import annotations

import webbrowser

import click
import uvicorn

from ..config import DEFAULT_DATA_DIR, ConfigError, GatewayConfig, load_config
from ..server.factory import LOG_FORMAT, build_app
from ..server.runner import DEFAULT_PORT, uvicorn_config


def dashboard_command_line(data_dir: str) -> str:
    """The command that opens the dashboard on ``data_dir``'s ledger (the demo prints it)."""
    where = "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"
    return f"tokenthrift dashboard{where}"


def dashboard_url(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}/ui"


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=DEFAULT_DATA_DIR,
              show_default=True, help="The ledger to show: <data-dir>/ledger.db (the demo's).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Serve this gateway config instead (its ledger, master key, levers).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser too.")
def dashboard(data_dir: str, config_path: str | None, host: str, port: int,
              open_browser: bool) -> None:
    """Serve the gateway with its dashboard at /ui (spend, savings by lever, budgets)."""
    import logging

    logging.basicConfig(level="WARNING", format=LOG_FORMAT)
    try:
        config = (load_config(config_path) if config_path
                  else GatewayConfig.embedded_default(data_dir))
        app = build_app(config)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    url = dashboard_url(host, port)
    signed = " (sign in with the master key)" if config.admin_key() else ""
    click.echo(f"tokenthrift dashboard on {url}{signed}  ledger: {config.storage.ledger}"
               "  (Ctrl-C to stop)", err=True)
    if open_browser:
        webbrowser.open(url)
    server = uvicorn.Server(uvicorn_config(app, host, port, log_level="warning"))
    server.run()
    if not server.started:
        raise SystemExit(3)
