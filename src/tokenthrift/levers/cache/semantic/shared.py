"""A semantic index shared by every gateway replica, through a Redis stream.

Each replica keeps its own in-process index (``LocalMatcher``: lookups stay in-process,
no network hop on the hot path) and keeps it in step with the others through one Redis
stream, ``<cache.redis_prefix>:semantic:log``:

* **add** — the replica that stores an answer embeds its query (it has to, for its own
  index) and appends ``(partition, text, entry id, expiry, float16 vector)`` to the
  stream. The others apply it without embedding again.
* **clear** — a clear by partition prefix (scope, model) is appended too, so every
  replica drops the same entries. (Clears by tag or model alone drop payloads only; the
  index entries that point at them are dropped on their next match, as on one replica.)

A follower thread per replica reads the stream with a blocking ``XREAD`` (woken by each
append, so an entry reaches the other replicas within milliseconds) and applies what
other replicas wrote. A replica that starts replays the stream first, before it serves,
so it starts with the current entries; expired ones are skipped. The stream is trimmed
(approximately) to ``LOG_FACTOR`` times the index's ``max_entries`` records: that keeps
the newest entries, which is what the index itself keeps under LRU.

Redis down never fails a request: publishing is logged and skipped (the entry is in this
replica's index only), and the follower retries every second from where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import redis

from .matcher import LocalMatcher
from .protocol import SemanticLookup, SemanticMatch

log = logging.getLogger("tokenthrift.cache")
LOG_FACTOR = 2
_BLOCK_MS = 500
_RETRY_S = 1.0
_BATCH = 500


def log_key(redis_prefix: str) -> str:
    return f"{redis_prefix}:semantic:log"


def publish_clear(client: redis.Redis, redis_prefix: str, partition_prefix: str,
                  origin: str = "cli") -> None:
    """Tell every replica to drop the index entries under ``partition_prefix``."""
    client.xadd(log_key(redis_prefix), {"op": "clear", "origin": origin,
                                        "prefix": partition_prefix})


class SharedIndex:
    """A ``LocalMatcher`` kept in step with the other replicas' through Redis."""

    def __init__(self, local: LocalMatcher, redis_url: str, redis_prefix: str, *,
                 follow: bool = True) -> None:
        self.local = local
        self.embedder_name = local.embedder_name
        self.key = log_key(redis_prefix)
        self.origin = uuid.uuid4().hex
        self.applied = 0  # records from other replicas applied (for tests and stats)
        self._maxlen = max(1000, LOG_FACTOR * local.max_entries)
        # Blocking reads wait _BLOCK_MS: the socket timeout must be longer than that.
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=1,
                                            socket_timeout=5)
        self._last_id = "0-0"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._catch_up()
        except redis.RedisError as error:
            log.warning("semantic index: cannot read %s (%s); starting from this replica's "
                        "own entries and following when Redis is back", self.key, error)
        if follow:
            self._thread = threading.Thread(target=self._follow, daemon=True,
                                            name="tokenthrift-semantic-follow")
            self._thread.start()

    # -- the matcher contract (delegated) --------------------------------------------------

    def lookup(self, partition: str, text: str) -> SemanticMatch | None:
        return self.local.lookup(partition, text)

    def search(self, partition: str, text: str) -> SemanticLookup:
        return self.local.search(partition, text)

    def prepare(self, text: str) -> Decimal | None:
        return self.local.prepare(text)

    def remove(self, entry_id: str) -> None:
        self.local.remove(entry_id)

    def save(self) -> None:
        self.local.save()

    def add(self, partition: str, text: str, entry_id: str, expires_at: float | None) -> None:
        vector = self.local.embedding(text)
        self.local.add_embedded(partition, text, entry_id, expires_at, vector)
        record = {"op": "add", "origin": self.origin, "embedder": self.embedder_name,
                  "partition": partition, "text": text, "id": entry_id,
                  "expires": "" if expires_at is None else repr(float(expires_at)),
                  "vector": np.asarray(vector, np.float16).tobytes()}
        self._publish(record)

    def clear(self, partition_prefix: str = "") -> int:
        removed = self.local.clear(partition_prefix)
        self._publish({"op": "clear", "origin": self.origin, "prefix": partition_prefix})
        return removed

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_BLOCK_MS / 1000 + 6)
        try:
            self.local.close()
        finally:
            self._client.close()

    def __len__(self) -> int:
        return len(self.local)

    # -- the stream ------------------------------------------------------------------------

    def _publish(self, record: Mapping[str, Any]) -> None:
        try:
            fields: dict[Any, Any] = dict(record)
            self._client.xadd(self.key, fields, maxlen=self._maxlen, approximate=True)
        except redis.RedisError as error:
            log.warning("semantic index: could not publish to %s (%s); the entry is on this "
                        "replica only", self.key, error)

    def _catch_up(self) -> None:
        """Replay the whole stream (a replica that starts): every replica's entries."""
        start = "-"
        while True:
            records: Any = self._client.xrange(self.key, min=start, max="+", count=_BATCH)
            if not records:
                return
            for record_id, fields in records:
                self._apply(record_id, fields, replay=True)
            start = "(" + _text(records[-1][0])

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                found: Any = self._client.xread({self.key: self._last_id}, count=_BATCH,
                                                block=_BLOCK_MS)
            except redis.RedisError as error:
                log.warning("semantic index: following %s failed (%s); retrying", self.key,
                            error)
                self._stop.wait(_RETRY_S)
                continue
            for _stream, records in found or ():
                for record_id, fields in records:
                    self._apply(record_id, fields, replay=False)

    def _apply(self, record_id: Any, raw: Mapping[Any, Any], *, replay: bool) -> None:
        self._last_id = _text(record_id)
        fields = {_text(k): v for k, v in raw.items()}
        if not replay and _text(fields.get("origin", b"")) == self.origin:
            return  # this replica's own record, already applied
        try:
            op = _text(fields["op"])
            if op == "clear":
                self.local.clear(_text(fields["prefix"]))
            elif op == "add" and _text(fields["embedder"]) == self.embedder_name:
                expires = _text(fields["expires"])
                expires_at = float(expires) if expires else None
                if expires_at is not None and expires_at <= time.time():
                    return
                vector = np.frombuffer(fields["vector"], np.float16).astype(np.float32)
                self.local.add_embedded(_text(fields["partition"]), _text(fields["text"]),
                                        _text(fields["id"]), expires_at, vector)
            else:
                return
            self.applied += 1
        except (KeyError, ValueError) as error:  # a record this version cannot read
            log.warning("semantic index: skipping record %s of %s (%s)", self._last_id,
                        self.key, error)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["SharedIndex", "log_key", "publish_clear"]
