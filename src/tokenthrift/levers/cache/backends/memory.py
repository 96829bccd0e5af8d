"""In-process backend: an LRU dict with per-entry expiry. Lost on restart; each replica
has its own (use ``redis`` to share answers across replicas)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple


class _Slot(NamedTuple):
    payload: bytes
    scope: str
    model: str
    expires_at: float
    tags: tuple[str, ...] = ()


class MemoryBackend:
    name = "memory"

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Slot] = OrderedDict()

    async def get(self, entry_id: str) -> bytes | None:
        slot = self._entries.get(entry_id)
        if slot is None:
            return None
        if slot.expires_at <= self._clock():
            del self._entries[entry_id]
            return None
        self._entries.move_to_end(entry_id)
        return slot.payload

    async def put(self, entry_id: str, payload: bytes, *, scope: str, model: str,
                  expires_at: float, tags: tuple[str, ...] = ()) -> None:
        self._entries[entry_id] = _Slot(payload, scope, model, expires_at, tags)
        self._entries.move_to_end(entry_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # least recently used

    async def delete(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)

    async def clear(self, *, scope: str | None = None, model: str | None = None,
                    tag: str | None = None) -> int:
        doomed = [entry_id for entry_id, slot in self._entries.items()
                  if (scope is None or slot.scope == scope)
                  and (model is None or slot.model == model)
                  and (tag is None or tag in slot.tags)]
        for entry_id in doomed:
            del self._entries[entry_id]
        return len(doomed)

    async def count(self) -> int:
        now = self._clock()
        return sum(1 for slot in self._entries.values() if slot.expires_at > now)

    async def aclose(self) -> None:
        self._entries.clear()
