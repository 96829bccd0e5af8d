"""Semantic cache lookup latency and memory at 10k / 100k / 1M entries.

    .venv/bin/python benchmarks/semcache_latency.py [--sizes 10000,100000,1000000]
                                                    [--layouts one,many] [--queries 500]

A lookup is timed end to end as the cache calls it: ``LocalMatcher.search`` embeds the
query (onnx-minilm int8, 2 threads), searches its partition, and runs the guards on the
candidates. Stored entries are QQP question embeddings plus noise (cosine ≈ 0.9 to the
original, so the index holds realistic clusters, not uniform noise), each with its own
question text and a 58-character entry id like the response cache's. Two layouts:
``one`` — every entry in one partition (one tenant, one model: an HNSW graph); ``many`` —
20 entries per partition (flat scans). Memory is the growth of the process RSS while the
entries are added, divided by their number: vectors, graph, texts, ids and bookkeeping —
everything but the answers, which the response cache stores.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import subprocess
import sys
import time

import numpy as np

from semcache_common import default_embedder, embed_texts, load
from tokenthrift.levers.cache.semantic.decision import Decision
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS
from tokenthrift.levers.cache.semantic.index import GraphPartition
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher

PER_PARTITION = 20


def rss_bytes() -> int:
    # Hand freed heap back to the OS first, or new entries reuse it unseen by RSS.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def corpus() -> tuple[list[str], np.ndarray, list[str]]:
    """Stored texts and their vectors, and query texts never stored."""
    pairs = load("qqp_pairs_dev.jsonl")
    texts = sorted({p.text_a for p in pairs} | {p.text_b for p in pairs})
    vectors = embed_texts(default_embedder(), texts, "qqp")
    rng = np.random.default_rng(3)
    order = rng.permutation(len(texts))
    queries = [texts[i] for i in order[:2000]]
    stored = order[2000:]
    return [texts[i] for i in stored], vectors[stored], queries


def partition_of(i: int, layout: str) -> str:
    tenant = 0 if layout == "one" else i // PER_PARTITION
    return f"key:tenant-{tenant}|gpt-4o|t=0.7|sys=ab12|prior=none|tools=none"


def build(matcher: LocalMatcher, size: int, layout: str, texts: list[str], vectors: np.ndarray) -> float:
    rng = np.random.default_rng(5)
    started = time.perf_counter()
    chunk = 10_000 if layout == "one" else PER_PARTITION
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        rows = (np.arange(start, start + n)) % len(texts)
        noisy = vectors[rows] + rng.normal(0, 0.025, (n, vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        ids = [f"{i:012x}:{i * 7919 % 10**12:012x}:{i:032x}" for i in range(start, start + n)]
        own_texts = [f"{texts[r]} ({start + j})" for j, r in enumerate(rows.tolist())]
        matcher.add_embedded_many(partition_of(start, layout), own_texts, ids, noisy)
    return time.perf_counter() - started


def time_lookups(matcher: LocalMatcher, size: int, layout: str, queries: list[str], count: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    total, search_only = [], []
    for q in range(count + 20):
        partition = partition_of(int(rng.integers(0, size)), layout)
        text = queries[q % len(queries)] + ("" if q < len(queries) else f" {q}")
        started = time.perf_counter()
        matcher.search(partition, text)
        elapsed = time.perf_counter() - started
        vector = matcher._recent[text]
        started = time.perf_counter()
        matcher._nearest(partition, vector)
        searched = time.perf_counter() - started
        if q >= 20:  # warm-up
            total.append(elapsed)
            search_only.append(searched)
    return np.array(total) * 1e3, np.array(search_only) * 1e3


def graph_recall(matcher: LocalMatcher, queries: np.ndarray) -> float | None:
    """Top-1 agreement of the HNSW search with an exact scan of the same vectors."""
    index = matcher._index
    parts = [p for p in index.partitions.values() if isinstance(p, GraphPartition)] if index else []
    if not parts:
        return None
    part = parts[0]
    keys, stored = part.items()
    agree = 0
    for q in queries:
        q16 = q.astype(np.float16).astype(np.float32)
        best = -1.0, -1
        for start in range(0, len(keys), 200_000):
            sims = stored[start : start + 200_000].astype(np.float32) @ q16
            i = int(np.argmax(sims))
            if sims[i] > best[0]:
                best = float(sims[i]), int(keys[start + i])
        agree += part.search(q16, 1)[0][0] == best[1]
    return agree / len(queries)


def run_one(layout: str, size: int, queries_count: int) -> str:
    texts, vectors, queries = corpus()
    embedder = default_embedder()
    embedder.embed(queries[:50])  # load and warm the model before measuring memory
    gc.collect()
    before = rss_bytes()
    matcher = LocalMatcher(embedder, Decision(0.9, DEFAULT_GUARDS), data_dir=None, max_entries=size + 1)
    seconds = build(matcher, size, layout, texts, vectors)
    gc.collect()
    per_entry = (rss_bytes() - before) / size
    total, search = time_lookups(matcher, size, layout, queries, queries_count)
    recall = graph_recall(matcher, embedder.embed(queries[:200]).vectors) if layout == "one" else None
    return (f"| {layout} | {size:,} | {np.percentile(total, 50):.2f} | {np.percentile(total, 99):.2f} | "
            f"{np.percentile(search, 50):.3f} | {np.percentile(search, 99):.3f} | {per_entry:,.0f} | "
            f"{'—' if recall is None else f'{recall:.3f}'} | {seconds:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--layouts", default="one,many")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # LAYOUT:SIZE, run in a child process
    args = parser.parse_args()
    if args.one:
        layout, size = args.one.split(":")
        print(run_one(layout, int(size), args.queries), flush=True)
        return
    rows = []
    for layout in args.layouts.split(","):
        for size in args.sizes.split(","):
            # A fresh process per configuration: RSS growth is then this index's alone.
            out = subprocess.run(
                [sys.executable, __file__, "--one", f"{layout}:{size}", "--queries", str(args.queries)],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            print(out, flush=True)
            rows.append(out)
    print("\n| partitions | entries | lookup p50 ms | lookup p99 ms | search-only p50 ms | search-only p99 ms "
          "| bytes/entry | HNSW top-1 = exact | build s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
