"""Persisting the matcher under ``<data_dir>/semantic/`` so the cache survives a restart.

Layout (format 1): ``meta.json`` (embedder, dimensions), ``entries.json`` (ids, texts,
partitions), ``entries.npz`` (slots, expiry, last use, flat-partition vectors) and one
usearch file per graph partition. A save writes a fresh folder and swaps it in with
renames, so a crash mid-save leaves the previous copy intact. No pickle: a data
directory is not trusted to run code.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from .entries import EntryTable
from .index import FlatPartition, VectorIndex

FORMAT = 1
log = logging.getLogger("tokenthrift.cache.semantic")


@dataclass(slots=True)
class Snapshot:
    table: EntryTable
    index: VectorIndex | None


def save(directory: Path, embedder: str, table: EntryTable, index: VectorIndex | None) -> None:
    tmp = directory.with_name(directory.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    slots = table.live_slots()
    graph_names = set(index.save(tmp)) if index is not None else set()
    flat_slots, flat_vectors = _flat_items(index, graph_names)
    np.savez(
        tmp / "entries.npz",
        slots=slots, expires=table.expires[slots], last_used=table.last_used[slots],
        flat_slots=flat_slots, flat_vectors=flat_vectors,
    )
    strings = {
        "ids": [table.ids[s] for s in slots.tolist()],
        "texts": [table.texts[s] for s in slots.tolist()],
        "partitions": [table.partitions[s] for s in slots.tolist()],
    }
    (tmp / "entries.json").write_bytes(orjson.dumps(strings))
    dim = index.dim if index is not None else 0
    meta = {"format": FORMAT, "embedder": embedder, "dim": dim, "entries": len(slots)}
    (tmp / "meta.json").write_text(json.dumps(meta))
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def load(directory: Path, embedder: str) -> Snapshot | None:
    """The saved state, or None when there is none usable (then the cache starts empty:
    a semantic cache that forgot is only slower, one that cannot start is an outage)."""
    try:
        return _load(directory, embedder)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("semantic cache in %s is unreadable (%s); starting empty", directory, exc)
        return None


def _load(directory: Path, embedder: str) -> Snapshot | None:
    meta_file = directory / "meta.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT or meta.get("embedder") != embedder:
        # Vectors of another embedder are not comparable with this one's: start over.
        log.warning("semantic cache in %s was built by %s (format %s); starting empty",
                    directory, meta.get("embedder"), meta.get("format"))
        return None
    arrays = np.load(directory / "entries.npz", allow_pickle=False)
    strings = orjson.loads((directory / "entries.json").read_bytes())
    table = EntryTable.restored(
        arrays["slots"], strings["ids"], strings["texts"], strings["partitions"],
        arrays["expires"], arrays["last_used"],
    )
    if not meta["dim"]:
        return Snapshot(table, None)
    index = VectorIndex(int(meta["dim"]))
    index.load_graphs(directory)
    _restore_flat(index, table, arrays["flat_slots"], arrays["flat_vectors"])
    return Snapshot(table, index)


def _flat_items(index: VectorIndex | None, graphs: set[str]) -> tuple[np.ndarray, np.ndarray]:
    if index is None:
        return np.empty(0, np.int64), np.empty((0, 0), np.float16)
    slots, vectors = [], []
    for name, part in index.partitions.items():
        if name not in graphs:
            s, v = part.items()
            slots.append(s)
            vectors.append(v)
    if not slots:
        return np.empty(0, np.int64), np.empty((0, index.dim), np.float16)
    return np.concatenate(slots), np.concatenate(vectors)


def _restore_flat(index: VectorIndex, table: EntryTable, slots: np.ndarray, vectors: np.ndarray) -> None:
    if not len(slots):
        return
    partitions = np.array([table.partitions[s] for s in slots.tolist()], dtype=object)
    # Group rows by partition once instead of appending entry by entry.
    order = np.argsort(partitions, kind="stable")
    names, starts = np.unique(partitions[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for i, name in enumerate(names.tolist()):
        rows = order[bounds[i] : bounds[i + 1]]
        part = FlatPartition(index.dim)
        part.vectors = vectors[rows].astype(np.float16)
        part.slots = slots[rows].astype(np.int64)
        part.size = len(rows)
        index.partitions[name] = part
