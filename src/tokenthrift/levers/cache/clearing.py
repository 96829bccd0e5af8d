"""Clearing the cache from outside a running gateway (``tokenthrift cache clear``).

The ``sqlite`` and ``redis`` backends are opened directly. The ``memory`` backend lives
inside the gateway process, so it is cleared through that gateway's admin API
(``DELETE /admin/cache``), as is a gateway that keeps a semantic index in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from ...config import GatewayConfig
from .backends import open_backend
from .settings import CacheSettings


class ClearError(RuntimeError):
    """The cache could not be cleared; the message says what to do instead."""


def clear_backend(config: GatewayConfig, *, scope: str | None, model: str | None,
                  tag: str | None = None) -> int:
    settings = CacheSettings.from_config(config)
    if settings.backend == "memory":
        raise ClearError("the memory backend lives inside the running gateway: use "
                         "--gateway URL (DELETE /admin/cache) to clear it")

    async def run() -> int:
        backend = open_backend(settings)
        try:
            return await backend.clear(scope=scope, model=model, tag=tag)
        finally:
            await backend.aclose()

    removed = asyncio.run(run())
    if settings.backend == "redis" and settings.redis_url and tag is None and (
            scope is not None or model is None):
        _clear_shared_index(settings.redis_url, settings.redis_prefix, scope, model)
    return removed


def _clear_shared_index(url: str, prefix: str, scope: str | None, model: str | None) -> None:
    """Running replicas drop the index entries of what was cleared (as the admin API
    does); a model-only or tag clear leaves them to be dropped on their next match."""
    import redis

    from .keys import partition_prefix
    from .semantic.shared import publish_clear

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        publish_clear(client, prefix, "" if scope is None else partition_prefix(scope, model))
    except redis.RedisError as error:
        raise ClearError(f"answers cleared, but the semantic index was not told: {error}"
                         ) from None
    finally:
        client.close()


def clear_through_gateway(url: str, *, scope: str | None, model: str | None,
                          tag: str | None = None, master_key: str | None = None) -> int:
    key = master_key or os.environ.get("TOKENTHRIFT_MASTER_KEY")
    if not key:
        raise ClearError("the admin API needs the master key: set TOKENTHRIFT_MASTER_KEY")
    query = urllib.parse.urlencode(
        {k: v for k, v in (("scope", scope), ("model", model), ("tag", tag)) if v})
    request = urllib.request.Request(f"{url.rstrip('/')}/admin/cache?{query}", method="DELETE",
                                     headers={"authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(json.loads(response.read())["removed"])
    except urllib.error.HTTPError as error:
        raise ClearError(f"{url} answered {error.code}: {error.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ClearError(f"cannot reach {url}: {error}") from None
