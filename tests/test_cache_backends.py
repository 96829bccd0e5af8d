"""The three backends behave alike: payloads by entry id, absolute expiry (on an injected
clock for memory and sqlite, Redis's own PX for redis), clearing by
scope and/or model; memory evicts the least recently used, sqlite survives a restart,
redis keeps one prefix per deployment."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tokenthrift.levers.cache.backends import CacheBackend
from tokenthrift.levers.cache.backends.memory import MemoryBackend
from tokenthrift.levers.cache.backends.redis import RedisBackend
from tokenthrift.levers.cache.backends.sqlite import SqliteBackend
from tokenthrift.levers.cache.keys import tag


def entry_id(scope: str, model: str) -> str:
    return f"{tag(scope)}:{tag(model)}:{uuid.uuid4().hex}"


class Clock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _open(kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
          ) -> CacheBackend:
    opened: CacheBackend
    if kind == "memory":
        opened = MemoryBackend(100, clock=clock)
    elif kind == "sqlite":
        opened = SqliteBackend(str(tmp_path / "cache.db"), 100, clock=clock)
    else:
        url = request.getfixturevalue("redis_url")
        opened = RedisBackend(url, f"tt-test:{uuid.uuid4().hex[:8]}", clock=clock)
    return opened


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
                  ) -> AsyncIterator[CacheBackend]:
    opened = _open(request.param, request, tmp_path, clock)
    yield opened
    await opened.clear()
    await opened.aclose()


# Redis expires keys on its own clock (PX): see test_redis_keys_carry_the_prefix_and_an_expiry.
@pytest.fixture(params=["memory", "sqlite"])
async def local_backend(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
                        ) -> AsyncIterator[CacheBackend]:
    opened = _open(request.param, request, tmp_path, clock)
    yield opened
    await opened.clear()
    await opened.aclose()


async def put(backend: CacheBackend, scope: str, model: str, payload: bytes,
              ttl: float = 60.0, now: float | None = None) -> str:
    key = entry_id(scope, model)
    expires_at = (time.time() if now is None else now) + ttl
    await backend.put(key, payload, scope=scope, model=model, expires_at=expires_at)
    return key


async def test_put_get_delete(backend: CacheBackend) -> None:
    key = await put(backend, "key:a", "gpt-4o", b"answer")
    assert await backend.get(key) == b"answer"
    assert await backend.get(entry_id("key:a", "gpt-4o")) is None
    await backend.delete(key)
    assert await backend.get(key) is None


async def test_expired_entries_are_gone(local_backend: CacheBackend, clock: Clock) -> None:
    backend = local_backend
    key = await put(backend, "key:a", "gpt-4o", b"old", ttl=10, now=clock.now)
    live = await put(backend, "key:a", "gpt-4o", b"new", ttl=60, now=clock.now)
    clock.now += 9.9
    assert await backend.get(key) == b"old"  # still live just before its expiry
    assert await backend.count() == 2
    clock.now += 0.2
    assert await backend.get(key) is None
    assert await backend.get(live) == b"new"
    assert await backend.count() == 1


async def test_an_entry_already_past_its_expiry_is_never_served(backend: CacheBackend,
                                                                clock: Clock) -> None:
    live = await put(backend, "key:a", "gpt-4o", b"live", ttl=60, now=clock.now)
    stale = await put(backend, "key:a", "gpt-4o", b"stale", ttl=-1, now=clock.now)
    assert await backend.get(live) == b"live"
    assert await backend.get(stale) is None


async def test_clear_by_scope_model_or_everything(backend: CacheBackend) -> None:
    a4 = await put(backend, "team:a|x", "gpt-4o", b"1")
    a_mini = await put(backend, "team:a|x", "gpt-4o-mini", b"2")
    b4 = await put(backend, "team:b", "gpt-4o", b"3")
    b_mini = await put(backend, "team:b", "gpt-4o-mini", b"4")
    assert await backend.clear(scope="team:a|x", model="gpt-4o") == 1
    assert await backend.get(a4) is None and await backend.get(a_mini) == b"2"
    assert await backend.clear(model="gpt-4o-mini") == 2
    assert await backend.get(b_mini) is None and await backend.get(b4) == b"3"
    assert await backend.clear(scope="team:b") == 1
    await put(backend, "global", "m", b"5")
    assert await backend.clear() == 1 and await backend.count() == 0


async def test_memory_evicts_the_least_recently_used() -> None:
    backend = MemoryBackend(2)
    first = await put(backend, "s", "m", b"1")
    second = await put(backend, "s", "m", b"2")
    assert await backend.get(second) == b"2"
    assert await backend.get(first) == b"1"  # now the most recently used
    await put(backend, "s", "m", b"3")
    assert await backend.get(second) is None and await backend.get(first) == b"1"


async def test_sqlite_survives_a_restart_and_keeps_max_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "cache.db")
    backend = SqliteBackend(path, max_entries=3)
    keys = [await put(backend, "s", "m", str(i).encode()) for i in range(5)]
    assert await backend.get(keys[0]) == b"0"  # over max_entries only until pruned
    await backend.aclose()  # prunes to max_entries
    reopened = SqliteBackend(path, max_entries=3)
    try:
        assert await reopened.count() == 3
        assert await reopened.get(keys[0]) is None and await reopened.get(keys[4]) == b"4"
    finally:
        await reopened.aclose()


async def test_redis_keys_carry_the_prefix_and_an_expiry(redis_url: str) -> None:
    import redis.asyncio as aioredis

    prefix = f"tt-test:{uuid.uuid4().hex[:8]}"
    backend = RedisBackend(redis_url, prefix)
    # Another deployment on the same Redis, its prefix nested in ours.
    other = RedisBackend(redis_url, prefix + ":staging")
    client = aioredis.Redis.from_url(redis_url)
    try:
        key = await put(backend, "key:a", "gpt-4o", b"v", ttl=30)
        theirs = await put(other, "key:a", "gpt-4o", b"w", ttl=30)
        assert 0 < await client.pttl(f"{prefix}:{key}") <= 30_000
        assert await backend.clear() == 1
        assert await other.get(theirs) == b"w"
    finally:
        await other.clear()
        await other.aclose()
        await backend.aclose()
        await client.aclose()
