"""What the price catalog holds, for people: its source and date, its models, and whether
the models a config serves can be priced (``tokenthrift prices``, ``serve``'s start-up check).

The check prices each configured route exactly as settlement will (same provider hint,
same override-first look-up), so "priced" here means the ledger will show a cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata

from genai_prices import data_snapshot
from genai_prices import types as gp

from ..config import GatewayConfig
from ..routes import speaks_anthropic
from .catalog import PriceCatalog
from .price import ModelPrice
from .settlement import Accountant


@dataclass(frozen=True, slots=True)
class CatalogSource:
    """Where prices come from: the genai-prices release and how current its data is."""

    name: str
    version: str
    # The newest price change the data records on or before ``as_of``.
    latest_change: date | None
    # Newer data fetched at run time (genai-prices' UpdatePrices) rather than the bundle.
    auto_updated: bool
    as_of: date

    def describe(self) -> str:
        data = "auto-updated data" if self.auto_updated else "bundled data"
        latest = f", latest price change {self.latest_change}" if self.latest_change else ""
        return f"{self.name} {self.version} ({data}{latest}); prices in force on {self.as_of}"


def catalog_source(today: date | None = None) -> CatalogSource:
    today = today or datetime.now(UTC).date()
    snapshot = data_snapshot.get_snapshot()
    starts = [
        c.constraint.start_date
        for provider in snapshot.providers
        for model in provider.models
        if isinstance(model.prices, list)
        for c in model.prices
        if isinstance(c.constraint, gp.StartDateConstraint) and c.constraint.start_date <= today
    ]
    try:
        version = metadata.version("genai-prices")
    except metadata.PackageNotFoundError:  # pragma: no cover - vendored copy
        version = "unknown"
    return CatalogSource("genai-prices", version, max(starts, default=None),
                         snapshot.from_auto_update, today)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    provider: str
    model: str
    name: str
    price: ModelPrice | None


def provider_ids() -> list[str]:
    return [p.id for p in data_snapshot.get_snapshot().providers]


def catalog_entries(provider: str | None = None, *, at: datetime | None = None
                    ) -> list[CatalogEntry]:
    """Every model genai-prices lists (for ``provider`` only, if given), priced at ``at``.

    Raises ``LookupError`` for a provider id the catalog does not know.
    """
    from .genai_source import CatalogModel, price_at

    when = at or datetime.now(UTC)
    providers = data_snapshot.get_snapshot().providers
    if provider is not None:
        providers = [p for p in providers if p.id == provider]
        if not providers:
            raise LookupError(provider)
    entries = []
    for p in providers:
        for info in p.models:
            found = CatalogModel(p.id, info, time_of_day=False, owns_model=True)
            entries.append(CatalogEntry(p.id, info.id, info.name or info.id,
                                        price_at(found, when)))
    return entries


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """One model a config serves: where it goes and what the catalog prices it at."""

    name: str  # as clients ask for it
    upstream_model: str  # as the ledger records it (served_model)
    provider: str
    price: ModelPrice | None
    # True for a pattern route ("*", "gpt-*"): any name may arrive, none can be checked.
    pattern: bool = False

    @property
    def priced(self) -> bool:
        return self.price is not None

    @property
    def source(self) -> str:
        if self.pattern:
            return "pattern"
        if self.price is None:
            return "unpriced"
        if self.price.source == "override":
            return "override"
        return f"genai-prices:{self.price.model_id}"


def check_config(config: GatewayConfig, accountant: Accountant | None = None
                 ) -> list[RouteCheck]:
    """Each configured route (and the models its fallbacks name), priced as settlement
    prices it."""
    if accountant is None:
        from ..assembly import build_accountant

        accountant = build_accountant(config)
    catalog: PriceCatalog = accountant.calculator.catalog
    checks = []
    for route in config.models:
        if "*" in route.name or "?" in route.name:
            checks.append(RouteCheck(route.name, route.upstream_model or route.name,
                                     route.provider, None, pattern=True))
            continue
        model = route.upstream_model or route.name
        settings = config.providers.get(route.provider)
        kind = settings.type if settings is not None else None
        protocol = "anthropic" if kind == "anthropic" or (
            kind == "emulator" and speaks_anthropic(model)) else "openai"
        hint = accountant.provider_hint(model, protocol, route.provider)
        checks.append(RouteCheck(route.name, model, route.provider,
                                 catalog.price_for(model, hint)))
    return checks


def unpriced(config: GatewayConfig, accountant: Accountant | None = None) -> list[RouteCheck]:
    """The configured models the catalog cannot price (their ledger rows would have no
    cost)."""
    return [c for c in check_config(config, accountant) if not c.pattern and not c.priced]
