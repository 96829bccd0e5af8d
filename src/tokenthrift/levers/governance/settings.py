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
  trust_attribution_headers: owned_keys_only   # | always | never: whose x-tokenthrift-team/
                            # user/customer headers may name an owner (see ``attribution``)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...config import ConfigError, GatewayConfig
from ...config_section import Section, expected, mapping

AuthMode = Literal["auto", "required", "optional"]
Backend = Literal["memory", "redis"]
HeaderTrust = Literal["owned_keys_only", "always", "never"]

_KNOWN = frozenset({
    "enabled", "auth", "timezone", "reserve_cap_usd", "reservation_ttl_s", "key_cache_ttl_s",
    "refresh_s", "backend", "redis_prefix", "teams", "image_tokens", "approx_tokenizer_margin",
    "webhook_timeout_s", "webhook_attempts", "webhook_backoff_s", "trust_attribution_headers",
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
    trust_attribution_headers: HeaderTrust = "owned_keys_only"


def parse_settings(config: GatewayConfig) -> GovernanceSettings:
    section = Section(config.lever("governance"), "governance", _KNOWN)
    auth = section.choice("auth", "auto", ("auto", "required", "optional"))
    backend = section.choice("backend", "auto", ("auto", "memory", "redis"))
    redis_url = config.storage.redis
    if backend == "auto":
        backend = "redis" if redis_url else "memory"
    if backend == "redis" and not redis_url:
        raise ConfigError("governance.backend: redis, but storage.redis is not set")
    # A request may run for the whole upstream timeout; its reservation must outlive it.
    default_ttl = max(900.0, config.timeout_s + 60.0)
    return GovernanceSettings(
        enabled=section.boolean("enabled", True),
        auth=auth,  # type: ignore[arg-type]
        timezone=_zone(section.get("timezone", "UTC")),
        reserve_cap_usd=_money(section, "reserve_cap_usd", "0.10"),
        reservation_ttl_s=section.seconds("reservation_ttl_s", default_ttl, positive=True),
        key_cache_ttl_s=section.seconds("key_cache_ttl_s", 5.0, minimum=0),
        refresh_s=section.seconds("refresh_s", 5.0, positive=True),
        backend=backend,  # type: ignore[arg-type]
        redis_url=redis_url,
        redis_prefix=section.text("redis_prefix", "tt:gov:"),
        teams=_teams(section.get("teams", {})),
        image_tokens=section.integer("image_tokens", 2000, minimum=0),
        approx_tokenizer_margin=_money(section, "approx_tokenizer_margin", "1.15"),
        webhook_timeout_s=section.seconds("webhook_timeout_s", 5.0, positive=True),
        webhook_attempts=section.integer("webhook_attempts", 5, positive=True),
        webhook_backoff_s=section.seconds("webhook_backoff_s", 1.0, minimum=0),
        trust_attribution_headers=section.choice(  # type: ignore[arg-type]
            "trust_attribution_headers", "owned_keys_only", ("owned_keys_only", "always", "never")),
    )


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise expected("governance.timezone", "an IANA time zone like Europe/Paris",
                       name) from None


def _money(section: Section, key: str, default: str) -> Decimal:
    value = section.get(key, default)
    if isinstance(value, bool):
        raise expected(section.path(key), "a non-negative number", value)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise expected(section.path(key), "a non-negative number", value) from None
    if not amount.is_finite() or amount < 0:
        raise expected(section.path(key), "a non-negative number", value)
    return amount


def _teams(raw: Any) -> dict[str, RateLimit]:
    teams = {}
    for name, limits in mapping(raw, "governance.teams").items():
        team = Section(limits, f"governance.teams.{name}", ("rpm", "tpm"))
        rpm, tpm = (None if team.get(key) is None else team.integer(key, 0, positive=True)
                    for key in ("rpm", "tpm"))
        teams[str(name)] = RateLimit(rpm, tpm)
    return teams
