"""Shared by the semantic-cache benchmarks: labelled pairs, their embeddings (cached on
disk, since embedding 120k texts takes minutes on 2 cores) and a seeded split."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from tokenthrift.levers.cache.semantic.embedders import Embedder, build_embedder
from tokenthrift.levers.cache.semantic.pairs import LabelledPair, read_pairs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semcache"
CACHE = Path(os.environ.get("TOKENTHRIFT_BENCH_CACHE", "/tmp/tokenthrift-semcache"))


def embed_texts(embedder: Embedder, texts: list[str], label: str) -> np.ndarray:
    """Unit vectors of ``texts`` (row i ↔ texts[i]), from the disk cache when present."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{embedder.name.replace('/', '_')}-{label}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chunks = []
    for start in range(0, len(texts), 4096):
        chunks.append(embedder.embed(texts[start : start + 4096]).vectors)
        done = min(start + 4096, len(texts))
        print(
            f"  embedded {done}/{len(texts)} {label} texts ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, 384), np.float32)
    np.save(path, vectors)
    return vectors


def pair_vectors(
    embedder: Embedder, pairs: list[LabelledPair], label: str
) -> tuple[np.ndarray, np.ndarray]:
    texts = sorted({p.text_a for p in pairs} | {p.text_b for p in pairs})
    vectors = embed_texts(embedder, texts, label)
    row = {t: i for i, t in enumerate(texts)}
    a = vectors[[row[p.text_a] for p in pairs]]
    b = vectors[[row[p.text_b] for p in pairs]]
    return a, b


def split(
    pairs: list[LabelledPair], seed: int = 7, calibrate_share: float = 0.5
) -> tuple[list[LabelledPair], list[LabelledPair]]:
    """A seeded random split into (calibration part, held-aside part)."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    cut = int(len(pairs) * calibrate_share)
    return [pairs[i] for i in order[:cut]], [pairs[i] for i in order[cut:]]


def load(name: str, limit: int | None = None) -> list[LabelledPair]:
    pairs = read_pairs(DATA / name)
    if limit is not None and limit < len(pairs):
        order = np.random.default_rng(11).permutation(len(pairs))[:limit]
        pairs = [pairs[i] for i in sorted(order)]
    return pairs


def default_embedder() -> Embedder:
    return build_embedder("onnx-minilm")
