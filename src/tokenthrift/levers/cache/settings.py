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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...config import ConfigError, GatewayConfig
from ...config_section import Section, boolean, check_keys, choice, mapping, number

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
        section = Section(config.lever("cache"), "cache", _TOP_KEYS)
        scope = _scope(section.get("scope", "key"), "cache.scope")
        backend = section.choice("backend", "memory", BACKENDS)
        if backend == "redis" and not config.storage.redis:
            raise ConfigError("cache.backend: redis needs storage.redis (a redis:// URL)")
        max_temperature = section.get("max_temperature")
        semantic, matcher = _semantic_layer(section.raw.get("semantic"), scope)
        return cls(
            exact=_layer(section.raw.get("exact"), "cache.exact", scope=scope),
            semantic=semantic,
            matcher=matcher,
            backend=backend,  # type: ignore[arg-type]
            redis_url=config.storage.redis,
            redis_prefix=section.text("redis_prefix", DEFAULT_REDIS_PREFIX).rstrip(":"),
            sqlite_path=section.text("sqlite_path", str(Path(config.data_dir) / "cache.db")),
            max_temperature=(None if max_temperature is None
                             else number(max_temperature, "cache.max_temperature", minimum=0)),
            store_truncated=section.boolean("store_truncated", False),
            data_dir=config.data_dir,
        )


def _layer(raw: Any, where: str, *, scope: Scope) -> LayerSettings:
    if isinstance(raw, bool):  # ``exact: false`` as shorthand
        raw = {"enabled": raw}
    section = Section(raw, where, _LAYER_KEYS)
    return LayerSettings(
        enabled=section.boolean("enabled", True),
        ttl_s=section.duration("ttl", DEFAULT_TTL_S),
        max_entries=section.integer("max_entries", DEFAULT_MAX_ENTRIES, positive=True),
        scope=_scope(section.get("scope", scope), f"{where}.scope"),
    )


def _semantic_layer(raw: Any, scope: Scope) -> tuple[LayerSettings, Any]:
    if isinstance(raw, bool):
        raw = {"enabled": raw}
    raw = mapping(raw, "cache.semantic")
    # The matcher's settings module is light; its validation imports numpy (embedders).
    from .semantic.settings import KNOWN_KEYS, SemanticSettings

    check_keys(raw, KNOWN_KEYS, "cache.semantic")
    if not boolean(raw.get("enabled", False), "cache.semantic.enabled"):
        # Off: the keys are checked, the values not (an embedder key may name an env var
        # that is only set where the semantic cache runs).
        return LayerSettings(False, DEFAULT_TTL_S, DEFAULT_MAX_ENTRIES, scope), None
    try:  # the top-level cache.scope is the default of both layers
        parsed = SemanticSettings.from_mapping({"scope": scope, **raw})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    layer = LayerSettings(enabled=parsed.enabled, ttl_s=parsed.ttl or NEVER_S,
                          max_entries=parsed.max_entries,
                          scope=_scope(parsed.scope, "cache.semantic.scope"))
    return layer, parsed


def _scope(value: Any, where: str) -> Scope:
    return choice(value, where, SCOPES)  # type: ignore[return-value]
