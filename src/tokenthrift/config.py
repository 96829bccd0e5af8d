"""Gateway configuration: one YAML file, secrets by environment reference.

```yaml
providers:
  openai:    {type: openai, base_url: https://api.openai.com/v1, api_key: ${OPENAI_API_KEY}}
  anthropic: {type: anthropic, base_url: https://api.anthropic.com, api_key: os.environ/ANTHROPIC_API_KEY}
  local:     {type: openai, base_url: http://127.0.0.1:8000/v1}     # vLLM, Ollama, llama.cpp…
  emulator:  {type: emulator}                                        # built-in, no network
models:                       # the model names clients may ask for
  - name: gpt-4o
    provider: openai
    upstream_model: gpt-4o    # default: the name itself
    fallbacks: [claude-sonnet-4-5]
  - name: gpt-4o              # a second entry of one name: a pool of deployments
    provider: azure
    upstream_model: my-gpt-4o-deployment
    weight: 1                 # share of the pool's traffic (default 1)
  - name: "*"                 # catch-all: any other name goes here
    provider: emulator
routing_strategy: weighted    # how a pool is balanced: weighted | least_busy (per model:
                              # models[i].routing_strategy)
cooldown: {failures: 3, window_s: 60, period_s: 30}   # see pipeline.deployments
retry: {max_retries: 2, backoff_s: 0.25, max_backoff_s: 8}
timeout_s: 600                # per upstream attempt
deadline_s: 600               # per request, retries and fallbacks included (default: timeout_s)
storage: {ledger: "sqlite:///.tokenthrift/ledger.db", prompts: hash, redis: "redis://127.0.0.1:6379/0"}
master_key: ${TOKENTHRIFT_MASTER_KEY}   # admin API (/admin/*); default: that env var
cache: {...}                  # response caching, see levers.cache
governance: {...}             # virtual keys, budgets, rate limits, see levers.governance
observability: {...}          # /metrics, /ui, OpenTelemetry, see docs/observability.md
pricing:                      # overrides of the price catalog (see accounting.catalog)
  my-llama: {gpu_hour_usd: 2.0, tokens_per_second: 2500}
```

With no file at all the embedded default applies: every model name is served by the
built-in emulator and the ledger is SQLite under ``./.tokenthrift/``.

The file is read strictly: an unknown section or key, or a value of the wrong type, is a
``ConfigError`` naming the key path and what is allowed there. A section of a lever on
the roadmap but not in this version (``registry.PLANNED``) is refused by name.
Lever sections are checked by each lever's own settings parser, when the gateway is built
or by ``tokenthrift config check``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from .config_section import (
    ConfigError,
    Section,
    boolean,
    check_keys,
    expected,
    integer,
    mapping,
    number,
    text,
    text_list,
    unknown_key,
)
from .registry import PLANNED
from .registry import sections as lever_sections

ProviderType = Literal["openai", "anthropic", "emulator"]
PROVIDER_TYPES = ("openai", "anthropic", "emulator")
DEFAULT_DATA_DIR = ".tokenthrift"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Top-level keys besides the lever sections (``registry.sections()``).
_CORE_KEYS = ("providers", "models", "retry", "storage", "pricing", "timeout_s",
              "deadline_s", "connect_timeout_s", "max_body_bytes", "data_dir", "master_key",
              "observability", "routing_strategy", "cooldown")
ROUTING_STRATEGIES = ("weighted", "least_busy")
RoutingStrategy = Literal["weighted", "least_busy"]
_PROVIDER_KEYS = ("type", "base_url", "api_key", "headers", "emulator")
_LEDGER_SCHEMES = ("sqlite", "postgres", "postgresql")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

__all__ = ["ConfigError", "CooldownConfig", "GatewayConfig", "ModelRoute", "ProviderConfig",
           "RetryConfig",
           "StorageConfig", "load_config", "parse_config", "resolve_env"]


@dataclass(slots=True)
class ProviderConfig:
    name: str
    type: ProviderType
    base_url: str | None = None
    api_key: str | None = None
    # Extra headers sent upstream (e.g. OpenAI-Organization); values may reference env vars.
    headers: dict[str, str] = field(default_factory=dict)
    # Emulator settings (type: emulator), passed to EmulatorConfig.
    emulator: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print secrets
        return f"ProviderConfig(name={self.name!r}, type={self.type!r}, base_url={self.base_url!r})"


@dataclass(slots=True)
class ModelRoute:
    """A model name clients may ask for and where it is served."""

    name: str
    provider: str
    upstream_model: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    timeout_s: float | None = None
    # Entries sharing a name form a pool of deployments: ``weight`` is this one's share
    # of the traffic, ``routing_strategy`` (None = the global one) how the pool is balanced.
    weight: float = 1.0
    routing_strategy: RoutingStrategy | None = None

    def matches(self, model: str) -> bool:
        if "*" in self.name or "?" in self.name:
            return fnmatch.fnmatchcase(model, self.name)
        return model == self.name


@dataclass(slots=True)
class RetryConfig:
    max_retries: int = 2
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    # Longest retry-after we honour before giving up and trying a fallback instead.
    max_retry_after_s: float = 30.0


@dataclass(slots=True)
class CooldownConfig:
    """A deployment with ``failures`` failed attempts (429, 5xx, timeouts, cut
    connections) within ``window_s`` is tried last for ``period_s``, then probed by one
    request (``pipeline.deployments``). Off unless the config has a ``cooldown`` section."""

    enabled: bool = False
    failures: int = 3
    window_s: float = 60.0
    period_s: float = 30.0


@dataclass(slots=True)
class StorageConfig:
    ledger: str = f"sqlite:///{DEFAULT_DATA_DIR}/ledger.db"
    prompts: Literal["off", "hash", "full"] = "hash"
    ledger_flush_interval_s: float = 0.05
    # Shared counters and caches across replicas; None = in-process.
    redis: str | None = None
    # PostgreSQL schema for the ledger tables (created if missing); None = search_path.
    ledger_schema: str | None = None

    @property
    def ledger_is_postgres(self) -> bool:
        return self.ledger.startswith(("postgres://", "postgresql://"))

    def __repr__(self) -> str:  # a ledger URL may carry a password
        ledger = "postgresql://…" if self.ledger_is_postgres else self.ledger
        return f"StorageConfig(ledger={ledger!r}, prompts={self.prompts!r})"


@dataclass(slots=True)
class GatewayConfig:
    providers: dict[str, ProviderConfig]
    models: list[ModelRoute]
    retry: RetryConfig = field(default_factory=RetryConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    pricing: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout_s: float = 600.0
    # The longest one request may take, retries and fallbacks included; None = timeout_s
    # (so by default a hung upstream is answered 504 after timeout_s, not once per retry).
    deadline_s: float | None = None
    connect_timeout_s: float = 10.0
    # Largest request body accepted (bytes); larger → 413.
    max_body_bytes: int = 32 * 1024 * 1024
    data_dir: str = DEFAULT_DATA_DIR
    # Admin API secret; falls back to $TOKENTHRIFT_MASTER_KEY. None = admin API disabled.
    master_key: str | None = None
    # Raw settings of each lever (``cache``, ``governance``…), parsed by the lever itself.
    levers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Raw ``observability`` section (metrics, /ui, OpenTelemetry), parsed by
    # ``tokenthrift.observability.settings``.
    observability: dict[str, Any] = field(default_factory=dict)
    # How a pool of deployments (``models`` entries sharing a name) is balanced.
    routing_strategy: RoutingStrategy = "weighted"
    cooldown: CooldownConfig = field(default_factory=CooldownConfig)

    def __repr__(self) -> str:  # never print secrets
        return f"GatewayConfig(models={[m.name for m in self.models]!r}, storage={self.storage!r})"

    def lever(self, name: str) -> dict[str, Any]:
        return self.levers.get(name) or {}

    def admin_key(self) -> str | None:
        return self.master_key or os.environ.get("TOKENTHRIFT_MASTER_KEY") or None

    def route_for(self, model: str) -> ModelRoute | None:
        for route in self.models:
            if route.matches(model):
                return route
        return None

    def routes_for(self, model: str) -> list[ModelRoute]:
        """Every deployment of ``model``: the entries named like the first that matches."""
        first = self.route_for(model)
        if first is None:
            return []
        return [route for route in self.models if route.name == first.name]

    @classmethod
    def embedded_default(cls, data_dir: str = DEFAULT_DATA_DIR) -> GatewayConfig:
        return cls(
            providers={"emulator": ProviderConfig(name="emulator", type="emulator")},
            models=[ModelRoute(name="*", provider="emulator")],
            storage=StorageConfig(ledger=f"sqlite:///{data_dir}/ledger.db"),
            data_dir=data_dir,
        )


def resolve_env(value: Any) -> Any:
    """Expand ``${VAR}`` and LiteLLM-style ``os.environ/VAR`` references."""
    if not isinstance(value, str):
        return value
    if value.startswith("os.environ/"):
        name = value.removeprefix("os.environ/")
        return _require_env(name)
    return _ENV_REF.sub(lambda m: _require_env(m.group(1)), value)


def _require_env(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise ConfigError(f"environment variable {name} is referenced but not set") from None


def load_config(path: str | Path | None) -> GatewayConfig:
    if path is None:
        return GatewayConfig.embedded_default()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping at the top level")
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> GatewayConfig:
    """Validate the whole file except the lever sections, which each lever parses itself
    (``tokenthrift config check`` runs those parsers too)."""
    top = mapping(raw, "config file")
    _check_sections(top)
    section = Section(top, "", (*_CORE_KEYS, *lever_sections()))
    providers = _parse_providers(top.get("providers") or {"emulator": {"type": "emulator"}})
    models = _parse_models(top.get("models") or [{"name": "*", "provider": next(iter(providers))}])
    for i, route in enumerate(models):
        if route.provider not in providers:
            raise ConfigError(f"models[{i}].provider: unknown provider {route.provider!r}; "
                              f"configured: {', '.join(providers)}")
    data_dir = section.text("data_dir", DEFAULT_DATA_DIR)
    return GatewayConfig(
        providers=providers,
        models=models,
        retry=_parse_retry(top.get("retry")),
        storage=_parse_storage(top.get("storage"), data_dir),
        pricing=_parse_pricing(top.get("pricing")),
        timeout_s=section.seconds("timeout_s", 600.0, positive=True),
        deadline_s=section.optional_seconds("deadline_s", positive=True),
        connect_timeout_s=section.seconds("connect_timeout_s", 10.0, positive=True),
        max_body_bytes=section.integer("max_body_bytes", 32 * 1024 * 1024, positive=True),
        data_dir=data_dir,
        master_key=_env_text(section, "master_key"),
        levers=_lever_sections(top),
        observability=mapping(top.get("observability"), "observability"),
        routing_strategy=section.choice("routing_strategy", "weighted",  # type: ignore[arg-type]
                                        ROUTING_STRATEGIES),
        cooldown=_parse_cooldown(top.get("cooldown")),
    )


def _check_sections(top: dict[str, Any]) -> None:
    """A planned lever's section is refused by name; any other unknown one with the list."""
    for name in top:
        if name in PLANNED and name not in lever_sections():
            raise ConfigError(f"{name}: the {PLANNED[name]} lever is not available in this "
                              f"version (levers: {', '.join(lever_sections())})")
        if name not in _CORE_KEYS and name not in lever_sections():
            raise unknown_key("", name, (*_CORE_KEYS, *lever_sections()), what="section")


def _lever_sections(top: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each lever's raw mapping, for the lever's own parser (``cache: false`` is refused
    here rather than read as "no settings", which would leave the cache on)."""
    levers = {name: mapping(top[name], name) for name in lever_sections() if name in top}
    return {name: settings for name, settings in levers.items() if settings}


def _env_text(section: Section, key: str, default: str | None = None) -> str | None:
    value = section.optional_text(key)
    return default if value is None else str(resolve_env(value))


def _parse_storage(raw: Any, data_dir: str) -> StorageConfig:
    section = Section(raw, "storage", StorageConfig.__slots__)
    ledger = _env_text(section, "ledger") or f"sqlite:///{data_dir}/ledger.db"
    scheme = ledger.split("://", 1)[0] if "://" in ledger else ""
    if scheme not in ("", *_LEDGER_SCHEMES):  # never echo the URL: it may hold a password
        raise ConfigError(f"storage.ledger: expected postgresql://…, sqlite:///path or a file "
                          f"path, got a {scheme}:// URL")
    redis = _env_text(section, "redis") or None
    if redis is not None and not redis.startswith(_REDIS_SCHEMES):
        raise ConfigError(f"storage.redis: expected a redis://, rediss:// or unix:// URL, "
                          f"got {redis.split('://', 1)[0]!r}")
    return StorageConfig(
        ledger=ledger,
        prompts=section.choice("prompts", "hash", ("off", "hash", "full")),  # type: ignore[arg-type]
        ledger_flush_interval_s=section.seconds("ledger_flush_interval_s", 0.05, positive=True),
        redis=redis,
        ledger_schema=section.optional_text("ledger_schema"),
    )


def _parse_retry(raw: Any) -> RetryConfig:
    section = Section(raw, "retry", RetryConfig.__slots__)
    defaults = RetryConfig()
    return RetryConfig(
        max_retries=section.integer("max_retries", defaults.max_retries, minimum=0),
        backoff_s=section.seconds("backoff_s", defaults.backoff_s, minimum=0),
        max_backoff_s=section.seconds("max_backoff_s", defaults.max_backoff_s, minimum=0),
        max_retry_after_s=section.seconds("max_retry_after_s", defaults.max_retry_after_s,
                                          minimum=0),
    )


def _parse_cooldown(raw: Any) -> CooldownConfig:
    """Off unless the section is there (``cooldown: true`` = the defaults): a cooldown
    can move traffic to a fallback model, so it is a choice the config makes."""
    if raw is None or isinstance(raw, bool):
        return CooldownConfig(enabled=bool(raw))
    section = Section(raw, "cooldown", CooldownConfig.__slots__)
    defaults = CooldownConfig()
    return CooldownConfig(
        enabled=section.boolean("enabled", True),
        failures=section.integer("failures", defaults.failures, positive=True),
        window_s=section.duration("window_s", defaults.window_s),
        period_s=section.duration("period_s", defaults.period_s),
    )


def _parse_pricing(raw: Any) -> dict[str, dict[str, Any]]:
    pricing = mapping(raw, "pricing")
    # Late import: accounting is not needed to read the rest of the file.
    from .accounting.overrides import BATCH_KEY, GPU_KEYS, TOKEN_KEYS, parse_overrides

    for model, entry in pricing.items():
        if isinstance(entry, dict):
            check_keys(entry, (*TOKEN_KEYS, *GPU_KEYS, BATCH_KEY), f"pricing.{model}")
    try:
        parse_overrides(pricing)  # the catalog parses them again; this names the key now
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return pricing


def _parse_providers(raw: Any) -> dict[str, ProviderConfig]:
    providers = mapping(raw, "providers")
    if not providers:
        raise ConfigError("providers: expected a non-empty mapping of name to settings, got {}")
    return {str(name): _parse_provider(str(name), settings)
            for name, settings in providers.items()}


def _parse_provider(name: str, raw: Any) -> ProviderConfig:
    where = f"providers.{name}"
    section = Section(raw, where, _PROVIDER_KEYS)
    if section.get("type") is None and name not in PROVIDER_TYPES:
        raise ConfigError(f"{where}.type: required (one of {', '.join(PROVIDER_TYPES)}) "
                          f"when the provider is not named after its type")
    kind = section.choice("type", name, PROVIDER_TYPES)
    base_url = _env_text(section, "base_url")
    if kind == "openai" and name != "openai" and not base_url:
        raise ConfigError(f"{where}.base_url: required for an OpenAI-compatible provider "
                          f"other than api.openai.com")
    headers = mapping(section.get("headers"), f"{where}.headers")
    return ProviderConfig(
        name=name,
        type=kind,  # type: ignore[arg-type]
        base_url=base_url,
        api_key=_env_text(section, "api_key"),
        headers={str(k): str(resolve_env(text(v, f"{where}.headers.{k}")))
                 for k, v in headers.items()},
        emulator=_emulator_settings(section.get("emulator"), f"{where}.emulator"),
    )


def _emulator_settings(raw: Any, where: str) -> dict[str, Any]:
    settings = mapping(raw, where)
    if not settings:
        return {}
    # Late import: the emulator package is only needed when it is configured.
    from .emulator.config import EmulatorConfig

    kinds = {f.name: str(f.type) for f in fields(EmulatorConfig)}
    parsed: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in kinds:
            raise unknown_key(where, key, kinds)
        path, kind = f"{where}.{key}", kinds[key]
        if kind == "bool":
            parsed[key] = boolean(value, path)
        elif kind == "int":
            parsed[key] = integer(value, path, minimum=0)
        elif kind == "float":
            parsed[key] = number(value, path, minimum=0)
        else:  # model names, API keys
            parsed[key] = None if value is None and "None" in kind else text_list(value, path)
    try:
        EmulatorConfig(**parsed)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return parsed


def _parse_models(raw: Any) -> list[ModelRoute]:
    if not isinstance(raw, list):
        raise expected("models", "a list of {name, provider}", raw)
    models = [_parse_model(entry, f"models[{i}]") for i, entry in enumerate(raw)]
    _check_pools(models)
    return models


def _check_pools(models: list[ModelRoute]) -> None:
    """Entries sharing a name are one pool: each deployment distinct, one strategy."""
    seen: dict[tuple[str, str, str | None], int] = {}
    strategy: dict[str, tuple[int, str]] = {}
    for i, route in enumerate(models):
        key = (route.name, route.provider, route.upstream_model)
        if key in seen:
            raise ConfigError(f"models[{i}]: the same deployment as models[{seen[key]}] "
                              f"({route.name!r} on provider {route.provider!r}); a second "
                              f"deployment needs another provider or upstream_model")
        seen[key] = i
        if route.routing_strategy is None:
            continue
        first = strategy.setdefault(route.name, (i, route.routing_strategy))
        if first[1] != route.routing_strategy:
            raise ConfigError(f"models[{i}].routing_strategy: {route.routing_strategy!r} "
                              f"differs from models[{first[0]}] ({first[1]!r}) of the same "
                              f"pool {route.name!r}")


def _parse_model(raw: Any, where: str) -> ModelRoute:
    section = Section(raw, where, ModelRoute.__slots__)
    for key in ("name", "provider"):
        if section.get(key) is None:
            raise ConfigError(f"{where}.{key}: required (every model needs a name and a provider)")
    fallbacks = section.get("fallbacks", [])
    return ModelRoute(
        name=section.text("name", ""),
        provider=section.text("provider", ""),
        upstream_model=section.optional_text("upstream_model"),
        fallbacks=text_list(fallbacks, f"{where}.fallbacks", what="a list of model names"),
        timeout_s=section.optional_seconds("timeout_s", positive=True),
        weight=section.number("weight", 1.0, positive=True),
        routing_strategy=(section.choice("routing_strategy", "weighted", ROUTING_STRATEGIES)  # type: ignore[arg-type]
                          if "routing_strategy" in section else None),
    )
