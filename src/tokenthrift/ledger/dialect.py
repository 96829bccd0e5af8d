"""The few places SQLite and PostgreSQL differ, and the connection both backends expose.

Queries and migrations are written once against ``Database``; each backend module
adapts its driver (sqlite3, psycopg) to it and picks its ``Dialect``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

DialectName = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: DialectName
    param: str  # the driver's placeholder
    real: str  # a 64-bit float column type (PostgreSQL's REAL is only 32-bit)
    utc_day_template: str  # SQL turning a unix-seconds column {col} into 'YYYY-MM-DD' (UTC)

    def params(self, n: int) -> str:
        return ", ".join([self.param] * n)

    def utc_day(self, column: str) -> str:
        return self.utc_day_template.format(col=column)


SQLITE = Dialect(
    name="sqlite",
    param="?",
    real="REAL",
    utc_day_template="strftime('%Y-%m-%d', {col}, 'unixepoch')",
)
POSTGRES = Dialect(
    name="postgresql",
    param="%s",
    real="DOUBLE PRECISION",
    utc_day_template="to_char(to_timestamp({col}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
)


class Database(Protocol):
    """A thread-safe connection in autocommit mode, with explicit transactions."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (empty for statements without rows)."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Hold the connection and a write transaction (serialised with other writers)."""
        ...

    def close(self) -> None: ...
