"""Numbered schema migrations, applied in order and recorded in ``_migrations``.

Like simonw/llm's ``migrations.py``: each migration is a function registered with
``@migration``; its name is recorded once applied, so ``migrate`` is idempotent and a
new release only adds functions at the end (never edit one that has shipped). Each
migration receives the ``Database`` and handles dialect differences itself.

Schema (logically identical on SQLite and PostgreSQL):

* ``ledger``: one row per request. Money is integer pico-USD (``*_pusd`` columns, see
  ``money.py``) since m003; m001 had float ``*_usd`` columns. ``tags`` keeps the
  request's tag list as JSON text so a row reads back without a join; ``notes`` is the
  JSON object of lever facts.
* ``ledger_savings(request_id, lever, saved_pusd)``: what each lever saved, one row per
  lever that saved (or lost) anything (m003; m001 had a column per lever), so a new
  lever needs no migration and "savings by lever" is one ``GROUP BY``.
* ``ledger_tags(request_id, tag)``: the same tags, one row each, so "spend by tag" is an
  indexed join in both dialects instead of two different JSON functions.
* ``ledger_prompts(request_id, prompt_text)``: full prompt text (only with prompt
  storage ``full``), kept out of ``ledger`` so the table that every report scans stays
  narrow, and so prompts can be purged without touching spend history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tokenthrift.ledger.dialect import Database

# Serialises concurrent migrators (several gateway replicas starting at once) on
# PostgreSQL; SQLite gets the same from BEGIN IMMEDIATE.
_PG_MIGRATION_LOCK = 0x7470_6C65_6467  # "tpledg"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    apply: Callable[[Database], None]


MIGRATIONS: list[Migration] = []


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    MIGRATIONS.append(Migration(fn.__name__, fn))
    return fn


def migrate(db: Database) -> list[str]:
    """Apply the migrations not yet recorded, all in one transaction; return their names."""
    applied: list[str] = []
    with db.transaction():
        if db.dialect.name == "postgresql":
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            f"name TEXT PRIMARY KEY, applied_at {db.dialect.real} NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        for m in MIGRATIONS:
            if m.name in done:
                continue
            m.apply(db)
            db.execute(
                f"INSERT INTO _migrations (name, applied_at) VALUES ({db.dialect.params(2)})",
                (m.name, time.time()),
            )
            applied.append(m.name)
    return applied


def applied_migrations(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]


# Columns that reports group by get an index together with ts, which also serves
# "this team since Monday" lookups (budgets, dashboard drill-down).
_GROUP_COLUMNS = ("team", "customer", "user_id", "served_model", "key_id", "task")


@migration
def m001_ledger(db: Database) -> None:
    real = db.dialect.real
    # The lever list is spelled out (not record.LEVERS): a shipped migration never changes;
    # a new lever gets a new migration adding its column.
    levers = ("exact_cache", "semantic_cache", "routing", "compression", "prompt_cache", "batch")
    money = ", ".join(f"saved_{lever}_usd {real} NOT NULL DEFAULT 0" for lever in levers)
    db.execute(
        f"""
        CREATE TABLE ledger (
            request_id TEXT PRIMARY KEY,
            ts {real} NOT NULL,
            key_id TEXT,
            team TEXT,
            user_id TEXT,
            customer TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            task TEXT,
            requested_model TEXT NOT NULL,
            served_model TEXT,
            provider TEXT,
            wire_format TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd {real},
            baseline_cost_usd {real},
            saved_usd {real},
            {money},
            latency_ms {real} NOT NULL DEFAULT 0,
            upstream_ms {real} NOT NULL DEFAULT 0,
            overhead_ms {real} NOT NULL DEFAULT 0,
            stream BOOLEAN NOT NULL DEFAULT FALSE,
            cache_status TEXT NOT NULL DEFAULT 'miss',
            status INTEGER NOT NULL DEFAULT 200,
            error_class TEXT,
            usage_estimated BOOLEAN NOT NULL DEFAULT FALSE,
            prompt_fingerprint TEXT,
            retries INTEGER NOT NULL DEFAULT 0,
            fallback_used BOOLEAN NOT NULL DEFAULT FALSE,
            batch BOOLEAN NOT NULL DEFAULT FALSE
        )
        """
    )
    db.execute("CREATE INDEX ledger_ts ON ledger (ts)")
    for column in _GROUP_COLUMNS:
        db.execute(f"CREATE INDEX ledger_{column}_ts ON ledger ({column}, ts)")
    db.execute("CREATE INDEX ledger_prompt_fingerprint ON ledger (prompt_fingerprint)")
    db.execute(
        """
        CREATE TABLE ledger_tags (
            request_id TEXT NOT NULL REFERENCES ledger (request_id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (request_id, tag)
        )
        """
    )
    db.execute("CREATE INDEX ledger_tags_tag ON ledger_tags (tag)")
    db.execute(
        """
        CREATE TABLE ledger_prompts (
            request_id TEXT PRIMARY KEY REFERENCES ledger (request_id) ON DELETE CASCADE,
            prompt_text TEXT NOT NULL
        )
        """
    )


@migration
def m002_governance(db: Database) -> None:
    """Virtual keys, budgets and the soft-limit alerts already sent (levers.governance).

    * ``virtual_keys``: only the SHA-256 of a key is stored (``key_hash``, unique: the
      look-up column), plus a short display ``prefix``; ``models`` is a JSON list (NULL =
      any model), ``metadata`` JSON text. Revoking keeps the row: ledger rows refer to it.
    * ``budgets``: one per (scope, subject, period); ``usd`` is a decimal string so a
      limit reads back exactly; ``soft_limit_pct`` a JSON list of percentages.
    * ``budget_alerts``: one row per threshold per budget period, inserted by the replica
      that sends the webhook; the primary key is what makes "once per period" hold
      across restarts and replicas.
    """
    real = db.dialect.real
    db.execute(
        f"""
        CREATE TABLE virtual_keys (
            id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            team TEXT,
            user_id TEXT,
            customer TEXT,
            models TEXT,
            rpm INTEGER,
            tpm INTEGER,
            expires_at {real},
            metadata TEXT NOT NULL DEFAULT '{{}}',
            revoked BOOLEAN NOT NULL DEFAULT FALSE,
            revoked_at {real},
            created_at {real} NOT NULL
        )
        """
    )
    db.execute(
        f"""
        CREATE TABLE budgets (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            usd TEXT NOT NULL,
            soft_limit_pct TEXT NOT NULL DEFAULT '[]',
            webhook TEXT,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            PRIMARY KEY (scope, subject, period)
        )
        """
    )
    db.execute(
        f"""
        CREATE TABLE budget_alerts (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            period_start {real} NOT NULL,
            threshold_pct {real} NOT NULL,
            fired_at {real} NOT NULL,
            delivered_at {real},
            PRIMARY KEY (scope, subject, period, period_start, threshold_pct)
        )
        """
    )


# The float money columns of m001 and the pico-USD integer columns replacing them.
_M003_MONEY = {
    "cost_usd": "cost_pusd",
    "baseline_cost_usd": "baseline_cost_pusd",
    "saved_usd": "saved_pusd",
}
_M001_LEVERS = ("exact_cache", "semantic_cache", "routing", "compression", "prompt_cache",
                "batch")  # fmt: skip


def _float_to_pico(column: str) -> str:
    # m001 stored floats already rounded to 10 decimal places, so the amount is the
    # nearest multiple of 1e-10 (exact below $450,000 per row, where a double still
    # resolves 1e-10), times 100 pico-USD.
    return f"CAST(ROUND({column} * 10000000000) AS BIGINT) * 100"


@migration
def m003_exact_money(db: Database) -> None:
    """Money as exact integer pico-USD; per-lever savings as rows; notes; unattributed
    and gateway spend. Existing rows are converted, then the float columns dropped (so
    nothing can keep reading a column that is no longer written). ``saved`` becomes the
    levers' sum and ``unattributed = baseline - cost - saved``, as written from now on."""
    for column in (*_M003_MONEY.values(), "unattributed_pusd"):
        db.execute(f"ALTER TABLE ledger ADD COLUMN {column} BIGINT")
    db.execute("ALTER TABLE ledger ADD COLUMN gateway_cost_pusd BIGINT NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE ledger ADD COLUMN notes TEXT NOT NULL DEFAULT '{}'")
    db.execute(
        """
        CREATE TABLE ledger_savings (
            request_id TEXT NOT NULL REFERENCES ledger (request_id) ON DELETE CASCADE,
            lever TEXT NOT NULL,
            saved_pusd BIGINT NOT NULL,
            PRIMARY KEY (request_id, lever)
        )
        """
    )
    db.execute("CREATE INDEX ledger_savings_lever ON ledger_savings (lever)")
    sets = ", ".join(f"{new} = {_float_to_pico(old)}" for old, new in _M003_MONEY.items())
    db.execute(f"UPDATE ledger SET {sets}")
    for lever in _M001_LEVERS:
        column = f"saved_{lever}_usd"
        db.execute(
            "INSERT INTO ledger_savings (request_id, lever, saved_pusd) "
            f"SELECT request_id, '{lever}', {_float_to_pico(column)} FROM ledger "
            f"WHERE {column} <> 0"
        )
    # m001's saved_usd was baseline - cost; now saved is what the levers earned and
    # unattributed the rest (a fallback, provider-side caching): split it that way.
    levers_sum = ("COALESCE((SELECT SUM(s.saved_pusd) FROM ledger_savings s "
                  "WHERE s.request_id = ledger.request_id), 0)")  # fmt: skip
    db.execute(
        f"UPDATE ledger SET saved_pusd = {levers_sum}, unattributed_pusd = "
        f"baseline_cost_pusd - cost_pusd - {levers_sum} WHERE saved_pusd IS NOT NULL "
        "AND baseline_cost_pusd IS NOT NULL AND cost_pusd IS NOT NULL"
    )
    for column in (*_M003_MONEY, *(f"saved_{lever}_usd" for lever in _M001_LEVERS)):
        db.execute(f"ALTER TABLE ledger DROP COLUMN {column}")


@migration
def m004_stored_responses(db: Database) -> None:
    """Responses API responses kept for ``previous_response_id`` and ``GET
    /v1/responses/{id}`` (``server.response_store``), per tenant (the client key's id),
    until ``expires_at``. ``body`` is the response object as returned, ``items`` the
    conversation it continues (JSON text)."""
    real = db.dialect.real
    db.execute(
        f"""
        CREATE TABLE stored_responses (
            tenant TEXT NOT NULL,
            id TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL,
            body TEXT NOT NULL,
            items TEXT NOT NULL,
            PRIMARY KEY (tenant, id)
        )
        """
    )
    db.execute("CREATE INDEX stored_responses_expires ON stored_responses (expires_at)")
