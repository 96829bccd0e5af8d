"""Stored Responses API responses: what ``previous_response_id`` continues from and what
``GET``/``DELETE /v1/responses/{id}`` read, in the ledger's database.

A response is kept per *tenant* (the id of the client key that created it, "" for
requests without one), so one key can never read or continue another's conversation,
and for ``ttl_s`` (30 days by default, as OpenAI keeps stored responses). It lives in
the ledger's database (table ``stored_responses``, migration m004) so every replica
sharing a PostgreSQL ledger sees the same responses. Expired rows are never returned
and are deleted in passing by later writes.

Every method is blocking; the endpoints call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import GatewayConfig
from ..ledger.dialect import Database
from ..ledger.location import open_database

DEFAULT_TTL_S = 30 * 86_400
# Expired rows are deleted by one write in this many, so the table stays bounded
# without a sweeper thread.
_PURGE_EVERY = 64


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    body: dict[str, Any]
    items: list[dict[str, Any]]
    created_at: float
    expires_at: float


class ResponseStore:
    def __init__(self, db: Database, *, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.ttl_s = ttl_s
        self._clock = clock
        self._writes = 0
        self._lock = threading.Lock()
        self._p = db.dialect.param

    @classmethod
    def for_config(cls, config: GatewayConfig, **options: Any) -> ResponseStore:
        storage = config.storage
        return cls(open_database(storage.ledger, storage.ledger_schema), **options)

    def put(self, tenant: str, response_id: str, body: dict[str, Any],
            items: list[dict[str, Any]]) -> None:
        now = self._clock()
        p = self._p
        row = (tenant, response_id, now, now + self.ttl_s, orjson.dumps(body).decode(),
               orjson.dumps(items).decode())
        with self._db.transaction():
            self._db.execute(f"DELETE FROM stored_responses WHERE tenant = {p} AND id = {p}",
                             (tenant, response_id))
            self._db.execute("INSERT INTO stored_responses (tenant, id, created_at, expires_at, "
                             f"body, items) VALUES ({self._db.dialect.params(6)})", row)
        with self._lock:
            self._writes += 1
            purge = self._writes % _PURGE_EVERY == 0
        if purge:
            self.purge_expired()

    def get(self, tenant: str, response_id: str) -> StoredResponse | None:
        p = self._p
        rows = self._db.execute(
            f"SELECT id, body, items, created_at, expires_at FROM stored_responses "
            f"WHERE tenant = {p} AND id = {p} AND expires_at > {p}",
            (tenant, response_id, self._clock()))
        if not rows:
            return None
        rid, body, items, created, expires = rows[0]
        return StoredResponse(rid, orjson.loads(body), orjson.loads(items), created, expires)

    def delete(self, tenant: str, response_id: str) -> bool:
        """Delete a live response; False when there is none for this tenant."""
        if self.get(tenant, response_id) is None:
            return False
        p = self._p
        self._db.execute(f"DELETE FROM stored_responses WHERE tenant = {p} AND id = {p}",
                         (tenant, response_id))
        return True

    def purge_expired(self) -> None:
        self._db.execute(f"DELETE FROM stored_responses WHERE expires_at <= {self._p}",
                         (self._clock(),))

    def close(self) -> None:
        self._db.close()
