"""Who is calling: the master key, a virtual key, or nobody in particular.

* The master key (``TOKENTHRIFT_MASTER_KEY`` / ``master_key``) is accepted as a client key
  too, attributed as key id ``master``; compared with ``hmac.compare_digest``.
* A key shaped like a virtual key (``tt-`` + 43 base64url characters) is looked up by
  its SHA-256 and must exist, not be revoked and not be expired, else 401. This holds
  even when auth is optional: a revoked key never quietly becomes an anonymous one.
* Any other key (e.g. a provider-style ``sk-…`` from an SDK default) and no key at all
  are anonymous, unless auth is required, then 401.

Resolved keys (and unknown ones) are cached in-process for ``key_cache_ttl_s`` (default
5 s): a revocation takes effect at once on the replica that revoked and within that
time on the others (at once with Redis: a change of the shared version ``invalidate``s
the cache). Concurrent look-ups of the same uncached key share one query.

When the database is unreachable, a key seen before is still served from the cache,
however old the entry (a key cannot be revoked while the database is down, so it is
as valid as when it was read); a key never seen gets 503 ``governance_store_unavailable``
rather than a 401 it may not deserve.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import GatewayError
from .keys import VirtualKey, hash_key, looks_virtual
from .store import GovernanceStore, StoreUnavailable

MASTER_KEY_ID = "master"
_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    key: VirtualKey | None = None
    master: bool = False

    @property
    def key_id(self) -> str | None:
        return MASTER_KEY_ID if self.master else self.key.id if self.key else None


ANONYMOUS = Identity()
MASTER = Identity(master=True)


class Authenticator:
    def __init__(self, store: GovernanceStore, master_key: str | None, cache_ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._master = master_key.encode() if master_key else None
        self._ttl = cache_ttl_s
        self._clock = clock
        # digest → (key or None if unknown, when read, cache epoch when read)
        self._cache: dict[str, tuple[VirtualKey | None, float, int]] = {}
        self._epoch = 0
        self._pending: dict[str, asyncio.Future[VirtualKey | None]] = {}

    async def identify(self, presented: str | None, required: bool) -> Identity:
        if presented is None:
            if required:
                raise GatewayError("authentication", "missing API key: send a virtual key as "
                                   "'Authorization: Bearer tt-…' or 'x-api-key'",
                                   code="missing_api_key")
            return ANONYMOUS
        if self._master is not None and hmac.compare_digest(presented.encode(), self._master):
            return MASTER
        if looks_virtual(presented):
            return Identity(key=self._usable(await self._resolve(presented)))
        if required:
            raise GatewayError("authentication", "invalid API key: this gateway requires a "
                               "virtual key (tt-…)", code="invalid_api_key")
        return ANONYMOUS

    def _usable(self, key: VirtualKey | None) -> VirtualKey:
        if key is None:
            raise GatewayError("authentication", "invalid API key", code="invalid_api_key")
        if key.revoked:
            raise GatewayError("authentication", f"API key {key.prefix}… has been revoked",
                               code="revoked_api_key")
        if key.expired(self._clock()):
            raise GatewayError("authentication", f"API key {key.prefix}… has expired",
                               code="expired_api_key")
        return key

    async def _resolve(self, presented: str) -> VirtualKey | None:
        digest = hash_key(presented)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._ttl and cached[2] == self._epoch:
            return cached[0]
        pending = self._pending.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[VirtualKey | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            try:
                key = await asyncio.to_thread(self._lookup, digest)
            except StoreUnavailable:
                if cached is None:
                    raise
                # Served as last read, and kept as it was (expired): looked up again on
                # the next use, which succeeds once the store is back.
                future.set_result(cached[0])
                return cached[0]
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it
            raise
        finally:
            del self._pending[digest]
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()  # unknown keys come from clients: never grow without bound
        self._cache[digest] = (key, now, self._epoch)
        future.set_result(key)
        return key

    def _lookup(self, digest: str) -> VirtualKey | None:
        found = self._store.key_by_hash(digest)
        if found is None:
            return None
        key, stored = found
        return key if hmac.compare_digest(stored, digest) else None

    def invalidate(self) -> None:
        """Keys changed somewhere (the shared version moved): look every key up again on
        its next use, still falling back to the cached entry if the store is down."""
        self._epoch += 1

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (it was revoked here): effective immediately."""
        for digest, (key, _, _) in list(self._cache.items()):
            if key is not None and key.id == key_id:
                del self._cache[digest]
