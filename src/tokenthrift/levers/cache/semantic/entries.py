"""What the matcher knows about each stored entry, in columns indexed by *slot*.

Columns (numpy for numbers, lists for strings) instead of one object per entry keep the
bookkeeping near 200 bytes an entry at 1M entries and let expiry and eviction scan with
numpy instead of a Python loop.
"""

from __future__ import annotations

import sys

import numpy as np

NEVER = np.inf


class EntryTable:
    def __init__(self, capacity: int = 1024):
        self.expires = np.full(capacity, NEVER)
        self.last_used = np.zeros(capacity)
        self.alive = np.zeros(capacity, bool)
        self.ids: list[str | None] = [None] * capacity
        self.texts: list[str | None] = [None] * capacity
        self.partitions: list[str | None] = [None] * capacity
        self.slot_of: dict[str, int] = {}
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self._interned: dict[str, str] = {}  # one copy of each partition string

    def __len__(self) -> int:
        return len(self.slot_of)

    def put(self, entry_id: str, partition: str, text: str, expires_at: float | None, now: float) -> int:
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self.alive[slot] = True
        self.expires[slot] = NEVER if expires_at is None else expires_at
        self.last_used[slot] = now
        self.ids[slot], self.texts[slot] = entry_id, text
        self.partitions[slot] = self._interned.setdefault(partition, sys.intern(partition))
        self.slot_of[entry_id] = slot
        return slot

    def drop(self, slot: int) -> str:
        """Forget ``slot``; return its partition (the index entry is the caller's to remove)."""
        partition = self.partitions[slot]
        entry_id = self.ids[slot]
        assert partition is not None and entry_id is not None
        del self.slot_of[entry_id]
        self.alive[slot] = False
        self.ids[slot] = self.texts[slot] = self.partitions[slot] = None
        self._free.append(slot)
        return partition

    def forget_partition(self, partition: str) -> None:
        self._interned.pop(partition, None)

    def expired(self, now: float) -> np.ndarray:
        return np.flatnonzero(self.alive & (self.expires <= now))

    def least_recently_used(self, count: int) -> np.ndarray:
        live = np.flatnonzero(self.alive)
        if count >= len(live):
            return live
        ages = self.last_used[live]
        return live[np.argpartition(ages, count - 1)[:count]]

    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    @classmethod
    def restored(cls, slots: np.ndarray, ids: list[str], texts: list[str], partitions: list[str],
                 expires: np.ndarray, last_used: np.ndarray) -> EntryTable:
        """Saved columns, each entry at its old slot (the graph files are keyed by slot)."""
        table = cls(max(1024, int(slots.max()) + 1 if len(slots) else 0))
        table.alive[slots] = True
        table.expires[slots], table.last_used[slots] = expires, last_used
        for slot, entry_id, text, partition in zip(slots.tolist(), ids, texts, partitions, strict=True):
            table.ids[slot], table.texts[slot] = entry_id, text
            table.partitions[slot] = table._interned.setdefault(partition, sys.intern(partition))
            table.slot_of[entry_id] = slot
        free = np.flatnonzero(~table.alive)[::-1]
        table._free = free.tolist()
        return table

    def _grow(self) -> None:
        old = len(self.ids)
        extra = max(1024, old // 2)
        self.expires = np.concatenate([self.expires, np.full(extra, NEVER)])
        self.last_used = np.concatenate([self.last_used, np.zeros(extra)])
        self.alive = np.concatenate([self.alive, np.zeros(extra, bool)])
        for column in (self.ids, self.texts, self.partitions):
            column.extend([None] * extra)
        self._free.extend(range(old + extra - 1, old - 1, -1))
