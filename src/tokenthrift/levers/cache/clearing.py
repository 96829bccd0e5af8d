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

    return asyncio.run(run())


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
