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
  - name: "*"                 # catch-all: any other name goes here
    provider: emulator
retry: {max_retries: 2, backoff_s: 0.25, max_backoff_s: 8}
timeout_s: 600
storage: {ledger: "sqlite:///.tokenthrift/ledger.db", prompts: hash, redis: "redis://127.0.0.1:6379/0"}
master_key: ${TOKENTHRIFT_MASTER_KEY}   # admin API (/admin/*); default: that env var
cache: {...}                  # response caching, see levers.cache
governance: {...}             # virtual keys, budgets, rate limits, see levers.governance
pricing:                      # overrides of the price catalog (see accounting.catalog)
  my-llama: {gpu_hour_usd: 2.0, tokens_per_second: 2500}
```

With no file at all the embedded default applies: every model name is served by the
built-in emulator and the ledger is SQLite under ``./.tokenthrift/``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

ProviderType = Literal["openai", "anthropic", "emulator"]
PROVIDER_TYPES = ("openai", "anthropic", "emulator")
DEFAULT_DATA_DIR = ".tokenthrift"
# Top-level config sections owned by a lever (each lever validates its own section).
LEVER_SECTIONS = ("cache", "governance", "routing", "compression", "prompt_caching", "batch")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The configuration file is invalid; the message says where."""


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
    connect_timeout_s: float = 10.0
    # Largest request body accepted (bytes); larger → 413.
    max_body_bytes: int = 32 * 1024 * 1024
    data_dir: str = DEFAULT_DATA_DIR
    # Admin API secret; falls back to $TOKENTHRIFT_MASTER_KEY. None = admin API disabled.
    master_key: str | None = None
    # Raw settings of each lever (``cache``, ``governance``…), parsed by the lever itself.
    levers: dict[str, dict[str, Any]] = field(default_factory=dict)

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
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping at the top level")
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> GatewayConfig:
    providers = _parse_providers(raw.get("providers") or {"emulator": {"type": "emulator"}})
    models = _parse_models(raw.get("models") or [{"name": "*", "provider": next(iter(providers))}])
    for route in models:
        if route.provider not in providers:
            raise ConfigError(f"model {route.name!r} uses unknown provider {route.provider!r}")
    storage_raw = raw.get("storage") or {}
    data_dir = str(raw.get("data_dir", DEFAULT_DATA_DIR))
    storage = StorageConfig(
        ledger=str(resolve_env(storage_raw.get("ledger", f"sqlite:///{data_dir}/ledger.db"))),
        prompts=storage_raw.get("prompts", "hash"),
        ledger_flush_interval_s=float(storage_raw.get("ledger_flush_interval_s", 0.05)),
        redis=resolve_env(storage_raw.get("redis")),
        ledger_schema=storage_raw.get("ledger_schema"),
    )
    if storage.prompts not in ("off", "hash", "full"):
        raise ConfigError("storage.prompts must be one of off|hash|full")
    retry_raw = raw.get("retry") or {}
    try:
        retry = RetryConfig(**retry_raw)
    except TypeError as exc:
        raise ConfigError(f"retry: {exc}") from None
    pricing = raw.get("pricing") or {}
    if not isinstance(pricing, dict):
        raise ConfigError("pricing must be a mapping of model name to prices")
    return GatewayConfig(
        providers=providers,
        models=models,
        retry=retry,
        storage=storage,
        pricing=pricing,
        timeout_s=float(raw.get("timeout_s", 600.0)),
        connect_timeout_s=float(raw.get("connect_timeout_s", 10.0)),
        max_body_bytes=int(raw.get("max_body_bytes", 32 * 1024 * 1024)),
        data_dir=data_dir,
        master_key=resolve_env(raw.get("master_key")),
        levers={name: dict(raw.get(name) or {}) for name in LEVER_SECTIONS if raw.get(name)},
    )


def _parse_providers(raw: Any) -> dict[str, ProviderConfig]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("providers must be a non-empty mapping of name to settings")
    providers: dict[str, ProviderConfig] = {}
    for name, settings in raw.items():
        settings = settings or {}
        kind = settings.get("type", name)
        if kind not in PROVIDER_TYPES:
            raise ConfigError(f"provider {name!r}: type must be one of {', '.join(PROVIDER_TYPES)}")
        if kind != "emulator" and not settings.get("base_url") and kind == "openai" and name != "openai":
            raise ConfigError(f"provider {name!r}: base_url is required")
        providers[name] = ProviderConfig(
            name=name,
            type=kind,
            base_url=resolve_env(settings.get("base_url")),
            api_key=resolve_env(settings.get("api_key")),
            headers={k: str(resolve_env(v)) for k, v in (settings.get("headers") or {}).items()},
            emulator=dict(settings.get("emulator") or {}),
        )
    return providers


def _parse_models(raw: Any) -> list[ModelRoute]:
    if not isinstance(raw, list):
        raise ConfigError("models must be a list")
    routes = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or "name" not in entry or "provider" not in entry:
            raise ConfigError(f"models[{i}] needs a name and a provider")
        routes.append(
            ModelRoute(
                name=str(entry["name"]),
                provider=str(entry["provider"]),
                upstream_model=entry.get("upstream_model"),
                fallbacks=[str(f) for f in entry.get("fallbacks") or []],
                timeout_s=entry.get("timeout_s"),
            )
        )
    return routes
