"""The composition root: the one place that builds a gateway from its configuration.

Reading ``build_gateway`` tells everything a request meets: the levers of
``registry.REGISTRY`` in order, the providers over their transports (HTTP, or
the built-in emulator in-process), the accountant and the ledger with its writer.
Nothing else constructs a lever. Tests and library users may inject their own parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from . import registry
from .accounting.catalog import PriceCatalog
from .accounting.settlement import Accountant
from .config import GatewayConfig
from .ledger import open_ledger
from .ledger.base import Ledger
from .ledger.writer import LedgerWriter
from .levers.base import Lever
from .levers.context import LeverContext
from .observability import build_observers
from .pipeline import Gateway
from .pipeline.gateway import Observer
from .providers.registry import DEFAULT_BASE_URLS, ProviderSet, network_transport
from .providers.transport import Transport


def build_accountant(config: GatewayConfig) -> Accountant:
    openai_providers = frozenset(
        name for name, p in config.providers.items()
        if p.type == "emulator" or (p.type == "openai" and (
            p.base_url or DEFAULT_BASE_URLS["openai"]).startswith(DEFAULT_BASE_URLS["openai"]))
    )
    return Accountant(PriceCatalog(config.pricing), prompt_storage=config.storage.prompts,
                      openai_providers=openai_providers)


def build_levers(config: GatewayConfig, accountant: Accountant) -> list[Lever]:
    """Every registered lever that its config section leaves enabled, in registry order."""
    context = LeverContext(config, accountant)
    levers: list[Lever] = []
    try:
        for spec in registry.REGISTRY:
            lever = spec.build(context)
            if lever is not None:
                levers.append(lever)
    except BaseException:
        _close_quietly(levers)
        raise
    return levers


def build_transports(config: GatewayConfig, emulator: object | None = None
                     ) -> tuple[dict[str, Transport], object | None]:
    """A transport per provider; ``emulator`` providers share one in-process emulator."""
    transports: dict[str, Transport] = {}
    for name, settings in config.providers.items():
        if settings.type == "emulator":
            from .emulator import Emulator, EmulatorConfig
            from .emulator.transport import EmulatorTransport

            if emulator is None:
                emulator = Emulator(EmulatorConfig(**settings.emulator))
            transports[name] = EmulatorTransport(emulator)  # type: ignore[arg-type]
        else:
            transports[name] = network_transport(settings)
    return transports, emulator


def open_ledger_for(config: GatewayConfig) -> Ledger:
    storage = config.storage
    _ensure_sqlite_dir(storage.ledger)
    if storage.ledger_is_postgres and storage.ledger_schema:
        return open_ledger(storage.ledger, schema=storage.ledger_schema)
    return open_ledger(storage.ledger)


def build_gateway(config: GatewayConfig | None = None, *, emulator: object | None = None,
                  levers: Sequence[Lever] | None = None,
                  transports: Mapping[str, Transport] | None = None,
                  ledger: Ledger | None = None,
                  observers: Sequence[Observer] | None = None) -> Gateway:
    """A gateway for ``config`` (the embedded default when None), with any part injected."""
    config = config or GatewayConfig.embedded_default()
    if observers is None:
        observers = build_observers(config)  # before opening anything: may raise ConfigError
    accountant = build_accountant(config)
    ledger = ledger or open_ledger_for(config)
    try:
        if levers is None:
            levers = build_levers(config, accountant)
        if transports is None:
            transports, emulator = build_transports(config, emulator)
    except BaseException:
        ledger.close()
        raise
    writer = LedgerWriter(ledger, data_dir=config.data_dir,
                          flush_interval=config.storage.ledger_flush_interval_s)
    providers = ProviderSet(config, transports, emulator=emulator)
    return Gateway(config, levers=levers, providers=providers, accountant=accountant,
                   ledger=ledger, writer=writer, observers=observers)


def _close_quietly(levers: list[Lever]) -> None:
    import asyncio
    import contextlib

    for lever in levers:
        with contextlib.suppress(Exception):
            asyncio.run(lever.aclose())


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith(("postgres://", "postgresql://")) or url in ("memory", ":memory:"):
        return
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
