"""The ledger written once in SQL; the SQLite and PostgreSQL backends only adapt drivers.

Money is stored as integer pico-USD and summed in two overflow-free parts
(``money.py``), so every report total is the exact decimal sum of the rows. Reports
are aggregates over ``ledger`` (joined to ``ledger_tags`` when grouping by tag, to
``ledger_savings`` for per-lever figures). Sorting happens in Python because the groups
are few (teams, models, days) and the two dialects order NULLs differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from tokenthrift.ledger import migrations
from tokenthrift.ledger.base import (
    SAVINGS_DIMENSIONS,
    SPEND_DIMENSIONS,
    SPEND_METRICS,
    RecordRejected,
)
from tokenthrift.ledger.dialect import Database
from tokenthrift.ledger.money import (
    ZERO,
    from_pico,
    from_pico_or_none,
    from_sums,
    sum_sql,
    to_pico,
    to_pico_or_none,
)
from tokenthrift.ledger.record import LEVERS, LedgerRecord

# ledger columns in table order; record field names where they differ: user -> user_id,
# money -> *_pusd (integer pico-USD), tags and notes -> JSON text.
COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "key_id", "team", "user_id", "customer", "tags", "task",
    "requested_model", "served_model", "provider", "wire_format", "endpoint",
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens",
    "cost_pusd", "baseline_cost_pusd", "saved_pusd", "unattributed_pusd",
    "gateway_cost_pusd", "notes",
    "latency_ms", "upstream_ms", "overhead_ms", "stream", "cache_status", "status",
    "error_class", "usage_estimated", "prompt_fingerprint", "retries", "fallback_used",
    "batch",
)  # fmt: skip
_FIELD_OF_COLUMN = {
    "user_id": "user",
    "cost_pusd": "cost_usd",
    "baseline_cost_pusd": "baseline_cost_usd",
    "saved_pusd": "saved_usd",
    "unattributed_pusd": "unattributed_usd",
}
_BOOL_COLUMNS = frozenset({"stream", "usage_estimated", "fallback_used", "batch"})
# SQLite allows 32,766 bound parameters per statement (since 3.32), PostgreSQL 65,535.
_MAX_PARAMS = 32_000

# SQL for each group key; "day" comes from the dialect.
_DIMENSION_SQL = {
    "team": "l.team",
    "customer": "l.customer",
    "user": "l.user_id",
    "model": "l.served_model",
    "key": "l.key_id",
    "task": "l.task",
    "tag": "t.tag",
}
# A metric is (SQL, is_money): money metrics name a pico-USD expression summed exactly.
_Metric = tuple[str, bool]
_COMMON_SQL: dict[str, _Metric] = {
    "requests": ("COUNT(*)", False),
    "cost_usd": ("l.cost_pusd", True),
    "unknown_cost_requests": ("SUM(CASE WHEN l.cost_pusd IS NULL THEN 1 ELSE 0 END)", False),
    "baseline_cost_usd": ("l.baseline_cost_pusd", True),
    "saved_usd": ("l.saved_pusd", True),
    "unattributed_usd": ("l.unattributed_pusd", True),
    "gateway_cost_usd": ("l.gateway_cost_pusd", True),
}
_SPEND_SQL: dict[str, _Metric] = {
    **_COMMON_SQL,
    "input_tokens": ("SUM(l.input_tokens)", False),
    "cache_read_tokens": ("SUM(l.cache_read_tokens)", False),
    "cache_write_tokens": ("SUM(l.cache_write_5m_tokens + l.cache_write_1h_tokens)", False),
    "output_tokens": ("SUM(l.output_tokens)", False),
    "reasoning_tokens": ("SUM(l.reasoning_tokens)", False),
}
SAVINGS_GROUP_BASE: tuple[str, ...] = (
    "requests",
    "baseline_cost_usd",
    "cost_usd",
    "unknown_cost_requests",
    "saved_usd",
    "unattributed_usd",
    "gateway_cost_usd",
)


def lever_column(lever: str) -> str:
    return f"saved_{lever}_usd"


def ordered_levers(found: Iterable[str]) -> list[str]:
    """``LEVERS`` in pipeline order, then any other lever alphabetically."""
    return [*LEVERS, *sorted(set(found) - set(LEVERS))]


def record_to_row(record: LedgerRecord) -> tuple[Any, ...]:
    """The ``ledger`` row of a record (in ``COLUMNS`` order); ``ValueError``/``TypeError``
    if it cannot be stored. Spelled out: the writer thread runs this for every row."""
    r = record
    cost, baseline, saved = (
        to_pico_or_none(r.cost_usd),
        to_pico_or_none(r.baseline_cost_usd),
        to_pico_or_none(r.saved_usd),
    )
    # From the stored (rounded) figures, so that baseline - cost == saved + unattributed
    # holds exactly in the database too.
    unattributed = (
        None if cost is None or baseline is None or saved is None else baseline - cost - saved
    )
    return (
        r.request_id, r.ts, r.key_id, r.team, r.user, r.customer, _json(r.tags), r.task,
        r.requested_model, r.served_model, r.provider, r.wire_format, r.endpoint,
        r.input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
        r.output_tokens, r.reasoning_tokens,
        cost, baseline, saved, unattributed, to_pico(r.gateway_cost_usd), _json(r.notes),
        r.latency_ms, r.upstream_ms, r.overhead_ms, r.stream, r.cache_status, r.status,
        r.error_class, r.usage_estimated, r.prompt_fingerprint, r.retries, r.fallback_used,
        r.batch,
    )  # fmt: skip


def _json(value: list[str] | dict[str, Any]) -> str:
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    # Decimals in notes become strings; anything else unserialisable raises TypeError.
    return orjson.dumps(value, default=_json_default).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _savings_pico(record: LedgerRecord) -> list[tuple[str, int]]:
    pairs = [(lever, to_pico(usd)) for lever, usd in record.savings.items()]
    return [(lever, pico) for lever, pico in pairs if pico]


def row_to_record(
    row: Sequence[Any], prompt_text: str | None, savings: dict[str, Decimal]
) -> LedgerRecord:
    data: dict[str, Any] = {"savings": savings, "prompt_text": prompt_text}
    for column, value in zip(COLUMNS, row, strict=True):
        if column in ("tags", "notes"):
            data[column] = json.loads(value)
        elif column == "gateway_cost_pusd":
            data["gateway_cost_usd"] = from_pico(value)
        elif column.endswith("_pusd"):
            data[_FIELD_OF_COLUMN[column]] = from_pico_or_none(value)
        elif column in _BOOL_COLUMNS:
            data[column] = bool(value)
        else:
            data[_FIELD_OF_COLUMN.get(column, column)] = value
    return LedgerRecord(**data)


def _unique_by_id(records: list[LedgerRecord]) -> list[LedgerRecord]:
    seen: set[str] = set()
    unique = []
    for record in records:
        if record.request_id not in seen:
            seen.add(record.request_id)
            unique.append(record)
    return unique


class SQLLedger:
    """``Ledger`` over a ``Database``; subclasses only open the connection."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._dialect = db.dialect

    # -- schema and writes ----------------------------------------------------------

    def migrate(self) -> list[str]:
        return migrations.migrate(self._db)

    def write(self, records: list[LedgerRecord]) -> int:
        if not records:
            return 0
        with self._db.transaction():
            existing = self._existing_ids([r.request_id for r in records])
            # First write wins: tags and prompt of an already stored id are not touched.
            new = [r for r in _unique_by_id(records) if r.request_id not in existing]
            if not new:
                return 0
            try:
                rows = [record_to_row(r) for r in new]
                savings = [(r.request_id, lever, p) for r in new for lever, p in _savings_pico(r)]
            except (TypeError, ValueError) as exc:
                raise RecordRejected(f"cannot store ledger record: {exc}") from exc
            self._insert("ledger", COLUMNS, rows)
            self._insert("ledger_savings", ("request_id", "lever", "saved_pusd"), savings)
            tags = [(r.request_id, tag) for r in new for tag in dict.fromkeys(r.tags)]
            self._insert("ledger_tags", ("request_id", "tag"), tags)
            prompts = [(r.request_id, r.prompt_text) for r in new if r.prompt_text is not None]
            self._insert("ledger_prompts", ("request_id", "prompt_text"), prompts)
        return len(new)

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows, skipping existing keys, in as few statements as the driver likes.

        SQLite: multi-row INSERTs, one statement per chunk rather than per row. sqlite3
        releases and re-takes the GIL at every statement step, and a busy event loop
        thread holds it up to 5 ms each time: per-row steps made the writer fall behind.
        PostgreSQL: ``executemany``, which psycopg pipelines (one round trip); a huge
        multi-row statement measured 2-3x slower there."""
        if not rows:
            return
        one = f"({self._dialect.params(len(columns))})"
        if self._dialect.name == "postgresql":
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {one} ON CONFLICT DO NOTHING"
            self._db.executemany(sql, rows)
            return
        per_chunk = max(1, _MAX_PARAMS // len(columns))
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            sql = head + ", ".join([one] * len(chunk)) + " ON CONFLICT DO NOTHING"
            self._db.execute(sql, [value for row in chunk for value in row])

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        chunk = 500  # well under SQLite's bound-parameter limit
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            sql = (
                "SELECT request_id FROM ledger "
                f"WHERE request_id IN ({self._dialect.params(len(part))})"
            )
            found.update(row[0] for row in self._db.execute(sql, part))
        return found

    # -- reading rows ---------------------------------------------------------------

    def _select_records(self) -> str:
        columns = ", ".join(f"l.{c}" for c in COLUMNS)
        return (
            f"SELECT {columns}, p.prompt_text FROM ledger l "
            "LEFT JOIN ledger_prompts p ON p.request_id = l.request_id"
        )

    def _savings_of(self, ids: list[str]) -> dict[str, dict[str, Decimal]]:
        found: dict[str, dict[str, Decimal]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            sql = (
                "SELECT request_id, lever, saved_pusd FROM ledger_savings "
                f"WHERE request_id IN ({self._dialect.params(len(part))})"
            )
            for request_id, lever, pico in self._db.execute(sql, part):
                found.setdefault(request_id, {})[lever] = from_pico(pico)
        return found

    def _records(self, rows: list[tuple[Any, ...]]) -> list[LedgerRecord]:
        savings = self._savings_of([row[0] for row in rows])
        return [row_to_record(r[:-1], r[-1], savings.get(r[0], {})) for r in rows]

    def get(self, request_id: str) -> LedgerRecord | None:
        rows = self._db.execute(
            f"{self._select_records()} WHERE l.request_id = {self._dialect.param}",
            (request_id,),
        )
        return self._records(rows)[0] if rows else None

    def rows(self, since: float | None = None, limit: int = 1000) -> list[LedgerRecord]:
        where, params = self._since(since)
        sql = (
            f"{self._select_records()}{where} "
            f"ORDER BY l.ts DESC, l.request_id LIMIT {self._dialect.param}"
        )
        return self._records(self._db.execute(sql, [*params, limit]))

    # -- reports --------------------------------------------------------------------

    def spend(self, by: list[str], since: float | None = None) -> list[dict[str, Any]]:
        _check_dimensions(by, SPEND_DIMENSIONS)
        rows = self._aggregate(by, {m: _SPEND_SQL[m] for m in SPEND_METRICS}, since)
        rows.sort(key=lambda r: (-r["cost_usd"], _group_order(r, by)))
        if "day" in by:  # a time series: days in order, by cost within a day (stable sort)
            rows.sort(key=lambda r: r["day"] or "")
        return rows

    def savings(self, by: str, since: float | None = None) -> list[dict[str, Any]]:
        _check_dimensions([by], SAVINGS_DIMENSIONS)
        if by == "lever":
            return self._savings_by_lever(since)
        rows = self._aggregate([by], {m: _COMMON_SQL[m] for m in SAVINGS_GROUP_BASE}, since)
        per_lever = self._lever_sums([by], since)
        columns = [lever_column(lever) for lever in ordered_levers(k[1] for k in per_lever)]
        for row in rows:
            for column in columns:
                row[column] = ZERO
        by_key = {row[by]: row for row in rows}
        for (key, lever), (saved, _count) in per_lever.items():
            by_key[key][lever_column(lever)] = saved
        return sorted(rows, key=lambda r: (-r["saved_usd"], _group_order(r, [by])))

    def _savings_by_lever(self, since: float | None) -> list[dict[str, Any]]:
        sums = {lever: value for (lever,), value in self._lever_sums([], since).items()}
        rows = [
            {"lever": lever, "saved_usd": saved, "requests": count}
            for lever in ordered_levers(sums)
            for saved, count in [sums.get(lever, (ZERO, 0))]
        ]
        # stable sort: levers that saved the same keep pipeline order
        return sorted(rows, key=lambda r: -r["saved_usd"])

    def _lever_sums(
        self, by: list[str], since: float | None
    ) -> dict[tuple[Any, ...], tuple[Decimal, int]]:
        """``{(*group keys, lever): (saved, requests it saved on)}`` from ledger_savings."""
        keys = [_DIMENSION_SQL[d] for d in by]
        whole, remainder = sum_sql("s.saved_pusd")
        selects = [*keys, "s.lever", whole, remainder,
                   "SUM(CASE WHEN s.saved_pusd > 0 THEN 1 ELSE 0 END)"]  # fmt: skip
        where, params = self._since(since)
        sql = (
            f"SELECT {', '.join(selects)} FROM ledger_savings s "
            f"JOIN ledger l ON l.request_id = s.request_id{where} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(by) + 1))}"
        )
        n = len(by) + 1
        return {
            tuple(row[:n]): (from_sums(row[n], row[n + 1]), int(row[n + 2]))
            for row in self._db.execute(sql, params)
        }

    def _aggregate(
        self, by: list[str], metrics: dict[str, _Metric], since: float | None
    ) -> list[dict[str, Any]]:
        keys = [self._dialect.utc_day("l.ts") if d == "day" else _DIMENSION_SQL[d] for d in by]
        selects = list(keys)
        for expr, is_money in metrics.values():
            selects.extend(sum_sql(expr) if is_money else [f"COALESCE({expr}, 0)"])
        sql = f"SELECT {', '.join(selects)} FROM ledger l"
        if "tag" in by:
            sql += " LEFT JOIN ledger_tags t ON t.request_id = l.request_id"
        where, params = self._since(since)
        sql += where
        if by:
            sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(by)))
        return [self._metric_row(by, metrics, row) for row in self._db.execute(sql, params)]

    @staticmethod
    def _metric_row(
        by: list[str], metrics: dict[str, _Metric], row: Sequence[Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = dict(zip(by, row, strict=False))
        i = len(by)
        for name, (_, is_money) in metrics.items():
            if is_money:
                result[name] = from_sums(row[i], row[i + 1])
                i += 2
            else:
                result[name] = int(row[i])  # PostgreSQL sums integers as NUMERIC
                i += 1
        return result

    def _since(self, since: float | None) -> tuple[str, list[Any]]:
        if since is None:
            return "", []
        return f" WHERE l.ts >= {self._dialect.param}", [since]

    def close(self) -> None:
        self._db.close()


def _check_dimensions(by: list[str], allowed: tuple[str, ...]) -> None:
    unknown = [d for d in by if d not in allowed]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise ValueError(f"dimension given twice in {by}")


def _group_order(row: dict[str, Any], by: list[str]) -> tuple[tuple[bool, str], ...]:
    # None groups (untagged, no team) last, then alphabetical: deterministic ties.
    return tuple((row[d] is None, str(row[d] or "")) for d in by)
