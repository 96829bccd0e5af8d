"""The ledger written once in SQL; the SQLite and PostgreSQL backends only adapt drivers.

Reports are aggregates over ``ledger`` (joined to ``ledger_tags`` only when grouping by
tag). Sorting happens in Python because the groups are few (teams, models, days) and
the two dialects order NULLs differently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tokenthrift.ledger import migrations
from tokenthrift.ledger.base import (
    SAVINGS_DIMENSIONS,
    SPEND_DIMENSIONS,
    SPEND_METRICS,
    RecordRejected,
)
from tokenthrift.ledger.dialect import Database
from tokenthrift.ledger.record import LEVERS, LedgerRecord

# ledger columns in table order; record field names where they differ: user -> user_id,
# savings -> saved_<lever>_usd, tags -> JSON text.
_LEVER_COLUMNS = tuple(f"saved_{lever}_usd" for lever in LEVERS)
COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "key_id", "team", "user_id", "customer", "tags", "task",
    "requested_model", "served_model", "provider", "wire_format", "endpoint",
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens",
    "cost_usd", "baseline_cost_usd", "saved_usd", *_LEVER_COLUMNS,
    "latency_ms", "upstream_ms", "overhead_ms", "stream", "cache_status", "status",
    "error_class", "usage_estimated", "prompt_fingerprint", "retries", "fallback_used",
    "batch",
)  # fmt: skip
_FIELD_OF_COLUMN = {"user_id": "user"}
_BOOL_COLUMNS = frozenset({"stream", "usage_estimated", "fallback_used", "batch"})
_MONEY_DIGITS = 10  # DEVELOPERS.md: money leaves as a float rounded to 10 places

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
_SPEND_SQL = {
    "requests": "COUNT(*)",
    "cost_usd": "SUM(l.cost_usd)",
    "unknown_cost_requests": "SUM(CASE WHEN l.cost_usd IS NULL THEN 1 ELSE 0 END)",
    "baseline_cost_usd": "SUM(l.baseline_cost_usd)",
    "saved_usd": "SUM(l.saved_usd)",
    "input_tokens": "SUM(l.input_tokens)",
    "cache_read_tokens": "SUM(l.cache_read_tokens)",
    "cache_write_tokens": "SUM(l.cache_write_5m_tokens + l.cache_write_1h_tokens)",
    "output_tokens": "SUM(l.output_tokens)",
    "reasoning_tokens": "SUM(l.reasoning_tokens)",
}
_SAVINGS_SQL = {
    "requests": "COUNT(*)",
    "baseline_cost_usd": "SUM(l.baseline_cost_usd)",
    "cost_usd": "SUM(l.cost_usd)",
    "unknown_cost_requests": "SUM(CASE WHEN l.cost_usd IS NULL THEN 1 ELSE 0 END)",
    "saved_usd": "SUM(l.saved_usd)",
    **{column: f"SUM(l.{column})" for column in _LEVER_COLUMNS},
}
_LEVER_SQL = {
    **{f"{lever}:saved": f"SUM(l.saved_{lever}_usd)" for lever in LEVERS},
    **{
        f"{lever}:requests": f"SUM(CASE WHEN l.saved_{lever}_usd > 0 THEN 1 ELSE 0 END)"
        for lever in LEVERS
    },
}


def record_to_row(record: LedgerRecord) -> tuple[Any, ...]:
    values: list[Any] = []
    for column in COLUMNS:
        if column == "tags":
            values.append(json.dumps(record.tags))
        elif column.startswith("saved_") and column != "saved_usd":
            values.append(record.savings.get(column[len("saved_") : -len("_usd")], 0.0))
        else:
            values.append(getattr(record, _FIELD_OF_COLUMN.get(column, column)))
    return tuple(values)


def row_to_record(row: Sequence[Any], prompt_text: str | None) -> LedgerRecord:
    data: dict[str, Any] = {"savings": {}, "prompt_text": prompt_text}
    for column, value in zip(COLUMNS, row, strict=True):
        if column == "tags":
            data["tags"] = json.loads(value)
        elif column in _LEVER_COLUMNS:
            if value:
                data["savings"][column[len("saved_") : -len("_usd")]] = value
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
        p = self._dialect.param
        with self._db.transaction():
            existing = self._existing_ids([r.request_id for r in records])
            # First write wins: tags and prompt of an already stored id are not touched.
            new = [r for r in _unique_by_id(records) if r.request_id not in existing]
            if not new:
                return 0
            try:
                rows = [record_to_row(r) for r in new]
            except (TypeError, ValueError) as exc:
                raise RecordRejected(f"cannot serialise ledger record: {exc}") from exc
            self._db.executemany(
                f"INSERT INTO ledger ({', '.join(COLUMNS)}) "
                f"VALUES ({self._dialect.params(len(COLUMNS))}) "
                "ON CONFLICT (request_id) DO NOTHING",
                rows,
            )
            tags = [(r.request_id, tag) for r in new for tag in dict.fromkeys(r.tags)]
            if tags:
                self._db.executemany(
                    f"INSERT INTO ledger_tags (request_id, tag) VALUES ({p}, {p}) "
                    "ON CONFLICT DO NOTHING",
                    tags,
                )
            prompts = [(r.request_id, r.prompt_text) for r in new if r.prompt_text is not None]
            if prompts:
                self._db.executemany(
                    f"INSERT INTO ledger_prompts (request_id, prompt_text) VALUES ({p}, {p}) "
                    "ON CONFLICT DO NOTHING",
                    prompts,
                )
        return len(new)

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

    def get(self, request_id: str) -> LedgerRecord | None:
        rows = self._db.execute(
            f"{self._select_records()} WHERE l.request_id = {self._dialect.param}",
            (request_id,),
        )
        return row_to_record(rows[0][:-1], rows[0][-1]) if rows else None

    def rows(self, since: float | None = None, limit: int = 1000) -> list[LedgerRecord]:
        where, params = self._since(since)
        sql = (
            f"{self._select_records()}{where} "
            f"ORDER BY l.ts DESC, l.request_id LIMIT {self._dialect.param}"
        )
        return [row_to_record(r[:-1], r[-1]) for r in self._db.execute(sql, [*params, limit])]

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
            (totals,) = self._aggregate([], _LEVER_SQL, since)
            rows = [
                {
                    "lever": lever,
                    "saved_usd": totals[f"{lever}:saved"],
                    "requests": totals[f"{lever}:requests"],
                }
                for lever in LEVERS
            ]
            # stable sort: levers that saved the same keep pipeline order
            return sorted(rows, key=lambda r: -r["saved_usd"])
        rows = self._aggregate([by], _SAVINGS_SQL, since)
        return sorted(rows, key=lambda r: (-r["saved_usd"], _group_order(r, [by])))

    def _aggregate(
        self, by: list[str], metrics: dict[str, str], since: float | None
    ) -> list[dict[str, Any]]:
        keys = [self._dialect.utc_day("l.ts") if d == "day" else _DIMENSION_SQL[d] for d in by]
        selects = [*keys, *(f"COALESCE({expr}, 0)" for expr in metrics.values())]
        sql = f"SELECT {', '.join(selects)} FROM ledger l"
        if "tag" in by:
            sql += " LEFT JOIN ledger_tags t ON t.request_id = l.request_id"
        where, params = self._since(since)
        sql += where
        if by:
            sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(by)))
        names = [*by, *metrics]
        return [
            {name: _clean(name, value) for name, value in zip(names, row, strict=True)}
            for row in self._db.execute(sql, params)
        ]

    def _since(self, since: float | None) -> tuple[str, list[Any]]:
        if since is None:
            return "", []
        return f" WHERE l.ts >= {self._dialect.param}", [since]

    def close(self) -> None:
        self._db.close()


def _clean(name: str, value: Any) -> Any:
    # SQLite's COALESCE(SUM(NULL), 0) is the integer 0; money is always a float.
    if name.endswith("_usd") or name.endswith(":saved"):
        return round(float(value), _MONEY_DIGITS)
    return value


def _check_dimensions(by: list[str], allowed: tuple[str, ...]) -> None:
    unknown = [d for d in by if d not in allowed]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise ValueError(f"dimension given twice in {by}")


def _group_order(row: dict[str, Any], by: list[str]) -> tuple[tuple[bool, str], ...]:
    # None groups (untagged, no team) last, then alphabetical: deterministic ties.
    return tuple((row[d] is None, str(row[d] or "")) for d in by)
