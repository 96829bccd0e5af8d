"""The embedded matcher: embedder + per-partition vector index + the live decision.

Embedding (the slow, CPU-bound part) runs outside the lock, so concurrent lookups embed
in parallel (onnxruntime releases the GIL); the index and the entry table are guarded by
one lock, held for a search (~1 ms at most) and never while a guard or embedder runs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from . import store
from .decision import Decision
from .embedders import Embedder
from .entries import EntryTable
from .index import FLAT_MAX, VectorIndex
from .protocol import SemanticLookup, SemanticMatch

CANDIDATES = 8  # nearest entries the decision is tried on, best first
_EMBEDDING_CACHE = 1024  # recent query embeddings, so lookup-then-add embeds once
_SWEEP_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class _Candidate:
    slot: int
    entry_id: str
    text: str
    similarity: float


class LocalMatcher:
    def __init__(
        self,
        embedder: Embedder,
        decision: Decision,
        *,
        data_dir: str | None,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
        flat_max: int = FLAT_MAX,
    ):
        self.embedder = embedder
        self.embedder_name = embedder.name
        self.decision = decision
        self.max_entries = max_entries
        self._clock = clock
        self._flat_max = flat_max
        self._dir = Path(data_dir) / "semantic" if data_dir else None
        self._lock = threading.RLock()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._table = EntryTable()
        self._index: VectorIndex | None = None
        self._next_sweep = 0.0
        self._dirty = False  # changed since the last save (close() after save() is free)
        self._load()

    # -- the contract -------------------------------------------------------------------

    def lookup(self, partition: str, text: str) -> SemanticMatch | None:
        return self.search(partition, text).match

    def search(self, partition: str, text: str) -> SemanticLookup:
        if not self._has(partition):
            return SemanticLookup(None)  # nothing to compare with: skip the embedding
        vector, cost = self._embed(text)
        candidates = self._nearest(partition, vector)
        rejected_by: str | None = None
        for candidate in candidates:
            reason = self.decision.verdict(text, candidate.text, candidate.similarity)
            if reason is None:
                self._touch(candidate)
                match = SemanticMatch(candidate.entry_id, candidate.similarity, candidate.text, cost)
                return SemanticLookup(match, cost, None, candidate.similarity)
            rejected_by = rejected_by or reason
            if reason == "threshold":
                break  # candidates come best first: the rest are below too
        best = candidates[0].similarity if candidates else None
        return SemanticLookup(None, cost, rejected_by, best)

    def prepare(self, text: str) -> Decimal | None:
        return self._embed(text)[1]

    def embedding(self, text: str) -> np.ndarray:
        """The vector ``add`` stores for ``text`` (a recent lookup's, when there is one)."""
        return self._embed(text)[0]

    def add(self, partition: str, text: str, entry_id: str, expires_at: float | None) -> None:
        vector, _ = self._embed(text)
        self.add_embedded(partition, text, entry_id, expires_at, vector)

    def add_embedded(self, partition: str, text: str, entry_id: str, expires_at: float | None,
                     vector: np.ndarray) -> None:
        """``add`` with a vector the caller already has (bulk loads, benchmarks); it must
        come from this matcher's embedder."""
        with self._lock:
            now = self._clock()
            if entry_id in self._table.slot_of:
                self._drop(self._table.slot_of[entry_id])
            slot = self._table.put(entry_id, partition, text, expires_at, now)
            self._vectors(len(vector)).add(partition, slot, vector)
            self._dirty = True
            self._maintain(now)

    def add_embedded_many(self, partition: str, texts: Sequence[str], entry_ids: Sequence[str],
                          vectors: np.ndarray, expires_at: float | None = None) -> None:
        """Bulk ``add_embedded`` into one partition: warm-ups, benchmarks."""
        with self._lock:
            now = self._clock()
            for entry_id in entry_ids:
                if entry_id in self._table.slot_of:
                    self._drop(self._table.slot_of[entry_id])
            slots = np.array([
                self._table.put(entry_id, partition, text, expires_at, now)
                for text, entry_id in zip(texts, entry_ids, strict=True)
            ], dtype=np.int64)
            self._vectors(vectors.shape[1]).add_many(partition, slots, vectors)
            self._dirty = True
            self._maintain(now)

    def remove(self, entry_id: str) -> None:
        with self._lock:
            slot = self._table.slot_of.get(entry_id)
            if slot is not None:
                self._drop(slot)

    def clear(self, partition_prefix: str = "") -> int:
        with self._lock:
            doomed = [
                slot for slot in self._table.live_slots().tolist()
                if (self._table.partitions[slot] or "").startswith(partition_prefix)
            ]
            for slot in doomed:
                self._drop(slot)
            return len(doomed)

    def save(self) -> None:
        if self._dir is None:
            return
        with self._lock:
            self._sweep(self._clock())
            if self._dirty or not self._dir.exists():
                store.save(self._dir, self.embedder_name, self._table, self._index)
                self._dirty = False

    def close(self) -> None:
        self.save()

    # -- introspection ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._table)

    @property
    def partition_count(self) -> int:
        return 0 if self._index is None else len(self._index.partitions)

    # -- internals ----------------------------------------------------------------------

    def _has(self, partition: str) -> bool:
        with self._lock:
            return self._index is not None and partition in self._index.partitions

    def _embed(self, text: str) -> tuple[np.ndarray, Decimal | None]:
        with self._lock:
            cached = self._recent.get(text)
            if cached is not None:
                self._recent.move_to_end(text)
                return cached, Decimal(0)
        result = self.embedder.embed([text])
        vector = result.vectors[0]
        with self._lock:
            self._recent[text] = vector
            if len(self._recent) > _EMBEDDING_CACHE:
                self._recent.popitem(last=False)
        return vector, result.cost_usd

    def _nearest(self, partition: str, vector: np.ndarray) -> list[_Candidate]:
        with self._lock:
            if self._index is None:
                return []
            now = self._clock()
            found: list[_Candidate] = []
            for slot, sim in self._index.search(partition, vector, CANDIDATES):
                if self._table.expires[slot] <= now:
                    self._drop(slot)  # expired entries are never served, and go now
                    continue
                entry_id, text = self._table.ids[slot], self._table.texts[slot]
                assert entry_id is not None and text is not None
                found.append(_Candidate(slot, entry_id, text, sim))
            return found

    def _touch(self, candidate: _Candidate) -> None:
        with self._lock:
            if self._table.ids[candidate.slot] == candidate.entry_id:
                self._table.last_used[candidate.slot] = self._clock()

    def _vectors(self, dim: int) -> VectorIndex:
        if self._index is None:
            self._index = VectorIndex(dim, self._flat_max)
        return self._index

    def _drop(self, slot: int) -> None:
        self._dirty = True
        partition = self._table.drop(slot)
        if self._index is not None:
            self._index.remove(partition, slot)
            if partition not in self._index.partitions:
                self._table.forget_partition(partition)

    def _maintain(self, now: float) -> None:
        if now >= self._next_sweep or len(self._table) > self.max_entries:
            self._sweep(now)
        excess = len(self._table) - self.max_entries
        if excess > 0:
            # Evict a batch (1% of capacity) so a full cache does not rescan on every add.
            batch = max(excess, self.max_entries // 100)
            for slot in self._table.least_recently_used(batch).tolist():
                self._drop(slot)

    def _sweep(self, now: float) -> None:
        for slot in self._table.expired(now).tolist():
            self._drop(slot)
        self._next_sweep = now + _SWEEP_EVERY_S

    def _load(self) -> None:
        if self._dir is None:
            return
        snapshot = store.load(self._dir, self.embedder_name)
        if snapshot is not None:
            self._table, self._index = snapshot.table, snapshot.index
            if self._index is not None:
                self._index.flat_max = self._flat_max
            self._sweep(self._clock())  # what expired while the gateway was down goes now
