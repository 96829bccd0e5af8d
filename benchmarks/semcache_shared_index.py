"""How fast an entry stored by one replica reaches another replica's semantic index.

    .venv/bin/python benchmarks/semcache_shared_index.py [--redis redis://127.0.0.1:6379/0]
                                                        [--entries 500] [--preload 20000]

Two ``SharedIndex`` matchers (two replicas' indexes, in one process, each with its own
Redis connections and follower thread) share a Redis stream. For each of ``--entries``
adds on replica A, the time until replica B's index holds the entry is measured (B is
polled every 0.2 ms). Then a third replica starts on a stream of ``--preload`` entries and
the time its catch-up takes (before it serves) is reported. Vectors are random unit
vectors: embedding is not what is measured here (it happens once, on the storing replica).
"""

from __future__ import annotations

import argparse
import time
import uuid

import numpy as np
import redis

from tokenthrift.levers.cache.semantic.decision import Decision
from tokenthrift.levers.cache.semantic.embedders import Embeddings
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher
from tokenthrift.levers.cache.semantic.shared import SharedIndex, log_key

DIM = 384


class RandomEmbedder:
    name = "bench-random"
    dim = DIM
    max_tokens = None

    def __init__(self) -> None:
        self._rng = np.random.default_rng(1)

    def embed(self, texts: list[str]) -> Embeddings:
        v = self._rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return Embeddings(v / np.linalg.norm(v, axis=1, keepdims=True))


def replica(url: str, prefix: str, max_entries: int = 100_000) -> SharedIndex:
    local = LocalMatcher(RandomEmbedder(), Decision(0.9, ()), data_dir=None,  # type: ignore[arg-type]
                         max_entries=max_entries)
    return SharedIndex(local, url, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--preload", type=int, default=20_000)
    args = parser.parse_args()
    prefix = f"tt-bench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(args.redis)
    a, b = replica(args.redis, prefix), replica(args.redis, prefix)
    try:
        delays = []
        for i in range(args.entries):
            entry_id = f"e{i}"
            started = time.perf_counter()
            a.add(f"p{i % 50}", f"question {i}", entry_id, time.time() + 3600)
            while entry_id not in b.local._table.slot_of:
                time.sleep(0.0002)
            delays.append((time.perf_counter() - started) * 1000)
        ms = np.array(delays)
        print(f"add on A -> visible on B, {args.entries} entries: p50 {np.percentile(ms, 50):.2f} ms"
              f"  p99 {np.percentile(ms, 99):.2f} ms  max {ms.max():.2f} ms")
        for i in range(args.preload - args.entries):
            a.add(f"p{i % 50}", f"preloaded {i}", f"pre{i}", time.time() + 3600)
        started = time.perf_counter()
        c = replica(args.redis, prefix)
        took = time.perf_counter() - started
        print(f"a replica starting on {len(c)} entries ({client.xlen(log_key(prefix))} stream "
              f"records) catches up in {took:.2f} s")
        c.close()
    finally:
        a.close()
        b.close()
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.unlink(*keys)
        client.close()


if __name__ == "__main__":
    main()
