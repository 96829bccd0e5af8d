"""The shared version of keys and budgets: how a replica knows its copy is out of date.

Every replica keeps the budgets (and resolved keys) in memory and re-reads them every
``refresh_s``. That alone lets a key created with a budget on replica A be spent freely
on replica B until B's next refresh. So every change made through the store (admin API
or CLI, on any replica) is followed by an ``INCR`` of one Redis counter; each request on
each replica compares the version its copy was read at with that counter (inside the
admit script, or with one ``GET`` when no budget or limit applies) and re-reads the
database first when it moved. The change is written to the database before the bump,
so whoever sees the new version reads the new rows.

Without Redis (``backend: memory``) nothing is shared and other replicas learn of
changes at their next refresh, as documented.
"""

from __future__ import annotations

import logging

import redis

from .counters import VERSION_KEY

log = logging.getLogger("tokenthrift.governance")


class SharedVersion:
    """Bumps the version after a change (blocking; the store runs in a worker thread)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._key = prefix + VERSION_KEY

    def bump(self) -> None:
        try:
            self._client.incr(self._key)
        except redis.RedisError as exc:
            # The change is in the database: other replicas still see it at their next
            # refresh (refresh_s); failing the admin call would not undo it.
            log.warning("could not announce a key or budget change to other replicas "
                        "(Redis: %s); they apply it within governance.refresh_s", exc)

    def close(self) -> None:
        self._client.close()
