"""Keys, budgets and alerts in the ledger database, and spend read back from the ledger.

Governance keeps its own connection to the ledger's database (the SQLite file, or the
PostgreSQL every replica shares), so key look-ups never queue behind the ledger
writer's batches. Every method here is blocking; the lever calls them through
``asyncio.to_thread`` and only off the hot path (a key-cache miss, a budget period
seen for the first time, a periodic refresh, the admin API).

When the database cannot be reached, every method raises ``StoreUnavailable`` (a 503
for clients, a "database error" line in the CLI) and, for ``retry_s``, fails at once
without trying (one caller at a time probes after that), so requests whose keys are
not cached get a quick 503 instead of each waiting for a connect timeout. The
connection is re-opened by the next call that finds the database back: no restart.
Every change (keys, budgets) is followed by a bump of the shared version
(``versions``) when there is one, from the gateway and from the CLI alike.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar

from ...config import ConfigError, GatewayConfig
from ...errors import GatewayError
from ...ledger.base import LedgerUnavailable
from ...ledger.dialect import Database
from ...ledger.location import open_database
from ...ledger.money import from_sums, sum_sql, to_pico
from .budgets import Budget
from .keys import KeySpec, VirtualKey, display_prefix, hash_key, new_key, new_key_id
from .periods import Window
from .versions import SharedVersion

log = logging.getLogger("tokenthrift.governance")
_P = ParamSpec("_P")
_R = TypeVar("_R")
RETRY_S = 1.0


class StoreUnavailable(GatewayError, LedgerUnavailable):
    """The keys-and-budgets database cannot be reached: 503 for a client (in its wire
    format), a ``LedgerError`` for the CLI."""

    def __init__(self) -> None:
        super().__init__("overloaded", "the gateway cannot reach its key and budget database "
                         "right now; retry shortly", status=503,
                         code="governance_store_unavailable", retry_after=1)


class GovernanceStoreUnreachable(ConfigError):
    """The database named by ``storage.ledger`` cannot be reached at start-up (one line)."""


_KEY_COLUMNS = ("id, prefix, team, user_id, customer, models, rpm, tpm, expires_at, metadata, "
                "revoked, created_at")
_LEDGER_COLUMN = {"key": "key_id", "team": "team", "user": "user_id", "customer": "customer"}


class _Health:
    """Whether the database answered last time, and when to try again if not."""

    def __init__(self, retry_s: float, monotonic: Callable[[], float]) -> None:
        self.retry_s = retry_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._down = False
        self._probing = False
        self._retry_at = 0.0

    def call(self, work: Callable[[], _R]) -> _R:
        probe = False
        if self._down:
            with self._lock:
                if self._probing or self._monotonic() < self._retry_at:
                    raise StoreUnavailable
                self._probing = probe = True
        try:
            result = work()
        except LedgerUnavailable as exc:
            with self._lock:
                if not self._down:
                    log.warning("governance store unreachable (%s): cached keys keep working, "
                                "other keys get 503 until it is back", _one_line(exc))
                self._down, self._probing = True, False
                self._retry_at = self._monotonic() + self.retry_s
            raise StoreUnavailable from None
        except BaseException:
            if probe:
                self._probing = False
            raise
        if self._down:
            with self._lock:
                if self._down:
                    log.warning("governance store reachable again")
                self._down = self._probing = False
        return result


def _guarded(method: Callable[Concatenate[GovernanceStore, _P], _R]
             ) -> Callable[Concatenate[GovernanceStore, _P], _R]:
    @functools.wraps(method)
    def guarded(self: GovernanceStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self.health.call(lambda: method(self, *args, **kwargs))

    return guarded


class GovernanceStore:
    def __init__(self, db: Database, *, version: SharedVersion | None = None,
                 retry_s: float = RETRY_S, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.db = db
        self._p = db.dialect.param
        self._version = version
        self.health = _Health(retry_s, monotonic)

    @classmethod
    def for_config(cls, config: GatewayConfig) -> GovernanceStore:
        """The store in the ledger database ``config`` names (``storage.ledger``).

        Raises ``GovernanceStoreUnreachable`` (a ``ConfigError``, one line) when that
        database cannot be reached."""
        from .settings import parse_settings

        storage = config.storage
        settings = parse_settings(config)
        try:
            db = open_database(storage.ledger, getattr(storage, "ledger_schema", None))
        except LedgerUnavailable as exc:
            raise GovernanceStoreUnreachable(
                f"storage.ledger: cannot reach the database holding keys and budgets "
                f"({_one_line(exc)})") from None
        version = None
        if settings.backend == "redis" and settings.redis_url is not None:
            version = SharedVersion(settings.redis_url, settings.redis_prefix)
        return cls(db, version=version)

    def close(self) -> None:
        self.db.close()
        if self._version is not None:
            self._version.close()

    def _changed(self) -> None:
        if self._version is not None:
            self._version.bump()

    # -- keys ---------------------------------------------------------------------------

    @_guarded
    def create_key(self, spec: KeySpec, now: float) -> tuple[VirtualKey, str]:
        """Store a new key (and its budget); return it with the raw key, shown once."""
        raw = new_key()
        key = VirtualKey(
            id=new_key_id(), prefix=display_prefix(raw), team=spec.team, user=spec.user,
            customer=spec.customer, models=spec.models, rpm=spec.rpm, tpm=spec.tpm,
            expires_at=spec.expires_at, metadata=spec.metadata, created_at=now,
        )
        models = json.dumps(list(key.models)) if key.models is not None else None
        with self.db.transaction():
            self.db.execute(
                f"INSERT INTO virtual_keys (id, key_hash, prefix, team, user_id, customer, models,"
                f" rpm, tpm, expires_at, metadata, revoked, created_at) "
                f"VALUES ({self.db.dialect.params(13)})",
                (key.id, hash_key(raw), key.prefix, key.team, key.user, key.customer, models,
                 key.rpm, key.tpm, key.expires_at, json.dumps(key.metadata), False, now),
            )
            if spec.budget is not None:
                b = spec.budget
                self._upsert_budget(Budget("key", key.id, b.period, b.usd,  # type: ignore[arg-type]
                                           b.soft_limit_pct, b.webhook), now)
        self._changed()  # after the commit: whoever sees the new version reads the key
        return key, raw

    @_guarded
    def key_by_hash(self, key_hash: str) -> tuple[VirtualKey, str] | None:
        rows = self.db.execute(
            f"SELECT {_KEY_COLUMNS}, key_hash FROM virtual_keys WHERE key_hash = {self._p}",
            (key_hash,),
        )
        return (_key(rows[0][:-1]), rows[0][-1]) if rows else None

    @_guarded
    def get_key(self, key_id: str) -> VirtualKey | None:
        rows = self.db.execute(
            f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE id = {self._p}", (key_id,))
        return _key(rows[0]) if rows else None

    @_guarded
    def list_keys(self) -> list[VirtualKey]:
        rows = self.db.execute(f"SELECT {_KEY_COLUMNS} FROM virtual_keys ORDER BY created_at, id")
        return [_key(row) for row in rows]

    @_guarded
    def revoke_key(self, key_id: str, now: float) -> bool:
        """Mark a key revoked (the row stays: ledger rows refer to it). False if unknown."""
        with self.db.transaction():
            if not self.db.execute(f"SELECT 1 FROM virtual_keys WHERE id = {self._p}", (key_id,)):
                return False
            self.db.execute(
                f"UPDATE virtual_keys SET revoked = {self._p}, "
                f"revoked_at = COALESCE(revoked_at, {self._p}) WHERE id = {self._p}",
                (True, now, key_id),
            )
        self._changed()
        return True

    @_guarded
    def has_keys(self) -> bool:
        """Whether any key was ever created (revoked ones count: revoking every key must
        not reopen a gateway to keyless requests)."""
        return bool(self.db.execute("SELECT 1 FROM virtual_keys LIMIT 1"))

    # -- budgets ------------------------------------------------------------------------

    @_guarded
    def upsert_budget(self, budget: Budget, now: float) -> None:
        self._upsert_budget(budget, now)
        self._changed()

    def _upsert_budget(self, budget: Budget, now: float) -> None:
        self.db.execute(
            "INSERT INTO budgets (scope, subject, period, usd, soft_limit_pct, webhook, "
            f"created_at, updated_at) VALUES ({self.db.dialect.params(8)}) "
            "ON CONFLICT (scope, subject, period) DO UPDATE SET usd = excluded.usd, "
            "soft_limit_pct = excluded.soft_limit_pct, webhook = excluded.webhook, "
            "updated_at = excluded.updated_at",
            (budget.scope, budget.subject, budget.period, str(budget.usd),
             json.dumps(list(budget.soft_limit_pct)), budget.webhook, now, now),
        )

    @_guarded
    def delete_budgets(self, scope: str, subject: str, period: str | None = None) -> int:
        p = self._p
        where = f"scope = {p} AND subject = {p}" + (f" AND period = {p}" if period else "")
        params: list[Any] = [scope, subject] + ([period] if period else [])
        with self.db.transaction():
            count = len(self.db.execute(f"SELECT 1 FROM budgets WHERE {where}", params))
            self.db.execute(f"DELETE FROM budgets WHERE {where}", params)
        if count:
            self._changed()
        return count

    @_guarded
    def budgets(self) -> list[Budget]:
        rows = self.db.execute(
            "SELECT scope, subject, period, usd, soft_limit_pct, webhook FROM budgets "
            "ORDER BY scope, subject, period")
        return [Budget(r[0], r[1], r[2], Decimal(r[3]), tuple(json.loads(r[4])), r[5])
                for r in rows]

    # -- spend, read back from the ledger ------------------------------------------------

    @_guarded
    def spent(self, budget: Budget, window: Window, unpriced_usd: Decimal) -> Decimal:
        """What the ledger holds for ``budget`` in ``window``.

        A row with an unknown price (``cost_pusd`` NULL) counts ``unpriced_usd``, the same
        amount the counters charge for it, so a restart re-seeds what was counted."""
        p = self._p
        # An integer from the settings, inlined: the sums repeat their expression.
        whole, rest = sum_sql(f"COALESCE(l.cost_pusd, {int(to_pico(unpriced_usd))})")
        if budget.scope == "tag":
            sql = (f"SELECT {whole}, {rest} FROM ledger l "
                   "JOIN ledger_tags t ON t.request_id = l.request_id "
                   "WHERE t.tag = {p} AND l.ts >= {p}")
        else:
            column = _LEDGER_COLUMN[budget.scope]
            sql = (f"SELECT {whole}, {rest} FROM ledger l "
                   f"WHERE l.{column} = {{p}} AND l.ts >= {{p}}")
        params: list[Any] = [budget.subject, window.start]
        if window.end is not None:
            sql += " AND l.ts < {p}"
            params.append(window.end)
        (row,) = self.db.execute(sql.replace("{p}", p), params)
        return from_sums(row[0], row[1])

    @_guarded
    def spend_by_key(self, key_ids: Sequence[str]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for start in range(0, len(key_ids), 500):
            part = list(key_ids[start : start + 500])
            whole, rest = sum_sql("cost_pusd")
            rows = self.db.execute(
                f"SELECT key_id, {whole}, {rest} FROM ledger "
                f"WHERE key_id IN ({self.db.dialect.params(len(part))}) GROUP BY key_id", part)
            for key_id, total_whole, total_rest in rows:
                totals[key_id] = from_sums(total_whole, total_rest)
        return totals

    # -- soft-limit alerts --------------------------------------------------------------

    @_guarded
    def claim_alert(self, budget: Budget, window: Window, pct: float, now: float) -> bool:
        """Record that ``pct`` of this budget period was reached; False if already recorded
        (by this or another replica), in which case the webhook must not be sent again."""
        rows = self.db.execute(
            "INSERT INTO budget_alerts (scope, subject, period, period_start, threshold_pct, "
            f"fired_at) VALUES ({self.db.dialect.params(6)}) ON CONFLICT DO NOTHING "
            "RETURNING threshold_pct",
            (budget.scope, budget.subject, budget.period, window.start, pct, now),
        )
        return bool(rows)

    @_guarded
    def mark_delivered(self, budget: Budget, window: Window, pct: float, now: float) -> None:
        p = self._p
        self.db.execute(
            f"UPDATE budget_alerts SET delivered_at = {p} WHERE scope = {p} AND subject = {p} "
            f"AND period = {p} AND period_start = {p} AND threshold_pct = {p}",
            (now, budget.scope, budget.subject, budget.period, window.start, pct),
        )


def _one_line(exc: BaseException) -> str:
    """A driver's (possibly multi-line) message on one line."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def _key(row: Sequence[Any]) -> VirtualKey:
    (key_id, prefix, team, user, customer, models, rpm, tpm, expires_at, metadata, revoked,
     created_at) = row
    return VirtualKey(
        id=key_id, prefix=prefix, team=team, user=user, customer=customer,
        models=tuple(json.loads(models)) if models is not None else None,
        rpm=rpm, tpm=tpm, expires_at=expires_at, metadata=json.loads(metadata or "{}"),
        revoked=bool(revoked), created_at=created_at,
    )
