"""Budgets: a USD limit per period on a key, team, user, customer or tag.

A request is charged against every budget that applies to it: its key's, its team's,
its user's, its customer's and one per tag it carries, each for every period defined
(a team can have a daily and a monthly budget). Money in the counters is integer
nano-dollars (1e-9 USD): exact in Redis' integer commands and in Lua's doubles up to
$9M, and finer than the 1e-10 USD the ledger rounds to only by a factor of ten, which
is why amounts are rounded *up* (a counter may run a fraction of a nano-dollar above
the true spend, never below).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

from ...types import Attribution
from .keys import BudgetSpec
from .periods import PERIODS, Period

Scope = Literal["key", "team", "user", "customer", "tag"]
SCOPES: tuple[Scope, ...] = ("key", "team", "user", "customer", "tag")
DEFAULT_SOFT_LIMITS = (50.0, 80.0, 100.0)
NANO = Decimal(1_000_000_000)
# Lua numbers are doubles: integers stay exact up to 2**53 nano-dollars (~$9M).
MAX_USD = Decimal(9_000_000)


@dataclass(frozen=True, slots=True)
class Budget:
    scope: Scope
    subject: str
    period: Period
    usd: Decimal
    soft_limit_pct: tuple[float, ...] = ()
    webhook: str | None = None

    @property
    def name(self) -> str:
        return f"{self.scope} '{self.subject}' ({self.period})"

    @property
    def limit_nano(self) -> int:
        return int(self.usd * NANO)  # usd has at most 9 decimals (validated)


class BudgetBook:
    """The budgets in force, indexed by what a request is attributed to."""

    def __init__(self, budgets: Iterable[Budget] = ()) -> None:
        index: dict[tuple[str, str], list[Budget]] = {}
        for budget in budgets:
            index.setdefault((budget.scope, budget.subject), []).append(budget)
        self._index = {k: tuple(v) for k, v in index.items()}
        self.all: tuple[Budget, ...] = tuple(b for group in self._index.values() for b in group)

    def __bool__(self) -> bool:
        return bool(self._index)

    def of(self, scope: Scope, subject: str) -> list[Budget]:
        return list(self._index.get((scope, subject), ()))

    def applicable(self, who: Attribution) -> list[Budget]:
        if not self._index:
            return []
        found: list[Budget] = []
        get = self._index.get
        for scope, subject in (("key", who.key_id), ("team", who.team), ("user", who.user),
                               ("customer", who.customer)):
            if subject is not None:
                found.extend(get((scope, subject), ()))
        for tag in dict.fromkeys(who.tags):
            found.extend(get(("tag", tag), ()))
        return found


def to_nano(usd: Decimal) -> int:
    """USD → nano-dollars, rounded up (counters never under-count)."""
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(nano: int) -> Decimal:
    return Decimal(nano) / NANO


def usd_float(nano: int) -> float:
    return float(from_nano(nano))


def parse_budget_spec(raw: Any, *, where: str = "budget") -> BudgetSpec:
    """``{"usd", "period", "soft_limit_pct", "webhook"}`` → ``BudgetSpec`` (ValueError)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object with usd and period")
    unknown = set(raw) - {"usd", "period", "soft_limit_pct", "webhook"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    usd = parse_usd(raw.get("usd"), where=f"{where}.usd")
    period = raw.get("period", "month")
    if period not in PERIODS:
        raise ValueError(f"{where}.period must be one of {'|'.join(PERIODS)}")
    webhook = raw.get("webhook")
    if webhook is not None:
        parts = urlsplit(str(webhook))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{where}.webhook must be an http(s) URL")
        webhook = str(webhook)
    pct_raw = raw.get("soft_limit_pct")
    pct: tuple[float, ...]
    if pct_raw is None:
        pct = DEFAULT_SOFT_LIMITS if webhook else ()
    else:
        pct = parse_soft_limits(pct_raw, where=f"{where}.soft_limit_pct")
    return BudgetSpec(usd=usd, period=period, soft_limit_pct=pct, webhook=webhook)


def parse_usd(value: Any, *, where: str = "usd") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where} must be a positive number of USD")
    try:
        # through str: 0.1 means exactly 0.1, not the binary float nearest to it
        usd = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{where} must be a positive number of USD") from None
    if not usd.is_finite() or usd <= 0 or usd > MAX_USD:
        raise ValueError(f"{where} must be a positive number of USD up to {MAX_USD}")
    if usd != usd.quantize(Decimal("1e-9"), rounding=ROUND_FLOOR):
        raise ValueError(f"{where} has more than 9 decimal places")
    return usd


def parse_soft_limits(value: Any, *, where: str = "soft_limit_pct") -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where} must be a list of percentages")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 < item <= 1000:
            raise ValueError(f"{where} entries must be numbers in (0, 1000]")
        out.append(float(item))
    return tuple(sorted(set(out)))
