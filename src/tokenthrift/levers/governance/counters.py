"""What the lever needs from a counter backend, whether in-process or Redis.

Every operation covers *all* the budgets and limits of one request at once, so "check
then reserve" is one atomic step (one event-loop turn, or one Lua script): either every
budget can take the worst case and every limit has room, and all are charged, or none
is. That is what keeps concurrent requests, on one replica or several, from slipping
past a budget between a check and a write.

A budget period's counter starts *unseeded*; ``admit`` then answers ``Unseeded`` and the
lever seeds it with the spend the ledger holds for that period (``seed`` never
overwrites a counter someone else seeded first) and admits again.

Keys and budgets live in the database; each replica works from a copy. A shared
backend also keeps a *version* of them, bumped by every change (``versions``). The lever
passes the version its copy was read at to ``admit``, which answers ``Stale`` instead
of admitting when the version moved, in the same atomic step: a request is never
admitted against budgets older than a change that had already returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .budgets import Budget
from .periods import Window
from .rate_limits import RateCharge


@dataclass(frozen=True, slots=True)
class BudgetHold:
    """One budget in one period, as a counter."""

    budget: Budget
    window: Window
    key: str
    limit: int  # nano-USD

    @classmethod
    def of(cls, budget: Budget, window: Window) -> BudgetHold:
        key = f"b:{budget.scope}:{budget.subject}:{budget.period}:{window.tag}"
        return cls(budget, window, key, budget.limit_nano)


@dataclass(frozen=True, slots=True)
class RateRefusal:
    charge: RateCharge
    retry_after: float


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    hold: BudgetHold
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class Unseeded:
    holds: tuple[BudgetHold, ...]


@dataclass(frozen=True, slots=True)
class Stale:
    """Keys or budgets changed since the caller read them: re-read, then admit again."""

    version: int


Outcome = RateRefusal | BudgetRefusal | Unseeded | Stale | None

# Redis key (after the prefix) of the version of keys and budgets.
VERSION_KEY = "version"


class Counters(Protocol):
    # False when the operations never suspend (in-process): they are then atomic and
    # cannot be interrupted by a cancellation halfway.
    awaits_io: bool

    async def admit(self, reservation: str, holds: list[BudgetHold], amount: int,
                    charges: list[RateCharge], ttl_s: float, version: int | None = None
                    ) -> Outcome:
        """Reserve ``amount`` on every hold and charge every rate limit, or nothing;
        ``Stale`` (and nothing) if ``version`` is given and the shared one differs."""
        ...

    async def version(self) -> int | None:
        """The shared version of keys and budgets; None when the backend shares none."""
        ...

    async def seed(self, holds: list[BudgetHold], spent: list[int]) -> None:
        """Start unseeded counters at ``spent``; counters already started are kept."""
        ...

    async def settle(self, reservation: str, holds: list[BudgetHold], actual: int,
                     corrections: list[RateCharge]) -> list[int | None]:
        """Drop the reservation, add ``actual`` to spend, apply token corrections;
        return each hold's spend afterwards (None where the counter is gone)."""
        ...

    async def usage(self, holds: list[BudgetHold]) -> list[tuple[int, int] | None]:
        """(spent, reserved) per hold, live reservations only; None where unseeded."""
        ...

    async def aclose(self) -> None: ...
