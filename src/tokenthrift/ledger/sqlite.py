"""The embedded ledger: one SQLite file in WAL mode.

WAL lets reports read while the writer thread commits; ``synchronous=NORMAL`` in WAL
mode keeps every commit safe from a process crash (SIGKILL) and only risks the last
commits on power loss, at a fraction of the fsync cost of ``FULL``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tokenthrift.ledger.base import LedgerUnavailable, RecordRejected
from tokenthrift.ledger.dialect import SQLITE, Dialect
from tokenthrift.ledger.sql import SQLLedger

MEMORY = ":memory:"


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:  # locked, busy, disk I/O, cannot open
        raise LedgerUnavailable(f"sqlite: {exc}") from exc
    except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError) as exc:
        raise RecordRejected(f"sqlite: {exc}") from exc


class SQLiteDatabase:
    """One sqlite3 connection shared by threads behind a lock."""

    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        with _translated_errors():
            # isolation_level=None: autocommit, transactions are explicit BEGIN IMMEDIATE
            # so a write never has to upgrade a read lock (the classic SQLITE_BUSY trap).
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if self.path != MEMORY:
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _translated_errors():
            return self._conn.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock, _translated_errors():
            self._conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            with _translated_errors():
                self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                with _translated_errors():
                    self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SQLiteLedger(SQLLedger):
    """``SQLiteLedger("path/ledger.db")``, or ``SQLiteLedger(":memory:")`` for tests."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        super().__init__(SQLiteDatabase(path, busy_timeout_ms=busy_timeout_ms))

    def __repr__(self) -> str:
        return f"SQLiteLedger({self.path!r})"
