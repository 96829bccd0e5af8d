"""Redis backend: one cache shared by every gateway replica.

Key layout ``<prefix>:<scope tag>:<model tag>:<digest>`` (tags are 12 hex characters of
BLAKE2b, see ``keys.tag``), value = the payload, expiry = Redis ``PX``. Clearing one
scope or model is ``SCAN MATCH <prefix>:<scope tag>:*`` — Redis filters server-side, no
index sets to keep consistent with expiry — followed by ``UNLINK`` in batches.

Cache tags (``x-tokenthrift-cache-tags``) are the one index: a set per tag,
``<prefix>:tag:<32 hex of BLAKE2b(tag)>``, holding the keys of the entries stored with
it, whose expiry is stretched to the longest-lived of them. Clearing a tag unlinks its
members (those of the scope/model asked, if any); members that expired meanwhile are
counted by nobody, since ``UNLINK`` reports only keys that still existed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from ..keys import tag as name_tag

_HEX = "[0-9a-f]"
_ANY_TAG = _HEX * 12
_ANY_DIGEST = _HEX * 32
_UNLINK_BATCH = 500


def _glob_escape(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, prefix: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock  # expires_at is absolute on this clock; Redis keeps a PX
        self.prefix = prefix
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _redis(self) -> aioredis.Redis:
        # Connections belong to the loop that opened them; a gateway built on one thread
        # and served on another (tests, the in-process library) opens its own on first use.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # Short timeouts: a cache that answers late is worse than a miss.
            self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1,
                                                   socket_timeout=1)
            self._loop = loop
        return self._client

    def _key(self, entry_id: str) -> str:
        return f"{self.prefix}:{entry_id}"

    async def get(self, entry_id: str) -> bytes | None:
        value: Any = await self._redis().get(self._key(entry_id))
        return value if value is None else bytes(value)

    async def put(self, entry_id: str, payload: bytes, *, scope: str, model: str,
                  expires_at: float, tags: tuple[str, ...] = ()) -> None:
        ttl_ms = int((expires_at - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        key = self._key(entry_id)
        if not tags:
            await self._redis().set(key, payload, px=ttl_ms)
            return
        pipe = self._redis().pipeline(transaction=False)
        pipe.set(key, payload, px=ttl_ms)
        for label in tags:
            members = self._tag_key(label)
            pipe.sadd(members, key)
            pipe.pexpire(members, ttl_ms, nx=True)  # a new set: this entry's lifetime
            pipe.pexpire(members, ttl_ms, gt=True)  # else only ever longer
        await pipe.execute()

    def _tag_key(self, label: str) -> str:
        return f"{self.prefix}:tag:{hashlib.blake2b(label.encode(), digest_size=16).hexdigest()}"

    async def delete(self, entry_id: str) -> None:
        await self._redis().unlink(self._key(entry_id))

    def pattern(self, scope: str | None, model: str | None) -> str:
        scope_part = name_tag(scope) if scope is not None else _ANY_TAG
        model_part = name_tag(model) if model is not None else _ANY_TAG
        return f"{_glob_escape(self.prefix)}:{scope_part}:{model_part}:{_ANY_DIGEST}"

    async def clear(self, *, scope: str | None = None, model: str | None = None,
                    tag: str | None = None) -> int:
        if tag is not None:
            return await self._clear_tag(tag, scope, model)
        removed = await self._unlink_matching(self.pattern(scope, model))
        if scope is None and model is None:  # everything: the tag sets go too
            await self._unlink_matching(f"{_glob_escape(self.prefix)}:tag:{_ANY_DIGEST}")
        return removed

    async def _clear_tag(self, label: str, scope: str | None, model: str | None) -> int:
        client = self._redis()
        members = self._tag_key(label)
        found: Any = await client.smembers(members)  # type: ignore[misc]
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in found]
        wanted = [k for k in keys if self._in(k, scope, model)]
        removed = 0
        for start in range(0, len(wanted), _UNLINK_BATCH):
            batch = wanted[start:start + _UNLINK_BATCH]
            removed += int(await client.unlink(*batch))
            await client.srem(members, *batch)  # type: ignore[misc]
        return removed

    def _in(self, key: str, scope: str | None, model: str | None) -> bool:
        fields = key[len(self.prefix) + 1:].split(":")
        return (len(fields) == 3
                and (scope is None or fields[0] == name_tag(scope))
                and (model is None or fields[1] == name_tag(model)))

    async def _unlink_matching(self, pattern: str) -> int:
        client = self._redis()
        removed = 0
        batch: list[Any] = []
        async for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                removed += int(await client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await client.unlink(*batch))
        return removed

    async def count(self) -> int:
        client = self._redis()
        return sum([1 async for _ in client.scan_iter(match=self.pattern(None, None), count=1000)])

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            if self._loop is asyncio.get_running_loop():
                await client.aclose()
