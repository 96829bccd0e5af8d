"""The ``cache:`` section of the gateway config.

```yaml
cache:
  backend: memory            # memory | sqlite | redis (redis URL: storage.redis)
  scope: key                 # key | team | customer | user | global — default of both layers
  redis_prefix: tokenthrift:cache
  sqlite_path: <data_dir>/cache.db
  max_temperature: null      # bypass the cache above this temperature (null: never)
  store_truncated: false     # also store answers cut by max_tokens (finish_reason length)
  exact:    {enabled: true,  ttl: 1h, max_entries: 10000, scope: key}
  semantic: {enabled: false, ttl: 1h, max_entries: 100000, scope: key,
             target_precision: 0.9, embedder: onnx-minilm, guards: […]}
```

``cache.semantic`` is parsed by the semantic matcher's own ``SemanticSettings`` (it owns
the embedder, threshold and guard settings); this module reads its enabled/ttl/scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...config import ConfigError, GatewayConfig

Scope = Literal["key", "team", "customer", "user", "global"]
Backend = Literal["memory", "sqlite", "redis"]
SCOPES: tuple[Scope, ...] = ("key", "team", "customer", "user", "global")
BACKENDS: tuple[Backend, ...] = ("memory", "sqlite", "redis")
DEFAULT_TTL_S = 3600.0
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_REDIS_PREFIX = "tokenthrift:cache"
# A semantic ttl of 0/never means no expiry; backends still want a deadline.
NEVER_S = 10 * 365 * 86400.0

_TOP_KEYS = frozenset({"backend", "scope", "redis_prefix", "sqlite_path", "max_temperature",
                       "store_truncated", "exact", "semantic"})
_LAYER_KEYS = frozenset({"enabled", "ttl", "max_entries", "scope"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class LayerSettings:
    enabled: bool
    ttl_s: float
    max_entries: int
    scope: Scope


@dataclass(frozen=True, slots=True)
class CacheSettings:
    exact: LayerSettings
    semantic: LayerSettings
    # The matcher's parsed settings (``semantic.settings.SemanticSettings``).
    matcher: Any = None
    backend: Backend = "memory"
    redis_url: str | None = None
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    sqlite_path: str = ".tokenthrift/cache.db"
    max_temperature: float | None = None
    store_truncated: bool = False
    data_dir: str = ".tokenthrift"

    @property
    def enabled(self) -> bool:
        return self.exact.enabled or self.semantic.enabled

    @property
    def capacity(self) -> int:
        """Entries the payload store keeps (memory/sqlite) — one payload serves both layers."""
        sizes = [layer.max_entries for layer in (self.exact, self.semantic) if layer.enabled]
        return max(sizes, default=self.exact.max_entries)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> CacheSettings:
        raw = config.lever("cache")
        _reject_unknown(raw, _TOP_KEYS, "cache")
        scope = _scope(raw.get("scope", "key"), "cache.scope")
        backend = raw.get("backend", "memory")
        if backend not in BACKENDS:
            raise ConfigError(f"cache.backend must be one of {'|'.join(BACKENDS)}")
        if backend == "redis" and not config.storage.redis:
            raise ConfigError("cache.backend redis needs storage.redis (a redis:// URL)")
        max_temperature = raw.get("max_temperature")
        if max_temperature is not None and not isinstance(max_temperature, int | float):
            raise ConfigError("cache.max_temperature must be a number or null")
        semantic, matcher = _semantic_layer(raw.get("semantic"), scope)
        return cls(
            exact=_layer(raw.get("exact"), "cache.exact", scope=scope),
            semantic=semantic,
            matcher=matcher,
            backend=backend,
            redis_url=config.storage.redis,
            redis_prefix=str(raw.get("redis_prefix", DEFAULT_REDIS_PREFIX)).rstrip(":"),
            sqlite_path=str(raw.get("sqlite_path", Path(config.data_dir) / "cache.db")),
            max_temperature=None if max_temperature is None else float(max_temperature),
            store_truncated=bool(raw.get("store_truncated", False)),
            data_dir=config.data_dir,
        )


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or ``30s``/``15m``/``1h``/``7d``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a duration like 3600, 15m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ConfigError(f"{where} must be a duration like 3600, 15m, 1h")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    if seconds <= 0:
        raise ConfigError(f"{where} must be positive")
    return seconds


def _layer(raw: Any, where: str, *, scope: Scope) -> LayerSettings:
    if raw is None:
        raw = {}
    elif isinstance(raw, bool):  # ``exact: false`` as shorthand
        raw = {"enabled": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    _reject_unknown(raw, _LAYER_KEYS, where)
    max_entries = raw.get("max_entries", DEFAULT_MAX_ENTRIES)
    if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
        raise ConfigError(f"{where}.max_entries must be a positive integer")
    return LayerSettings(
        enabled=bool(raw.get("enabled", True)),
        ttl_s=parse_duration(raw.get("ttl", DEFAULT_TTL_S), f"{where}.ttl"),
        max_entries=max_entries,
        scope=_scope(raw.get("scope", scope), f"{where}.scope"),
    )


def _semantic_layer(raw: Any, scope: Scope) -> tuple[LayerSettings, Any]:
    if isinstance(raw, bool):
        raw = {"enabled": raw}
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError("cache.semantic must be a mapping")
    if not raw or not raw.get("enabled", False):
        # Off: skip the matcher's settings module (it imports numpy and the embedders).
        return LayerSettings(False, DEFAULT_TTL_S, DEFAULT_MAX_ENTRIES, scope), None
    from .semantic.settings import SemanticSettings

    try:  # the top-level cache.scope is the default of both layers
        parsed = SemanticSettings.from_mapping({"scope": scope, **(raw or {})})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    layer = LayerSettings(enabled=parsed.enabled, ttl_s=parsed.ttl or NEVER_S,
                          max_entries=parsed.max_entries,
                          scope=_scope(parsed.scope, "cache.semantic.scope"))
    return layer, parsed


def _scope(value: Any, where: str) -> Scope:
    if value not in SCOPES:
        raise ConfigError(f"{where} must be one of {'|'.join(SCOPES)}")
    return value  # type: ignore[no-any-return]


def _reject_unknown(raw: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
