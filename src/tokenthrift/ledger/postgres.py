"""The shared ledger: PostgreSQL, for several gateway replicas.

One psycopg 3 connection in autocommit mode with explicit transactions; it is
re-opened on the next call after the server went away, so the writer's retries are
all it takes to survive a database restart. Batches go through ``executemany``, which
psycopg 3 sends in pipeline mode (one round trip per batch, not per row); COPY would be
faster still but cannot skip existing ids (``ON CONFLICT``), which idempotency needs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import sql as pgsql

from tokenthrift.ledger.base import LedgerUnavailable, RecordRejected
from tokenthrift.ledger.dialect import POSTGRES, Dialect
from tokenthrift.ledger.sql import SQLLedger

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresDatabase:
    """A lazily (re)connected psycopg connection shared by threads behind a lock."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout: int = 5):
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self._url = url
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._lock, self._translated_errors():
            self._connection()  # fail fast on a bad URL

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop()
            options: dict[str, Any] = {"connect_timeout": self._connect_timeout}
            if self._schema is not None:
                # search_path as a connection option survives reconnects.
                options["options"] = f"-c search_path={self._schema}"
            conn = psycopg.connect(self._url, autocommit=True, **options)
            if self._schema is not None:
                conn.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        pgsql.Identifier(self._schema)
                    )
                )
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            if is_permanent(exc):
                raise RecordRejected(f"postgres: {exc}") from exc
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                self._drop()
                raise LedgerUnavailable(f"postgres: {exc}") from exc
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._translated_errors():
            cur = self._connection().execute(sql, _without_nul(params) if params else None)
            return cur.fetchall() if cur.description is not None else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock, self._translated_errors(), self._connection().cursor() as cur:
            cur.executemany(sql, (_without_nul(row) for row in rows))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self._translated_errors(), self._connection().transaction():
            yield

    def close(self) -> None:
        with self._lock:
            self._drop()


# SQLSTATE classes saying the data itself is unacceptable, so the same rows fail again
# however often they are retried: 22 data exception (value too long, untranslatable
# character, numeric out of range), 23 integrity constraint violation, 54 program limit
# exceeded (an index row over the btree maximum: a 3 KB attribution value). psycopg
# files class 54 under OperationalError, next to lost connections, which is why the
# class is read rather than the exception type.
_PERMANENT_CLASSES = frozenset({"22", "23", "54"})


def is_permanent(exc: psycopg.Error) -> bool:
    """True when retrying the statement with the same rows cannot succeed.

    A duplicate ``request_id`` is not: the ledger's inserts skip existing ids, so a
    concurrent writer's row only means the retry will find it stored."""
    state = exc.sqlstate or ""
    if state == "23505" and (exc.diag.constraint_name or "").endswith("_pkey"):
        return False
    return state[:2] in _PERMANENT_CLASSES


def _without_nul(params: Sequence[Any]) -> list[Any]:
    """PostgreSQL text cannot hold NUL, which clients can put in any string they send
    (metadata, a model name) and SQLite stores: replace it rather than lose the row."""
    return [p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in params]


class PostgresLedger(SQLLedger):
    """``PostgresLedger("postgresql://user@host/db", schema="tokenthrift")``.

    ``schema`` (created if missing) puts the tables outside ``public``: several gateways
    or test runs can share one database without seeing each other's ledger.
    """

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout: int = 5):
        self.schema = schema
        super().__init__(PostgresDatabase(url, schema=schema, connect_timeout=connect_timeout))

    def __repr__(self) -> str:
        return f"PostgresLedger(schema={self.schema!r})"  # the URL may hold a password
