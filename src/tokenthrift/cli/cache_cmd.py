"""``tokenthrift cache …``: manage the response cache. ``clear`` lives here; the semantic
matcher adds ``calibrate`` and ``eval`` to this group."""

from __future__ import annotations

import click

from ..config import ConfigError, load_config


@click.group()
def cache() -> None:
    """Manage the response cache (exact and semantic)."""


@cache.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (default: embedded default).")
@click.option("--scope", default=None,
              help="Only this scope: key:<key_id>, team:<team>, customer:<c>, user:<u>, global.")
@click.option("--model", default=None, help="Only answers for this requested model.")
@click.option("--tag", default=None,
              help="Only answers stored with this cache tag (x-tokenthrift-cache-tags).")
@click.option("--gateway", "gateway_url", default=None, metavar="URL",
              help="Clear a running gateway through its admin API (needs "
                   "TOKENTHRIFT_MASTER_KEY); required for the memory backend.")
def clear(config_path: str | None, scope: str | None, model: str | None, tag: str | None,
          gateway_url: str | None) -> None:
    """Delete cached answers: all, or those of one --scope, --model and/or --tag (the
    filters given apply together)."""
    from ..levers.cache.clearing import ClearError, clear_backend, clear_through_gateway

    try:
        if gateway_url:
            master_key = load_config(config_path).admin_key() if config_path else None
            removed = clear_through_gateway(gateway_url, scope=scope, model=model, tag=tag,
                                            master_key=master_key)
        else:
            removed = clear_backend(load_config(config_path), scope=scope, model=model, tag=tag)
    except (ConfigError, ClearError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed {removed} cached answer(s)")


def _attach_semantic_eval() -> None:
    # The semantic matcher's measurement commands live with their own module.
    from .cache_eval_cmd import calibrate, evaluate_pairs

    cache.add_command(calibrate)
    cache.add_command(evaluate_pairs, name="eval")


_attach_semantic_eval()
