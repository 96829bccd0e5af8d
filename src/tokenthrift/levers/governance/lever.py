"""The governance lever: what the pipeline calls before and after every request.

``admit`` (the lever hook; ``reserve`` does the work) authenticates, applies the key's
owner and model allow-list, then — only if
some budget or rate limit applies — reserves the request's worst-case cost on every
budget and charges every rate limit in one atomic step (see ``counters``). ``settle`` (``reconcile``)
reconciles the reservation to the actual cost (releases it when the request failed or
was a cache hit, where the actual cost is ~0), corrects the tokens-per-minute charge,
and hands the new spend to the soft-limit notifier.

With no keys, budgets or limits, ``admit`` is a few attribute reads and returns None,
so the pipeline skips ``settle`` work entirely.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...accounting.settlement import Accountant, Settlement
from ...config import GatewayConfig
from ...errors import GatewayError
from ...types import Attribution, Usage
from ..base import AdminEndpoint, Lever
from .auth import ANONYMOUS, Authenticator, Identity
from .budgets import Budget, BudgetBook, from_nano, to_nano
from .counters import BudgetHold, BudgetRefusal, Counters, Outcome, RateRefusal, Unseeded
from .estimate import CostEstimator
from .keys import KeySpec, VirtualKey
from .periods import Calendar, window_at
from .rate_limits import NO_LIMITS, RateCharge, RateLimits, limits_for
from .settings import GovernanceSettings
from .store import GovernanceStore
from .webhooks import SoftLimitNotifier

if TYPE_CHECKING:
    from decimal import Decimal

    from ...exchange import Exchange

log = logging.getLogger("tokenthrift.governance")


@dataclass(slots=True)
class Ticket:
    """The admission of one request: what it holds until it settles."""

    reservation: str
    holds: list[BudgetHold]
    amount: int
    token_charges: list[RateCharge] = field(default_factory=list)
    settled: bool = False


# Endpoints that cost nothing: authenticated, never reserved against a budget.
FREE_ENDPOINTS = frozenset({"count_tokens", "models"})


class GovernanceLever(Lever):
    name = "governance"

    def __init__(self, config: GatewayConfig, accountant: Accountant,
                 settings: GovernanceSettings, store: GovernanceStore, counters: Counters, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.counters = counters
        self.clock = clock
        self.auth = Authenticator(store, config.admin_key(), settings.key_cache_ttl_s, clock)
        self.estimator = CostEstimator(config, accountant, settings)
        self.notifier = SoftLimitNotifier(store, settings, clock)
        self.book = BudgetBook(store.budgets())
        self.keys_exist = store.has_keys()
        self._refresher: asyncio.Task[None] | None = None
        self._fresh: asyncio.Future[None] | None = None  # set once the first reload is done
        self._background: set[asyncio.Task[Any]] = set()
        self.calendar = Calendar(settings.timezone)
        self._holds: dict[Budget, BudgetHold] = {}  # current period's hold of each budget

    @property
    def auth_required(self) -> bool:
        mode = self.settings.auth
        return mode == "required" or (mode == "auto" and self.keys_exist)

    # -- the lever hooks ----------------------------------------------------------------

    async def admit(self, exchange: Exchange) -> None:
        if exchange.endpoint in FREE_ENDPOINTS:
            await self.authenticate(exchange, exchange.client_key)
            return
        ticket = await self.reserve(exchange, exchange.client_key)
        if ticket is not None:
            exchange.notes[self.name] = ticket

    async def settle(self, exchange: Exchange, settlement: Settlement) -> None:
        ticket = exchange.notes.pop(self.name, None)
        if ticket is None:
            return
        usage = exchange.usage
        await self.reconcile(ticket, settlement.actual_usd if usage is not None else None, usage)

    def admin_endpoints(self) -> list[AdminEndpoint]:
        from .admin_api import endpoints

        return endpoints(self)

    # -- the request path ---------------------------------------------------------------

    async def authenticate(self, exchange: Exchange, client_key: str | None) -> Identity:
        """Who is calling (401 when a key is required and missing or wrong), and whether
        their key may use the requested model (403)."""
        refresher, fresh = self._refresher, self._fresh
        if refresher is None or refresher.done() or refresher.get_loop() is not _loop():
            fresh = self._start_refreshing()
        if fresh is not None and not fresh.done():
            await asyncio.shield(fresh)
        identity = await self.auth.identify(client_key, self.auth_required)
        who = exchange.attribution
        if identity is not ANONYMOUS:
            _attribute(who, identity)
        key = identity.key
        if key is not None and exchange.requested_model and not key.allows(
                exchange.requested_model):
            raise GatewayError(
                "permission", f"the model '{exchange.requested_model}' is not allowed for API "
                f"key {key.prefix}…", param="model", code="model_not_allowed")
        return identity

    async def reserve(self, exchange: Exchange, client_key: str | None) -> Ticket | None:
        """Authenticate, then reserve the worst case on every budget that applies and
        charge every rate limit, atomically; raise 429 to refuse."""
        identity = await self.authenticate(exchange, client_key)
        key = identity.key
        who = exchange.attribution
        budgets = self.book.applicable(who)
        limits = limits_for(key, who.team, self.settings.teams)
        if not budgets and limits is NO_LIMITS:
            return None
        return await self._reserve(exchange, budgets, limits)

    async def _reserve(self, exchange: Exchange, budgets: list[Budget], limits: RateLimits
                       ) -> Ticket:
        now = self.clock()
        holds = [self._hold(b, now) for b in budgets]
        if holds:
            worst = self.estimator.worst_case(exchange)
            amount, tokens = worst.cost_nano, worst.tokens
        else:
            amount = 0
            tokens = self.estimator.tokens(exchange) if limits.needs_tokens else 0
        charges = limits.charges(tokens)
        ticket = Ticket(exchange.request_id, holds, amount,
                        [c for c in charges if c.unit == "tpm"])
        outcome = await self._admit_seeding(ticket, charges)
        if outcome is None:
            return ticket
        raise self._refusal(outcome, amount, now)

    def _hold(self, budget: Budget, now: float) -> BudgetHold:
        window = self.calendar.window(budget.period, now)
        hold = self._holds.get(budget)
        if hold is None or hold.window is not window:
            hold = self._holds[budget] = BudgetHold.of(budget, window)
        return hold

    async def _admit_seeding(self, ticket: Ticket, charges: list[RateCharge]) -> Outcome:
        try:
            for _ in range(3):
                outcome = await self.counters.admit(ticket.reservation, ticket.holds,
                                                    ticket.amount, charges,
                                                    self.settings.reservation_ttl_s)
                if not isinstance(outcome, Unseeded):
                    return outcome
                await self.seed(list(outcome.holds))
        except GatewayError:
            raise
        except Exception as exc:  # Redis or the database is down: refuse rather than overspend
            log.error("governance store unavailable: %s", exc)
            raise GatewayError("overloaded", "budget and rate-limit store unavailable",
                               status=503, code="governance_unavailable") from None
        raise GatewayError("overloaded", "budget counters could not be started",
                           status=503, code="governance_unavailable")

    async def seed(self, holds: list[BudgetHold]) -> None:
        unpriced = self.settings.reserve_cap_usd

        def spent() -> list[int]:
            return [to_nano(self.store.spent(h.budget, h.window, unpriced)) for h in holds]

        await self.counters.seed(holds, await asyncio.to_thread(spent))

    def _refusal(self, outcome: Outcome, amount: int, now: float) -> GatewayError:
        if isinstance(outcome, RateRefusal):
            charge = outcome.charge
            wait = max(1, math.ceil(outcome.retry_after))
            return GatewayError(
                "rate_limit", f"Rate limit exceeded for {charge.owner}: {charge.limit} "
                f"{'requests' if charge.unit == 'rpm' else 'tokens'} per minute. "
                f"Retry in {wait} s.", code="rate_limit_exceeded", retry_after=wait,
                headers={"x-tokenthrift-error-code": "rate_limit_exceeded"})
        assert isinstance(outcome, BudgetRefusal)
        hold = outcome.hold
        budget, window = hold.budget, hold.window
        left = window.seconds_left(now)
        resets = (f"It resets at {window.end_iso(self.settings.timezone)}." if left is not None
                  else "It does not reset (period: total).")
        message = (f"Budget exceeded: {budget.name}, ${budget.usd}. "
                   f"Spent ${from_nano(outcome.spent):f}, reserved by requests in flight "
                   f"${from_nano(outcome.reserved):f}; this request may cost up to "
                   f"${from_nano(amount):f}. {resets}")
        return GatewayError(
            "rate_limit", message, code="budget_exceeded",
            retry_after=None if left is None else max(1, math.ceil(left)),
            headers={"x-tokenthrift-error-code": "budget_exceeded",
                     "x-tokenthrift-budget": quote(f"{budget.scope}:{budget.subject}:"
                                                   f"{budget.period}", safe=":")})

    async def reconcile(self, admission: object, actual_usd: Decimal | None,
                        usage: Usage | None) -> None:
        if not isinstance(admission, Ticket) or admission.settled:
            return
        ticket = admission
        ticket.settled = True
        if usage is None:
            actual, tokens = 0, 0
        else:
            # An unknown price is charged as reserve_cap_usd, never 0 (the ledger seed
            # counts such rows the same way): a budget must not go blind on a model.
            cost = actual_usd if actual_usd is not None else self.settings.reserve_cap_usd
            actual, tokens = to_nano(cost), usage.total_tokens
        corrections = [c.corrected(tokens) for c in ticket.token_charges]
        corrections = [c for c in corrections if c.cost]
        if not ticket.holds and not corrections:
            return
        after = await self._unless_cancelled(
            self.counters.settle(ticket.reservation, ticket.holds, actual, corrections))
        for hold, spent in zip(ticket.holds, after or (), strict=False):
            if spent is not None:
                self.notifier.observe(hold, spent)

    async def _unless_cancelled(self, work: Coroutine[Any, Any, list[int | None]]
                                ) -> list[int | None] | None:
        """Run a settle to completion even if this request is being cancelled.

        A client that disconnects cancels the request's task, possibly again while it
        settles (anyio cancel scopes re-deliver). Raising here would also skip the
        ledger row the pipeline writes after us, so the settle finishes as a background
        task and the cancellation already under way carries on."""
        try:
            if not self.counters.awaits_io:  # never suspends, so it cannot be interrupted
                return await work
            task = asyncio.ensure_future(work)
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                self._keep(task)
                return None
        except Exception as exc:  # the reservation will expire after its TTL
            log.warning("could not settle a reservation: %s", exc)
            return None

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- budgets and keys in force ------------------------------------------------------

    def _start_refreshing(self) -> asyncio.Future[None]:
        """Re-read budgets and keys now, then every ``refresh_s`` in the background.

        Started by the first request of an event loop, which waits for the first read
        (and so do requests arriving meanwhile): an idle replica must not meet a burst
        with budgets as old as its start-up."""
        loop = _loop()
        self._fresh = fresh = loop.create_future()
        self._refresher = loop.create_task(self._refresh_forever(fresh))
        return fresh

    async def _refresh_forever(self, fresh: asyncio.Future[None]) -> None:
        try:
            await self.reload()
        finally:
            if not fresh.done():
                fresh.set_result(None)
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            await self.reload()

    async def reload(self) -> None:
        """Re-read budgets and whether keys exist (the admin API calls it after a change,
        so changes apply at once here; other replicas pick them up within refresh_s)."""
        try:
            budgets, keys_exist = await asyncio.to_thread(
                lambda: (self.store.budgets(), self.store.has_keys()))
        except Exception as exc:
            log.warning("could not refresh budgets and keys: %s", exc)
            return
        self.book = BudgetBook(budgets)
        self.keys_exist = keys_exist
        self._holds = {}
        now = self.clock()
        self.notifier.prune(now)
        prune = getattr(self.counters, "prune", None)
        if prune is not None:
            prune(now)

    async def create_key(self, spec: KeySpec) -> tuple[VirtualKey, str]:
        key, raw = await asyncio.to_thread(self.store.create_key, spec, self.clock())
        self.keys_exist = True
        if spec.budget is not None:
            await self.reload()
        return key, raw

    async def revoke_key(self, key_id: str) -> bool:
        found = await asyncio.to_thread(self.store.revoke_key, key_id, self.clock())
        self.auth.forget(key_id)
        return found

    async def set_budget(self, budget: Budget) -> None:
        await asyncio.to_thread(self.store.upsert_budget, budget, self.clock())
        await self.reload()

    async def delete_budgets(self, scope: str, subject: str, period: str | None) -> int:
        count = await asyncio.to_thread(self.store.delete_budgets, scope, subject, period)
        await self.reload()
        return count

    async def budget_usage(self, budgets: list[Budget]
                           ) -> list[tuple[BudgetHold, int, int]]:
        """Each budget's current period with its live (spent, reserved), in nano-USD."""
        now = self.clock()
        holds = [BudgetHold.of(b, window_at(b.period, now, self.settings.timezone))
                 for b in budgets]
        usage = await self.counters.usage(holds)
        missing = [h for h, u in zip(holds, usage, strict=True) if u is None]
        if missing:
            await self.seed(missing)
            usage = await self.counters.usage(holds)
        return [(h, *(u or (0, 0))) for h, u in zip(holds, usage, strict=True)]

    async def aclose(self) -> None:
        if self._refresher is not None and not self._refresher.done():
            self._refresher.cancel()
        if self._background:
            await asyncio.wait(set(self._background), timeout=2.0)
        await self.notifier.aclose()
        await self.counters.aclose()
        self.store.close()


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _attribute(who: Attribution, identity: Identity) -> None:
    """A virtual key's owner wins over request headers, so a client cannot move its spend
    to another team's budget; headers still fill what the key leaves empty."""
    who.key_id = identity.key_id
    key = identity.key
    if key is None:
        return
    if key.team is not None:
        who.team = key.team
    if key.user is not None:
        who.user = key.user
    if key.customer is not None:
        who.customer = key.customer
