"""The ``governance:`` config section, validated.

```yaml
governance:
  auth: required            # required | optional; default: required once any virtual key exists
  timezone: UTC             # budget periods (day/week/month) start at local midnight here
  reserve_cap_usd: 0.10     # output allowance reserved when a request has no max_tokens
  reservation_ttl_s: 900    # how long a reservation outlives a crashed replica
  key_cache_ttl_s: 5        # how stale a resolved key may be (revocation delay, other replicas)
  refresh_s: 5              # how often budgets and "do keys exist" are re-read
  backend: auto             # auto | memory | redis (auto: redis when storage.redis is set)
  redis_prefix: "tt:gov:"   # all Redis keys start with this
  teams:                    # per-team rate limits (keys carry their own rpm/tpm)
    search: {rpm: 600, tpm: 200000}
  image_tokens: 2000        # worst-case tokens reserved per input image
  approx_tokenizer_margin: 1.15   # input safety factor where counts are approximate (claude-*)
  webhook_timeout_s: 5
  webhook_attempts: 5
  webhook_backoff_s: 1.0    # first retry delay, doubled each attempt
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...config import ConfigError, GatewayConfig

AuthMode = Literal["auto", "required", "optional"]
Backend = Literal["memory", "redis"]

_KNOWN = frozenset({
    "enabled", "auth", "timezone", "reserve_cap_usd", "reservation_ttl_s", "key_cache_ttl_s",
    "refresh_s", "backend", "redis_prefix", "teams", "image_tokens", "approx_tokenizer_margin",
    "webhook_timeout_s", "webhook_attempts", "webhook_backoff_s",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens per minute; None = no limit of that kind."""

    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class GovernanceSettings:
    enabled: bool = True
    auth: AuthMode = "auto"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    reserve_cap_usd: Decimal = Decimal("0.10")
    reservation_ttl_s: float = 900.0
    key_cache_ttl_s: float = 5.0
    refresh_s: float = 5.0
    backend: Backend = "memory"
    redis_url: str | None = None
    redis_prefix: str = "tt:gov:"
    teams: dict[str, RateLimit] = field(default_factory=dict)
    image_tokens: int = 2000
    approx_tokenizer_margin: Decimal = Decimal("1.15")
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 5
    webhook_backoff_s: float = 1.0


def parse_settings(config: GatewayConfig) -> GovernanceSettings:
    raw: dict[str, Any] = dict(config.lever("governance"))
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(f"governance: unknown key(s) {unknown}; expected some of {sorted(_KNOWN)}")
    auth = raw.get("auth", "auto")
    if auth not in ("auto", "required", "optional"):
        raise ConfigError("governance.auth must be required or optional")
    backend = raw.get("backend", "auto")
    if backend not in ("auto", "memory", "redis"):
        raise ConfigError("governance.backend must be auto, memory or redis")
    redis_url = config.storage.redis
    if backend == "auto":
        backend = "redis" if redis_url else "memory"
    if backend == "redis" and not redis_url:
        raise ConfigError("governance.backend is redis but storage.redis is not set")
    # A request may run for the whole upstream timeout; its reservation must outlive it.
    default_ttl = max(900.0, config.timeout_s + 60.0)
    return GovernanceSettings(
        enabled=bool(raw.get("enabled", True)),
        auth=auth,
        timezone=_zone(raw.get("timezone", "UTC")),
        reserve_cap_usd=_money("reserve_cap_usd", raw.get("reserve_cap_usd", "0.10")),
        reservation_ttl_s=_positive("reservation_ttl_s", raw.get("reservation_ttl_s", default_ttl)),
        key_cache_ttl_s=_positive("key_cache_ttl_s", raw.get("key_cache_ttl_s", 5.0), zero=True),
        refresh_s=_positive("refresh_s", raw.get("refresh_s", 5.0)),
        backend=backend,
        redis_url=redis_url,
        redis_prefix=str(raw.get("redis_prefix", "tt:gov:")),
        teams=_teams(raw.get("teams") or {}),
        image_tokens=int(_positive("image_tokens", raw.get("image_tokens", 2000), zero=True)),
        approx_tokenizer_margin=_money(
            "approx_tokenizer_margin", raw.get("approx_tokenizer_margin", "1.15")
        ),
        webhook_timeout_s=_positive("webhook_timeout_s", raw.get("webhook_timeout_s", 5.0)),
        webhook_attempts=int(_positive("webhook_attempts", raw.get("webhook_attempts", 5))),
        webhook_backoff_s=_positive("webhook_backoff_s", raw.get("webhook_backoff_s", 1.0),
                                    zero=True),
    )


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"governance.timezone: unknown time zone {name!r}") from None


def _money(key: str, value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"governance.{key} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"governance.{key} must be a non-negative number")
    return amount


def _positive(key: str, value: Any, *, zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"governance.{key} must be a number, got {value!r}") from None
    if number < 0 or (number == 0 and not zero):
        raise ConfigError(f"governance.{key} must be {'>= 0' if zero else '> 0'}")
    return number


def _teams(raw: Any) -> dict[str, RateLimit]:
    if not isinstance(raw, dict):
        raise ConfigError("governance.teams must map team names to {rpm, tpm}")
    teams = {}
    for name, limits in raw.items():
        if not isinstance(limits, dict) or set(limits) - {"rpm", "tpm"}:
            raise ConfigError(f"governance.teams.{name}: expected {{rpm, tpm}}")
        rpm, tpm = limits.get("rpm"), limits.get("tpm")
        for key, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"governance.teams.{name}.{key} must be a positive integer")
        teams[str(name)] = RateLimit(rpm, tpm)
    return teams
