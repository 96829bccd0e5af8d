"""Local-file backend (``<data_dir>/cache.db``): survives restarts, can be shared by
gateway processes on one machine (WAL mode).

Reads run on the event loop: an indexed primary-key SELECT in WAL mode takes a few µs
and never waits for a writer, cheaper than a hop to a thread. Writes (which may wait
for the file lock or a checkpoint) run on one writer thread.

Tags are one column, ``\x1f``-separated with a separator at each end, matched with
``instr``: clearing by tag scans the table, which is fine for an operator action on a
cache of this size (tags are printable text, so they never contain the separator).

Eviction: expired rows, then the oldest-stored rows beyond ``max_entries``, checked every
``_PRUNE_EVERY`` writes (the table may overshoot by that many rows in between).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    model TEXT NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries (expires_at);
CREATE INDEX IF NOT EXISTS cache_entries_stored ON cache_entries (stored_at);
CREATE INDEX IF NOT EXISTS cache_entries_scope ON cache_entries (scope, model);
"""
_PRUNE_EVERY = 64
_SEP = "\x1f"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: str, max_entries: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_entries = max_entries
        self._writer = _connect(path)
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute("PRAGMA synchronous = NORMAL")  # a lost cache write is harmless
        self._writer.executescript(_SCHEMA)
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(cache_entries)")}
        if "tags" not in columns:  # a cache file written before tags existed
            self._writer.execute(
                "ALTER TABLE cache_entries ADD COLUMN tags TEXT NOT NULL DEFAULT ''")
        self._reader = _connect(path)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tokenthrift-cache-sqlite")
        self._writes = 0

    async def _write(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def get(self, entry_id: str) -> bytes | None:
        row = self._reader.execute(
            "SELECT payload FROM cache_entries WHERE id = ? AND expires_at > ?",
            (entry_id, self._clock()),
        ).fetchone()
        return None if row is None else bytes(row[0])

    async def put(self, entry_id: str, payload: bytes, *, scope: str, model: str,
                  expires_at: float, tags: tuple[str, ...] = ()) -> None:
        await self._write(self._put, entry_id, payload, scope, model, expires_at, tags)

    def _put(self, entry_id: str, payload: bytes, scope: str, model: str,
             expires_at: float, tags: tuple[str, ...] = ()) -> None:
        now = self._clock()
        joined = _SEP + _SEP.join(tags) + _SEP if tags else ""
        self._writer.execute(
            "INSERT OR REPLACE INTO cache_entries"
            " (id, scope, model, stored_at, expires_at, payload, tags)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry_id, scope, model, now, expires_at, payload, joined),
        )
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 1:
            self._prune(now)

    def _prune(self, now: float) -> None:
        self._writer.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
        self._writer.execute(
            "DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries"
            " ORDER BY stored_at DESC LIMIT -1 OFFSET ?)",
            (self.max_entries,),
        )

    async def delete(self, entry_id: str) -> None:
        await self._write(self._writer.execute, "DELETE FROM cache_entries WHERE id = ?",
                          (entry_id,))

    async def clear(self, *, scope: str | None = None, model: str | None = None,
                    tag: str | None = None) -> int:
        return int(await self._write(self._clear, scope, model, tag))

    def _clear(self, scope: str | None, model: str | None, tag: str | None = None) -> int:
        marked = None if tag is None else _SEP + tag + _SEP
        cursor = self._writer.execute(
            "DELETE FROM cache_entries WHERE (? IS NULL OR scope = ?) AND (? IS NULL OR model = ?)"
            " AND (? IS NULL OR instr(tags, ?) > 0)",
            (scope, scope, model, model, marked, marked),
        )
        return cursor.rowcount

    async def count(self) -> int:
        row = self._reader.execute("SELECT COUNT(*) FROM cache_entries WHERE expires_at > ?",
                                   (self._clock(),)).fetchone()
        return int(row[0])

    async def aclose(self) -> None:
        await self._write(self._prune, self._clock())
        self._thread.shutdown(wait=True)
        self._writer.close()
        self._reader.close()
