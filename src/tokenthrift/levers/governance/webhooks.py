"""Soft-limit webhooks: one POST per threshold per budget period, off the request path.

After a request settles, the lever hands each budget's new spend to ``observe``. When
spend reaches a threshold (``soft_limit_pct``, default 50/80/100) for the first time in a
period, a background task claims the alert in the ``budget_alerts`` table (its primary
key makes the claim succeed once, across restarts and replicas) and only then POSTs::

    {"event": "budget.soft_limit", "threshold_pct": 80,
     "budget": {"scope": "team", "id": "search", "period": "month", "usd": 100.0},
     "spent_usd": 80.41, "period_start": "…", "period_end": "…", "sent_at": "…"}

Delivery is retried with exponential backoff (``webhook_attempts``,
``webhook_backoff_s``) on errors and non-2xx answers. The claim comes first, so an alert
is delivered at most once; a replica that dies between claim and delivery loses it.
Requests never wait for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .budgets import from_nano
from .counters import BudgetHold
from .periods import iso
from .settings import GovernanceSettings
from .store import GovernanceStore

log = logging.getLogger("tokenthrift.governance")


class SoftLimitNotifier:
    def __init__(self, store: GovernanceStore, settings: GovernanceSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        # thresholds this replica already handled per budget period (no DB round trip twice)
        self._seen: dict[str, tuple[float | None, set[float]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def observe(self, hold: BudgetHold, spent: int) -> None:
        budget = hold.budget
        if budget.webhook is None or not budget.soft_limit_pct:
            return
        seen = self._seen.setdefault(hold.key, (hold.window.end, set()))[1]
        for pct in budget.soft_limit_pct:
            if pct in seen or spent * 100 < hold.limit * pct:
                continue
            seen.add(pct)
            task = asyncio.get_running_loop().create_task(self._alert(hold, pct, spent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _alert(self, hold: BudgetHold, pct: float, spent: int) -> None:
        budget, window = hold.budget, hold.window
        now = self._clock()
        try:
            claimed = await asyncio.to_thread(self._store.claim_alert, budget, window, pct, now)
        except Exception as exc:
            log.warning("cannot record soft-limit alert for %s: %s", budget.name, exc)
            return
        if not claimed:
            return
        zone = self._settings.timezone
        payload = {
            "event": "budget.soft_limit",
            "threshold_pct": pct,
            "budget": {"scope": budget.scope, "id": budget.subject, "period": budget.period,
                       "usd": float(budget.usd)},
            "spent_usd": float(from_nano(spent)),
            "period_start": window.start_iso(zone),
            "period_end": window.end_iso(zone),
            "sent_at": iso(now, zone),
        }
        if await self._deliver(str(budget.webhook), payload):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.mark_delivered, budget, window, pct,
                                        self._clock())

    async def _deliver(self, url: str, payload: dict[str, Any]) -> bool:
        settings = self._settings
        timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
        for attempt in range(settings.webhook_attempts):
            try:
                async with self._client().post(url, json=payload, timeout=timeout) as answer:
                    if 200 <= answer.status < 300:
                        return True
                    problem = f"HTTP {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt + 1 < settings.webhook_attempts:
                await asyncio.sleep(settings.webhook_backoff_s * 2**attempt)
        # The URL may carry a token in its path or query: log the host only.
        log.warning("budget webhook to %s failed after %d attempts (%s)",
                    urlsplit(url).netloc, settings.webhook_attempts, problem)
        return False

    def _client(self) -> aiohttp.ClientSession:
        # A session belongs to the event loop that opened it.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(headers={"user-agent": "tokenthrift"})
            self._session_loop = loop
        return self._session

    def prune(self, now: float) -> None:
        for key, (end, _) in list(self._seen.items()):
            if end is not None and end < now:
                del self._seen[key]

    async def aclose(self, wait_s: float = 2.0) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=wait_s)
            for task in pending:
                task.cancel()
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
