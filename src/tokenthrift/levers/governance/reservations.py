"""The in-process counter backend (one replica).

Atomicity comes from the event loop: ``admit`` and ``settle`` are coroutines that never
await, so between the check and the reservation no other request can run. Nothing here
is thread-safe, and nothing needs to be: the gateway serves from one event loop.

Reservations expire after their TTL like in Redis, so a request whose settle never
came (a bug, a stream abandoned before its first byte) frees its budget eventually.
Expired reservations are dropped lazily, only when a budget looks full, which keeps the
common path to a few dict operations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .counters import BudgetHold, BudgetRefusal, Outcome, RateRefusal, Unseeded
from .rate_limits import RateCharge, apply_correction, gcra


class _Counter:
    __slots__ = ("end", "held", "reserved", "spent")

    def __init__(self, spent: int, end: float | None) -> None:
        self.spent = spent
        self.reserved = 0
        self.held: dict[str, tuple[int, float]] = {}  # reservation → (amount, expires at)
        self.end = end  # wall-clock end of the period, for pruning

    def drop_expired(self, now: float) -> None:
        for reservation, (amount, expires) in list(self.held.items()):
            if expires <= now:
                del self.held[reservation]
                self.reserved -= amount


class MemoryCounters:
    awaits_io = False

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._budgets: dict[str, _Counter] = {}
        self._tats: dict[str, float] = {}

    async def admit(self, reservation: str, holds: list[BudgetHold], amount: int,
                    charges: list[RateCharge], ttl_s: float, version: int | None = None
                    ) -> Outcome:
        missing = tuple(h for h in holds if h.key not in self._budgets)
        if missing:
            return Unseeded(missing)
        now = self._now()
        tats = []
        for charge in charges:
            tat, wait = gcra(self._tats.get(charge.name), now, charge.limit, charge.cost)
            if wait > 0:
                return RateRefusal(charge, wait)
            tats.append(tat)
        counters = [self._budgets[h.key] for h in holds]
        for hold, counter in zip(holds, counters, strict=True):
            if counter.spent + counter.reserved + amount > hold.limit:
                counter.drop_expired(now)
                if counter.spent + counter.reserved + amount > hold.limit:
                    return BudgetRefusal(hold, counter.spent, counter.reserved)
        for charge, tat in zip(charges, tats, strict=True):
            self._tats[charge.name] = tat
        expires = now + ttl_s
        for counter in counters:
            counter.reserved += amount
            counter.held[reservation] = (amount, expires)
        return None

    async def version(self) -> int | None:
        return None  # nothing shared: this replica's own changes apply to it at once

    async def seed(self, holds: list[BudgetHold], spent: list[int]) -> None:
        for hold, value in zip(holds, spent, strict=True):
            if hold.key not in self._budgets:
                self._budgets[hold.key] = _Counter(value, hold.window.end)

    async def settle(self, reservation: str, holds: list[BudgetHold], actual: int,
                     corrections: list[RateCharge]) -> list[int | None]:
        after: list[int | None] = []
        for hold in holds:
            counter = self._budgets.get(hold.key)
            if counter is None:
                after.append(None)
                continue
            held = counter.held.pop(reservation, None)
            if held is not None:  # else it expired and was already freed
                counter.reserved -= held[0]
            counter.spent += actual
            after.append(counter.spent)
        for charge in corrections:
            tat = apply_correction(self._tats.get(charge.name), charge.limit, charge.cost)
            if tat is not None:
                self._tats[charge.name] = tat
        return after

    async def usage(self, holds: list[BudgetHold]) -> list[tuple[int, int] | None]:
        now = self._now()
        out: list[tuple[int, int] | None] = []
        for hold in holds:
            counter = self._budgets.get(hold.key)
            if counter is not None:
                counter.drop_expired(now)
            out.append(None if counter is None else (counter.spent, counter.reserved))
        return out

    def prune(self, wall_now: float) -> None:
        """Forget periods that ended and limits that refilled (called by the refresh)."""
        for key, counter in list(self._budgets.items()):
            if counter.end is not None and counter.end < wall_now - 86_400 and not counter.held:
                del self._budgets[key]
        now = self._now()
        for name, tat in list(self._tats.items()):
            if tat < now:  # a TAT in the past is a full bucket, same as no entry
                del self._tats[name]

    async def aclose(self) -> None:
        return None
