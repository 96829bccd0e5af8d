"""Where cached answers live: in-process (``memory``), a local file (``sqlite``) or
shared by every replica (``redis``). All store opaque payload bytes under an entry id
(``keys.CacheKey.id``) with an absolute expiry and the request's cache tags, and clear
by scope, model and/or tag."""

from __future__ import annotations

from typing import Protocol

from ..settings import CacheSettings


class CacheBackend(Protocol):
    name: str

    async def get(self, entry_id: str) -> bytes | None:
        """The payload, or None when absent or expired."""
        ...

    async def put(self, entry_id: str, payload: bytes, *, scope: str, model: str,
                  expires_at: float, tags: tuple[str, ...] = ()) -> None: ...

    async def delete(self, entry_id: str) -> None: ...

    async def clear(self, *, scope: str | None = None, model: str | None = None,
                    tag: str | None = None) -> int:
        """Delete the entries of ``scope``, ``model`` and ``tag`` (each None = any; all
        entries when all three are None); return how many."""
        ...

    async def count(self) -> int: ...

    async def aclose(self) -> None: ...


def open_backend(settings: CacheSettings) -> CacheBackend:
    if settings.backend == "redis":
        from .redis import RedisBackend

        assert settings.redis_url is not None  # checked when the settings were parsed
        return RedisBackend(settings.redis_url, settings.redis_prefix)
    if settings.backend == "sqlite":
        from .sqlite import SqliteBackend

        return SqliteBackend(settings.sqlite_path, settings.capacity)
    from .memory import MemoryBackend

    return MemoryBackend(settings.capacity)


__all__ = ["CacheBackend", "open_backend"]
