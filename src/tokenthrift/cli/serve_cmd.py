"""``tokenthrift serve``: run the gateway, in one process or several on one port."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from ..config import ConfigError, GatewayConfig, load_config
from ..server.factory import APP_FACTORY, CONFIG_ENV, LOG_FORMAT, LOG_LEVEL_ENV, build_app
from ..server.runner import DEFAULT_PORT, uvicorn_config
from .prices_cmd import unpriced_warnings


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (default: embedded default, emulator upstream).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes sharing the port. Budgets and rate limits then need "
                   "storage.redis, so that every worker counts against the same limits.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config_path: str | None, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the OpenAI- and Anthropic-compatible gateway."""
    from ..ledger import LedgerError

    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    try:  # every config mistake ends here: a message on stderr, exit 1, no traceback
        config = load_config(config_path)
        for warning in unpriced_warnings(config):
            click.echo(warning, err=True)
        if workers > 1:
            check_levers(config)
            refuse_unshared_limits(config, workers)
            prepare_ledger(config)
        else:
            app = build_app(config)
    except (ConfigError, ValueError) as exc:  # ValueError: a ledger or price the parts refuse
        raise click.ClickException(str(exc)) from None
    except LedgerError as exc:  # e.g. PostgreSQL down: the message names the server, no secret
        raise click.ClickException(f"cannot open the ledger: {exc}") from None
    source = config_path or "embedded default (emulator upstream, SQLite ledger)"
    click.echo(f"tokenthrift gateway on http://{host}:{port}  config: {source}"
               f"  ledger: {_safe_url(config.storage.ledger)}"
               + (f"  workers: {workers}" if workers > 1 else ""), err=True)
    if workers == 1:
        server = uvicorn.Server(uvicorn_config(app, host, port, log_level=log_level))
        server.run()
        started = server.started
    else:
        started = _run_workers(config_path, host, port, workers, log_level)
    if not started:  # e.g. the port is taken; uvicorn has said why
        raise SystemExit(STARTUP_FAILURE)


def check_levers(config: GatewayConfig) -> list[str]:
    """Run every registered lever's settings parser; the names of the enabled levers."""
    from ..observability import parse_observability
    from ..registry import REGISTRY

    parse_observability(config.observability)  # not a lever, but found here too
    enabled = []
    for spec in REGISTRY:
        settings = spec.parse_settings(config)
        if settings is None or settings.enabled:
            enabled.append(spec.section)
    return enabled


def refuse_unshared_limits(config: GatewayConfig, workers: int) -> None:
    """Budgets and rate limits counted in-process would each hold per worker, letting
    ``workers`` times the limit through; refuse unless the counters are in Redis."""
    from ..levers.governance.settings import parse_settings

    settings = parse_settings(config)
    if not settings.enabled or settings.backend == "redis":
        return
    limits = [f"governance.teams rate limits ({', '.join(settings.teams)})"] if settings.teams else []
    limits += _stored_limits(config)
    if limits:
        raise ConfigError(
            f"--workers {workers}: {' and '.join(limits)} would be counted by each worker on "
            f"its own, letting up to {workers}x the limit through. Set storage.redis (a "
            f"redis:// URL) so the workers share their counters, or run --workers 1.")
    if config.admin_key():
        click.echo("warning: without storage.redis, budgets and rate limits created later "
                   "through the admin API would hold per worker", err=True)


def _stored_limits(config: GatewayConfig) -> list[str]:
    """Budgets and keys with rpm/tpm already in the ledger database (a missing SQLite
    file has none: it is not created here)."""
    from ..ledger.location import sqlite_path
    from ..levers.governance.store import GovernanceStore

    path = None if config.storage.ledger_is_postgres else sqlite_path(config.storage.ledger)
    if path is not None and (path == ":memory:" or not Path(path).is_file()):
        return []
    store = GovernanceStore.for_config(config)
    try:
        budgets = store.budgets()
        keys = [k for k in store.list_keys() if not k.revoked and (k.rpm or k.tpm)]
    finally:
        store.close()
    found = [f"{len(budgets)} budget(s)"] if budgets else []
    return found + ([f"{len(keys)} key(s) with rpm/tpm limits"] if keys else [])


def prepare_ledger(config: GatewayConfig) -> None:
    """Create and migrate the ledger once, before the workers race to do it."""
    from ..assembly import open_ledger_for

    open_ledger_for(config).close()


def _run_workers(config_path: str | None, host: str, port: int, workers: int,
                 log_level: str) -> bool:
    """Run the workers until SIGTERM/SIGINT; False if they could not start."""
    from uvicorn.supervisors import Multiprocess

    # Workers are spawned (fresh interpreters): they find the config through the
    # environment and build their own gateway from it.
    os.environ[CONFIG_ENV] = str(Path(config_path).resolve()) if config_path else ""
    os.environ[LOG_LEVEL_ENV] = log_level
    config = uvicorn_config(APP_FACTORY, host, port, log_level=log_level, factory=True,
                            workers=workers)
    # SIGTERM/SIGINT to this process: the supervisor sends SIGTERM to every worker, each
    # shuts down gracefully (its lifespan flushes its ledger rows), then it joins them.
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    # A worker that fails before serving stops the supervisor (it would fail again).
    return all(process.exitcode != STARTUP_FAILURE for process in supervisor.processes)


def _safe_url(url: str) -> str:
    """A ledger URL without its password, fit for a log line."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
