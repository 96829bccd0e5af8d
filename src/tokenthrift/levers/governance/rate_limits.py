"""Requests and tokens per minute, per key (from the key) and per team (from the config).

Each limit is a GCRA (generic cell rate algorithm, the token bucket written as one
timestamp): a limit of L per minute has an emission interval T = 60 s / L, and the
state is the "theoretical arrival time" TAT. A request costing c is allowed when
``max(TAT, now) + c*T - now <= 60 s``, i.e. a full minute's allowance may be used in a
burst, then it refills continuously. One number per limit makes the check O(1) and the
Redis version a single GET/SET inside the admit script.

Tokens per minute are charged on admit with the worst case (counted input + max_tokens)
and corrected on settle to what the upstream reported (failures and cache hits refund
everything), so a limit is not eaten by output that never came. A single request that
alone needs more than a minute's tokens is charged the whole minute instead of being
refused forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keys import VirtualKey
from .settings import RateLimit

PERIOD_S = 60.0


@dataclass(frozen=True, slots=True)
class RateCharge:
    """One limit a request is charged against: ``cost`` units of ``limit`` per minute."""

    name: str  # counter name, e.g. "rl:key:vk_…:tpm"
    owner: str  # for messages: "key vk_…" / "team 'search'"
    unit: str  # "rpm" | "tpm"
    limit: int
    cost: int

    def corrected(self, actual: int) -> RateCharge:
        """The same limit with ``cost`` = the correction from the charged to ``actual``."""
        return RateCharge(self.name, self.owner, self.unit, self.limit,
                          min(actual, self.limit) - self.cost)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits that apply to one request (tokens not yet known)."""

    entries: tuple[tuple[str, str, RateLimit], ...]  # (counter prefix, owner, limits)

    @property
    def needs_tokens(self) -> bool:
        return any(limit.tpm for _, _, limit in self.entries)

    def charges(self, tokens: int) -> list[RateCharge]:
        out = []
        for prefix, owner, limit in self.entries:
            if limit.rpm:
                out.append(RateCharge(f"{prefix}:rpm", owner, "rpm", limit.rpm, 1))
            if limit.tpm:
                out.append(RateCharge(f"{prefix}:tpm", owner, "tpm", limit.tpm,
                                      min(tokens, limit.tpm)))
        return out


NO_LIMITS = RateLimits(())


def limits_for(key: VirtualKey | None, team: str | None, teams: dict[str, RateLimit]
               ) -> RateLimits:
    entries = []
    if key is not None and (key.rpm or key.tpm):
        entries.append((f"rl:key:{key.id}", f"key {key.id}", RateLimit(key.rpm, key.tpm)))
    if team is not None and teams:
        limit = teams.get(team)
        if limit is not None and (limit.rpm or limit.tpm):
            entries.append((f"rl:team:{team}", f"team '{team}'", limit))
    return RateLimits(tuple(entries)) if entries else NO_LIMITS


def gcra(tat: float | None, now: float, limit: int, cost: int) -> tuple[float, float]:
    """``(new_tat, 0)`` if a request costing ``cost`` fits, else ``(tat, seconds_to_wait)``."""
    interval = PERIOD_S / limit
    start = now if tat is None or tat < now else tat
    new_tat = start + cost * interval
    wait = new_tat - PERIOD_S - now
    if wait > 0:
        return (now if tat is None else tat), wait
    return new_tat, 0.0


def apply_correction(tat: float | None, limit: int, delta: int) -> float | None:
    if tat is None or delta == 0:
        return tat
    return tat + delta * (PERIOD_S / limit)

