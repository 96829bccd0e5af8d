"""What the batch lever keeps across restarts (SQLite): deferred jobs and the batches the
gateway passed through or submitted, until their results are settled into the ledger.

``jobs``: one row per deferred request — its client body, the upstream body, attribution,
status (queued → submitted → completed | failed) and, when done, the response in the
client's wire format. ``batches``: one row per batch with the provider, protocol, who
created it and whether its results were settled (so a restart settles each batch once;
the ledger rows' ids are derived from batch id + custom_id, so even a repeat is a no-op).
``owners``: who owns each file and batch created through the gateway (the client's hashed
key id, ``anonymous`` without a key): the passthrough routes answer only the owner
(``docs/security.md``). The first owner recorded for an id stays its owner.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at REAL NOT NULL,
    deadline_at REAL NOT NULL, provider TEXT NOT NULL, protocol TEXT NOT NULL,
    model TEXT NOT NULL, requested_model TEXT NOT NULL, wire_format TEXT NOT NULL,
    client_body TEXT NOT NULL, upstream_body TEXT NOT NULL, attribution TEXT NOT NULL,
    callback_url TEXT, batch_id TEXT, completed_at REAL, response TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, provider, model);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, protocol TEXT NOT NULL,
    attribution TEXT NOT NULL, created_at REAL NOT NULL, deferred INTEGER NOT NULL,
    settled_at REAL);
CREATE TABLE IF NOT EXISTS owners (
    id TEXT NOT NULL, kind TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (kind, id));
"""
ANONYMOUS = "anonymous"  # the owner of what keyless callers create (auth off)
_JOB_COLUMNS = ("id", "status", "created_at", "deadline_at", "provider", "protocol", "model",
                "requested_model", "wire_format", "client_body", "upstream_body",
                "attribution", "callback_url", "batch_id", "completed_at", "response", "error")


@dataclass(slots=True)
class Job:
    id: str
    status: str
    created_at: float
    deadline_at: float
    provider: str
    protocol: str
    model: str
    requested_model: str
    wire_format: str
    client_body: dict[str, Any]
    upstream_body: dict[str, Any]
    attribution: dict[str, Any]
    callback_url: str | None = None
    batch_id: str | None = None
    completed_at: float | None = None
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "tokenthrift.job", "status": self.status,
                "model": self.requested_model, "created_at": int(self.created_at),
                "deadline_at": int(self.deadline_at),
                "completed_at": None if self.completed_at is None else int(self.completed_at),
                "batch_id": self.batch_id, "response": self.response, "error": self.error}


@dataclass(frozen=True, slots=True)
class TrackedBatch:
    id: str
    provider: str
    protocol: str
    attribution: dict[str, Any]
    deferred: bool


class BatchStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def exists(self) -> bool:
        return self._conn is not None or self.path == ":memory:" or Path(self.path).exists()

    @property
    def _db(self) -> sqlite3.Connection:
        """Opened on first use: a gateway that never batches creates no file."""
        with self._lock:
            if self._conn is None:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                self._conn = conn
            return self._conn

    # -- jobs --------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        values = [getattr(job, c) for c in _JOB_COLUMNS]
        values = [json.dumps(v) if isinstance(v, dict) else v for v in values]
        with self._lock:
            self._db.execute(f"INSERT INTO jobs VALUES ({','.join('?' * len(values))})", values)

    def job(self, job_id: str) -> Job | None:
        rows = self._select("WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, status: str, batch_id: str | None = None) -> list[Job]:
        if batch_id is None:
            return self._select("WHERE status = ? ORDER BY created_at", (status,))
        return self._select("WHERE status = ? AND batch_id = ? ORDER BY created_at",
                            (status, batch_id))

    def mark_submitted(self, job_ids: list[str], batch_id: str) -> None:
        with self._lock:
            self._db.executemany("UPDATE jobs SET status = 'submitted', batch_id = ? "
                                 "WHERE id = ? AND status = 'queued'",
                                 [(batch_id, i) for i in job_ids])

    def finish_job(self, job_id: str, *, response: dict[str, Any] | None,
                   error: dict[str, Any] | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, completed_at = ?, response = ?, error = ? "
                "WHERE id = ?", ("completed" if response is not None else "failed", time.time(),
                                 None if response is None else json.dumps(response),
                                 None if error is None else json.dumps(error), job_id))

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Job]:
        with self._lock:
            rows = self._db.execute(f"SELECT {','.join(_JOB_COLUMNS)} FROM jobs {where}",
                                    params).fetchall()
        jobs = []
        for row in rows:
            data = dict(zip(_JOB_COLUMNS, row, strict=True))
            for key in ("client_body", "upstream_body", "attribution", "response", "error"):
                if data[key] is not None:
                    data[key] = json.loads(data[key])
            jobs.append(Job(**data))
        return jobs

    # -- batches -----------------------------------------------------------------------

    def track(self, batch: TrackedBatch) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?, NULL)",
                             (batch.id, batch.provider, batch.protocol,
                              json.dumps(batch.attribution), time.time(), int(batch.deferred)))

    def unsettled(self) -> list[TrackedBatch]:
        with self._lock:
            rows = self._db.execute("SELECT id, provider, protocol, attribution, deferred "
                                    "FROM batches WHERE settled_at IS NULL ORDER BY created_at"
                                    ).fetchall()
        return [TrackedBatch(r[0], r[1], r[2], json.loads(r[3]), bool(r[4])) for r in rows]

    def tracked(self, batch_id: str) -> TrackedBatch | None:
        return next((b for b in self.unsettled() if b.id == batch_id), None)

    def mark_settled(self, batch_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE batches SET settled_at = ? WHERE id = ?",
                             (time.time(), batch_id))

    # -- owners ------------------------------------------------------------------------

    def own(self, object_id: str, kind: str, owner: str) -> None:
        """Record ``owner`` for a ``file`` or ``batch`` id, unless it already has one."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO owners VALUES (?, ?, ?, ?)",
                             (object_id, kind, owner, time.time()))

    def owner(self, object_id: str, kind: str) -> str | None:
        """Who owns the id, or None for one the gateway never handed to a client
        (including the batches it submitted itself for deferred requests)."""
        with self._lock:
            row = self._db.execute("SELECT owner FROM owners WHERE kind = ? AND id = ?",
                                   (kind, object_id)).fetchone()
            if row is not None or kind != "batch":
                return None if row is None else str(row[0])
            # a passthrough batch tracked before owners were recorded: its creator's key
            legacy = self._db.execute("SELECT attribution FROM batches WHERE id = ? AND "
                                      "deferred = 0", (object_id,)).fetchone()
        if legacy is None:
            return None
        return str(json.loads(legacy[0]).get("key_id") or ANONYMOUS)

    def owned(self, object_ids: list[str], kind: str, owner: str) -> set[str]:
        """The ids among ``object_ids`` that ``owner`` owns."""
        return {i for i in dict.fromkeys(object_ids) if self.owner(i, kind) == owner}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
