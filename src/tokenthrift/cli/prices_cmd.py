"""``tokenthrift prices show|list|check``: the prices the gateway bills with.

``show MODEL`` prints one model's rates (USD per million tokens) and where they come
from; ``list`` every model the catalog knows (``--provider`` narrows it); ``check
--config FILE`` whether every model a config serves can be priced, and which prices are
the config's own overrides. Each names the catalog's source and date. With
``--config``, ``show`` and ``list`` apply that file's ``pricing:`` overrides too.

``check`` exits 1 when a configured model has no price (its ledger rows would carry no
cost), 2 when the file is missing or invalid.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from ..accounting.catalog import PriceCatalog
from ..accounting.inventory import (
    CatalogEntry,
    RouteCheck,
    catalog_entries,
    catalog_source,
    check_config,
    provider_ids,
)
from ..accounting.price import ModelPrice
from ..config import ConfigError, GatewayConfig, load_config

EXIT_UNPRICED = 1
EXIT_BAD_CONFIG = 2
_RATES = (
    ("input", "input"),
    ("cache_read", "cached input"),
    ("cache_write_5m", "cache write 5m"),
    ("cache_write_1h", "cache write 1h"),
    ("output", "output"),
    ("output_reasoning", "reasoning output"),
)


def _config_option(required: bool) -> Any:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        required=required, default=None,
                        help="Gateway config file (its pricing: overrides apply).")


def _json_option(fn: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def _load(path: str | None) -> GatewayConfig | None:
    if path is None:
        return None
    if not Path(path).is_file():
        click.echo(f"error: config file not found: {path}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG)
    try:
        return load_config(path)
    except (ConfigError, ValueError) as exc:
        click.echo(f"error: {path}: {exc}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None


def _catalog(config: GatewayConfig | None) -> PriceCatalog:
    try:
        return PriceCatalog(config.pricing if config else None)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None


def _rate(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = format(value.normalize(), "f")
    return text


def _price_json(price: ModelPrice | None) -> dict[str, Any] | None:
    if price is None:
        return None
    out: dict[str, Any] = {name: _rate(getattr(price, name)) if getattr(price, name) is not None
                           else None for name, _ in _RATES}
    out["source"] = price.source
    out["catalog_model"] = price.model_id
    out["tiers"] = [{"above_input_tokens": t.above, **(_price_json(t.price) or {})}
                    for t in price.tiers]
    batch = price.batch
    out["batch"] = None if batch is None else {
        name: _rate(getattr(batch, name)) if getattr(batch, name) is not None else None
        for name, _ in _RATES}
    return out


@click.group()
def prices() -> None:
    """The token prices the gateway bills with (USD per million tokens)."""


@prices.command()
@click.argument("model")
@click.option("--provider", default=None, help="Catalog provider id to look in first "
              "(openai, anthropic, google…); default: inferred from the name.")
@_config_option(required=False)
@_json_option
def show(model: str, provider: str | None, config_path: str | None, as_json: bool) -> None:
    """One model's rates and where they come from. Exit 1 if it has no price."""
    catalog = _catalog(_load(config_path))
    price = catalog.price_for(model, provider)
    source = catalog_source()
    if as_json:
        click.echo(json.dumps({"model": model, "price": _price_json(price),
                               "catalog": _source_json(source)}, indent=2))
    elif price is None:
        click.echo(f"{model}: no price (unknown to {source.name} and not overridden); its "
                   "requests would be recorded with an unknown cost. Add it under pricing: "
                   "in the config.")
    else:
        origin = ("override (pricing: in the config)" if price.source == "override"
                  else f"{source.name}, catalog model {price.model_id}")
        click.echo(f"{model}  [{origin}]")
        _echo_rates(price, indent="  ")
        for tier in price.tiers:
            click.echo(f"  prompts above {tier.above:,} tokens:")
            _echo_rates(tier.price, indent="    ")
        if price.batch is not None:
            click.echo("  batch API:")
            _echo_rates(price.batch, indent="    ")
        click.echo(f"catalog: {source.describe()}")
    if price is None:
        raise SystemExit(EXIT_UNPRICED)


def _echo_rates(price: ModelPrice, indent: str) -> None:
    for name, label in _RATES:
        value = getattr(price, name)
        if value is not None:
            click.echo(f"{indent}{label + ':':<18} ${_rate(value)}/MTok")


@prices.command(name="list")
@click.option("--provider", default=None, help="Only this catalog provider "
              "(openai, anthropic, google…).")
@_config_option(required=False)
@_json_option
def list_(provider: str | None, config_path: str | None, as_json: bool) -> None:
    """Every model the catalog prices (overrides from --config first, marked)."""
    config = _load(config_path)
    catalog = _catalog(config)
    try:
        entries = catalog_entries(provider)
    except LookupError:
        raise click.BadParameter(f"unknown provider {provider!r}; known: "
                                 f"{', '.join(provider_ids())}", param_hint="--provider"
                                 ) from None
    overrides = [CatalogEntry("override", name, name, price)
                 for name, price in catalog.overrides.items()]
    rows = overrides + [e for e in entries if e.price is not None]
    source = catalog_source()
    if as_json:
        click.echo(json.dumps({"catalog": _source_json(source), "models": [
            {"provider": e.provider, "model": e.model, "price": _price_json(e.price)}
            for e in rows]}, indent=2))
        return
    click.echo(f"{'provider':<12} {'model':<44} {'input':>10} {'cached':>10} {'output':>10}")
    for entry in rows:
        price = entry.price
        assert price is not None
        mark = " (override)" if entry.provider == "override" else ""
        click.echo(f"{entry.provider:<12} {entry.model + mark:<44} {_rate(price.input):>10} "
                   f"{_rate(price.cache_read):>10} {_rate(price.output):>10}")
    click.echo(f"{len(rows)} models, USD per million tokens; catalog: {source.describe()}")


@prices.command()
@_config_option(required=True)
@_json_option
def check(config_path: str, as_json: bool) -> None:
    """Is every model the config serves priced? Which prices are overrides?

    Exit status: 0 all priced, 1 some model unpriced, 2 missing or invalid file.
    """
    config = _load(config_path)
    assert config is not None
    try:
        checks = check_config(config)
    except ValueError as exc:  # a bad pricing: override
        click.echo(f"error: {config_path}: {exc}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    source = catalog_source()
    missing = [c for c in checks if not c.pattern and not c.priced]
    if as_json:
        click.echo(json.dumps({"config": config_path, "catalog": _source_json(source),
                               "models": [_check_json(c) for c in checks],
                               "unpriced": [c.name for c in missing]}, indent=2))
    else:
        for c in checks:
            click.echo(_check_line(c))
        click.echo(f"catalog: {source.describe()}")
        if missing:
            click.echo(f"{len(missing)} configured model(s) cannot be priced: "
                       f"{', '.join(c.name for c in missing)}. Their requests would be "
                       "recorded with an unknown cost; add them under pricing: in the config.",
                       err=True)
        else:
            click.echo("ok: every configured model is priced")
    if missing:
        raise SystemExit(EXIT_UNPRICED)


def _check_line(c: RouteCheck) -> str:
    served = f" -> {c.upstream_model}" if c.upstream_model != c.name else ""
    head = f"{c.name}{served} ({c.provider})"
    if c.pattern:
        return f"{head}: pattern, any model name; names outside the catalog are unpriced"
    if c.price is None:
        return f"{head}: UNPRICED"
    rates = f"input ${_rate(c.price.input)}, output ${_rate(c.price.output)} per MTok"
    origin = "override" if c.source == "override" else c.source
    return f"{head}: {rates} [{origin}]"


def _check_json(c: RouteCheck) -> dict[str, Any]:
    return {"name": c.name, "upstream_model": c.upstream_model, "provider": c.provider,
            "pattern": c.pattern, "priced": c.priced, "source": c.source,
            "price": _price_json(c.price)}


def _source_json(source: Any) -> dict[str, Any]:
    return {"name": source.name, "version": source.version,
            "latest_change": source.latest_change.isoformat() if source.latest_change else None,
            "auto_updated": source.auto_updated, "as_of": source.as_of.isoformat()}


def unpriced_warnings(config: GatewayConfig) -> list[str]:
    """``serve``'s start-up lines for configured models the catalog cannot price."""
    try:
        missing = [c for c in check_config(config) if not c.pattern and not c.priced]
    except ValueError:  # a bad override: the gateway build reports it with its key
        return []
    return [f"warning: model {c.name!r}" + (f" (upstream {c.upstream_model!r})"
                                            if c.upstream_model != c.name else "")
            + " has no price in the catalog or pricing: overrides; its requests will be "
            "recorded with an unknown cost (see `tokenthrift prices check --config FILE`)"
            for c in missing]
