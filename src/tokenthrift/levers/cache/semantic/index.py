"""The vector index: exact per-partition isolation, no Python loop over entries.

Each partition has its own structure, so a search can only ever see its own partition's
vectors (the tenant boundary is a dict key, not a distance):

* ``FlatPartition`` — the common case (many partitions with a few entries each): a
  float16 matrix scanned with one numpy matrix-vector product. A usearch index costs
  ~50 KB even when empty, far too much for a partition of three entries.
* ``GraphPartition`` — once a partition holds more than ``flat_max`` entries it moves to
  its own usearch HNSW graph (float16 vectors, inner product), so a lookup in a partition
  of 1M entries stays at a few hundred distance computations.

Vectors are unit length and stored as float16 (768 bytes at 384 dimensions), and every
similarity is the float32 dot product of float16 vectors — the same arithmetic
``decision.similarity`` uses for the eval commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FLAT_MAX = 4096  # above this a scan (~0.5 ms) loses to the graph's ~0.1 ms
_CONNECTIVITY = 16  # HNSW M: ~128 bytes of graph per vector on the base layer
_EXPANSION_ADD = 128
_EXPANSION_SEARCH = 96


class FlatPartition:
    def __init__(self, dim: int):
        self.vectors = np.empty((4, dim), np.float16)
        self.slots = np.empty(4, np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, slot: int, vector: np.ndarray) -> None:
        if self.size == len(self.slots):
            grow = max(4, self.size // 2)  # 1.5x: capacity slack stays ≤ a third
            self.vectors = np.concatenate([self.vectors, np.empty((grow, self.vectors.shape[1]), np.float16)])
            self.slots = np.concatenate([self.slots, np.empty(grow, np.int64)])
        self.vectors[self.size] = vector
        self.slots[self.size] = slot
        self.size += 1

    def remove(self, slot: int) -> None:
        where = np.flatnonzero(self.slots[: self.size] == slot)
        if not len(where):
            return
        last = self.size - 1
        i = int(where[0])
        self.vectors[i], self.slots[i] = self.vectors[last], self.slots[last]
        self.size = last

    def search(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        if not self.size:
            return []
        sims = self.vectors[: self.size].astype(np.float32) @ query
        if self.size > count:
            top = np.argpartition(-sims, count - 1)[:count]
        else:
            top = np.arange(self.size)
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(int(self.slots[i]), float(sims[i])) for i in top]

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        return self.slots[: self.size].copy(), self.vectors[: self.size].copy()


class GraphPartition:
    def __init__(self, dim: int, slots: np.ndarray | None = None, vectors: np.ndarray | None = None):
        from usearch.index import Index

        self.index = Index(
            ndim=dim, metric="ip", dtype="f16", connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD, expansion_search=_EXPANSION_SEARCH,
        )
        if slots is not None and vectors is not None and len(slots):
            self.index.add(slots.astype(np.uint64), vectors.astype(np.float32), threads=2)

    def __len__(self) -> int:
        return int(self.index.size)

    def add(self, slot: int, vector: np.ndarray) -> None:
        self.index.add(slot, vector.astype(np.float32), threads=1)

    def remove(self, slot: int) -> None:
        self.index.remove(slot)

    def search(self, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        if not len(self):
            return []
        found = self.index.search(query, count, threads=1)
        # Inner-product distance is 1 - dot, computed in float32 over the float16 vectors.
        return [(int(k), 1.0 - float(d)) for k, d in zip(found.keys, found.distances, strict=True)]

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(self.index.keys, dtype=np.uint64)
        if not len(keys):
            return np.empty(0, np.int64), np.empty((0, self.index.ndim), np.float16)
        vectors = np.asarray(self.index.get(keys), dtype=np.float16).reshape(len(keys), -1)
        return keys.astype(np.int64), vectors

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)


Partition = FlatPartition | GraphPartition


class VectorIndex:
    """Vectors by partition; entries are named by integer *slots* the caller allocates."""

    def __init__(self, dim: int, flat_max: int = FLAT_MAX):
        self.dim = dim
        self.flat_max = flat_max
        self.partitions: dict[str, Partition] = {}

    def add(self, partition: str, slot: int, vector: np.ndarray) -> None:
        part = self.partitions.get(partition)
        if part is None:
            part = self.partitions[partition] = FlatPartition(self.dim)
        part.add(slot, vector)
        if isinstance(part, FlatPartition) and len(part) > self.flat_max:
            slots, vectors = part.items()
            self.partitions[partition] = GraphPartition(self.dim, slots, vectors)

    def add_many(self, partition: str, slots: np.ndarray, vectors: np.ndarray) -> None:
        """Bulk insert (warm-up, benchmarks): a graph partition inserts on 2 threads."""
        part = self.partitions.get(partition)
        if part is None and len(slots) > self.flat_max:
            self.partitions[partition] = GraphPartition(self.dim, slots, vectors)
        elif isinstance(part, GraphPartition):
            part.index.add(slots.astype(np.uint64), vectors.astype(np.float32), threads=2)
        else:
            for slot, vector in zip(slots.tolist(), vectors, strict=True):
                self.add(partition, slot, vector)

    def remove(self, partition: str, slot: int) -> None:
        part = self.partitions.get(partition)
        if part is None:
            return
        part.remove(slot)
        if not len(part):
            del self.partitions[partition]

    def search(self, partition: str, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """Up to ``count`` (slot, similarity) of ``partition``, most similar first."""
        part = self.partitions.get(partition)
        return [] if part is None else part.search(as_stored(query), count)

    def save(self, directory: Path) -> dict[str, str]:
        """Write graph partitions as usearch files; return partition → file name. Flat
        partitions are small and saved by the caller with the entry table."""
        files: dict[str, str] = {}
        for n, (name, part) in enumerate(self.partitions.items()):
            if isinstance(part, GraphPartition):
                files[name] = f"graph-{n}.usearch"
                part.index.save(str(directory / files[name]))
        (directory / "graphs.json").write_text(json.dumps(files))
        return files

    def load_graphs(self, directory: Path) -> set[str]:
        """Restore the graph partitions written by ``save``; return their names."""
        from usearch.index import Index

        listing = directory / "graphs.json"
        if not listing.is_file():
            return set()
        for name, file in json.loads(listing.read_text()).items():
            restored = Index.restore(str(directory / file))
            if restored is None:
                raise ValueError(f"{directory / file}: not a usearch index")
            part = GraphPartition(self.dim)
            part.index = restored
            self.partitions[name] = part
        return set(self.partitions)


def as_stored(vector: np.ndarray) -> np.ndarray:
    """A query rounded the way stored vectors are (float16), as float32 for the dot product."""
    return np.asarray(vector, dtype=np.float16).astype(np.float32)
