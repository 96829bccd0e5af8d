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
from .attribution import attribute, trusts_headers
from .auth import Authenticator, Identity
from .budgets import Budget, BudgetBook, from_nano, to_nano
from .counters import (
    BudgetHold,
    BudgetRefusal,
    Counters,
    Outcome,
    RateRefusal,
    Stale,
    Unseeded,
)
from .estimate import CostEstimator
from .keys import KeySpec, VirtualKey
from .periods import Calendar, window_at
from .rate_limits import NO_LIMITS, RateCharge, RateLimits, limits_for
from .settings import GovernanceSettings
from .store import GovernanceStore, StoreUnavailable
from .webhooks import SoftLimitNotifier

if TYPE_CHECKING:
    from decimal import Decimal

    from ...exchange import Exchange

log = logging.getLogger("tokenthrift.governance")
# Admission attempts when keys or budgets keep changing under a request.
_ATTEMPTS = 3


@dataclass(slots=True)
class Ticket:
    """The admission of one request: what it holds until it settles."""

    reservation: str
    holds: list[BudgetHold]
    amount: int
    token_charges: list[RateCharge] = field(default_factory=list)
    settled: bool = False
    # Who it was charged to and the version of the budgets then: a budget that appears
    # before it settles is charged its actual cost too (see ``_holds_added``).
    who: Attribution | None = None
    version: int = 0


# Endpoints that cost nothing: authenticated, never reserved against a budget.
# Batch and deferred work is authenticated when it is submitted and charged to budgets
# when its results land in the ledger (priced at batch rates), not reserved up front.
FREE_ENDPOINTS = frozenset({"lookup", "count_tokens", "models", "batches", "deferred"})


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
        self._budget_rows = self.book.all
        self._version = 0  # bumped whenever this replica's copy of keys and budgets changes
        self._shared: int | None = None  # the shared version that copy was read at
        self._catching_up: asyncio.Task[None] | None = None
        self._unshared_until = 0.0  # Redis failed: skip version checks until then

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
        attribute(who, identity, trusts_headers(self.settings.trust_attribution_headers,
                                                identity, self.auth_required))
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
        for _ in range(_ATTEMPTS):
            ticket = await self._govern(exchange, identity)
            if ticket is not None:
                return ticket
            # Keys or budgets changed on another replica and were re-read: the key may be
            # revoked now, or keys may be required now.
            identity = await self.auth.identify(client_key, self.auth_required)
        raise GatewayError("overloaded", "keys and budgets are changing too fast to admit "
                           "this request; retry", status=503, code="governance_unavailable")

    async def _govern(self, exchange: Exchange, identity: Identity) -> Ticket | None:
        """Reserve on the budgets and limits in force, or None if they were out of date
        (they have been re-read: look again)."""
        who = exchange.attribution
        version, shared = self._version, self._checked_version()
        budgets = self.book.applicable(who)
        limits = limits_for(identity.key, who.team, self.settings.teams)
        if not budgets and limits is NO_LIMITS:
            seen = await self._shared_now() if shared is not None else None
            if seen is not None and seen != shared:
                await self._catch_up(seen)
                return None
            return Ticket(exchange.request_id, [], 0, who=who, version=version)
        ticket = await self._reserve(exchange, budgets, limits, shared)
        if isinstance(ticket, Stale):
            await self._catch_up(ticket.version)
            return None
        ticket.who, ticket.version = who, version
        return ticket

    async def _reserve(self, exchange: Exchange, budgets: list[Budget], limits: RateLimits,
                       shared: int | None = None) -> Ticket | Stale:
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
        outcome = await self._admit_seeding(ticket, charges, shared)
        if outcome is None:
            return ticket
        if isinstance(outcome, Stale):
            return outcome
        raise self._refusal(outcome, amount, now)

    def _hold(self, budget: Budget, now: float) -> BudgetHold:
        window = self.calendar.window(budget.period, now)
        hold = self._holds.get(budget)
        if hold is None or hold.window is not window:
            hold = self._holds[budget] = BudgetHold.of(budget, window)
        return hold

    async def _admit_seeding(self, ticket: Ticket, charges: list[RateCharge],
                             shared: int | None = None) -> Outcome:
        try:
            for _ in range(3):
                outcome = await self.counters.admit(ticket.reservation, ticket.holds,
                                                    ticket.amount, charges,
                                                    self.settings.reservation_ttl_s, shared)
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
        added = self._holds_added(ticket) if actual and ticket.version != self._version else []
        holds = ticket.holds + added
        if not holds and not corrections:
            return
        after = await self._unless_cancelled(
            self.counters.settle(ticket.reservation, holds, actual, corrections))
        for hold, spent in zip(holds, after or (), strict=False):
            if spent is not None:
                self.notifier.observe(hold, spent)
        if added and after is not None:
            await self._charge_unseeded(ticket.reservation, holds, after, actual)

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
        so changes apply at once here; other replicas see the shared version move on
        their next request with Redis, else within refresh_s)."""
        shared = await self._shared_now()  # before the rows: they are at least this new
        try:
            budgets, keys_exist = await asyncio.to_thread(
                lambda: (self.store.budgets(), self.store.has_keys()))
        except StoreUnavailable:
            return  # the store logs the outage once
        except Exception as exc:
            log.warning("could not refresh budgets and keys: %s", exc)
            return
        self._adopt(budgets, keys_exist, shared)
        now = self.clock()
        self.notifier.prune(now)
        prune = getattr(self.counters, "prune", None)
        if prune is not None:
            prune(now)

    async def create_key(self, spec: KeySpec) -> tuple[VirtualKey, str]:
        key, raw = await asyncio.to_thread(self.store.create_key, spec, self.clock())
        self.keys_exist = True
        await self.reload()  # also catches up with the version the store just bumped
        return key, raw

    async def revoke_key(self, key_id: str) -> bool:
        found = await asyncio.to_thread(self.store.revoke_key, key_id, self.clock())
        self.auth.forget(key_id)
        await self.reload()
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

    # -- staying current with the other replicas ----------------------------------------

    def _checked_version(self) -> int | None:
        """The shared version to check requests against; None: none (in-process
        counters), unknown yet, or Redis failed a moment ago."""
        if self._shared is None or time.monotonic() < self._unshared_until:
            return None
        return self._shared

    async def _shared_now(self) -> int | None:
        try:
            return await self.counters.version()
        except Exception as exc:  # Redis down: requests no budget applies to still pass
            log.debug("cannot read the shared version of keys and budgets: %s", exc)
            self._unshared_until = time.monotonic() + 1.0
            return None

    async def _catch_up(self, seen: int) -> None:
        """Re-read keys and budgets because the shared version is ``seen``; one read for
        all the requests that noticed. If the store cannot be read, stop checking the
        version until a reload succeeds (budgets known here keep being enforced)."""
        task = self._catching_up
        if task is None or task.done() or task.get_loop() is not _loop():
            task = self._catching_up = _loop().create_task(self.reload())
        await asyncio.shield(task)
        if self._shared != seen and self._shared is not None and seen > self._shared:
            self._shared = None

    def _adopt(self, budgets: list[Budget], keys_exist: bool, shared: int | None) -> None:
        if tuple(budgets) != self._budget_rows or keys_exist != self.keys_exist:
            self._version += 1
        self.book = BudgetBook(budgets)
        self._budget_rows = tuple(budgets)
        self.keys_exist = keys_exist
        self._holds = {}
        if shared != self._shared:
            self.auth.invalidate()  # a key may have been revoked on another replica
        self._shared = shared

    def _holds_added(self, ticket: Ticket) -> list[BudgetHold]:
        """Budgets that apply to a settling request but did not when it was admitted
        (created meanwhile): their counters must see its spend too."""
        if ticket.who is None:
            return []
        held = {h.key for h in ticket.holds}
        now = self.clock()
        return [hold for hold in (self._hold(b, now) for b in self.book.applicable(ticket.who))
                if hold.key not in held]

    async def _charge_unseeded(self, reservation: str, holds: list[BudgetHold],
                               after: list[int | None], actual: int) -> None:
        """Start the counters a settle found missing from the ledger, then add ``actual``
        (the ledger row may already count it: over, never under, the true spend)."""
        missing = [h for h, spent in zip(holds, after, strict=False) if spent is None]
        if not missing:
            return
        try:
            await self.seed(missing)
            await self.counters.settle(reservation, missing, actual, [])
        except Exception as exc:
            log.warning("could not charge a new budget for a request in flight: %s", exc)

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
