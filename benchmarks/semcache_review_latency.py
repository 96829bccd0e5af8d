"""What the semantic cache's review adds to a would-be hit, in milliseconds.

    .venv/bin/python benchmarks/semcache_review_latency.py [--repeat 3]

The review (``semantic/review.py``) runs only when a candidate passes the threshold and
the guards: one forward pass of the encoder over the query and the candidate (their
word-piece vectors), plus, when the two share a long run of words, one more over the
parts that differ. Timed here on the LLM-prompt pairs shipped in ``benchmarks/data``
(short questions up to prompts with an attached text), each pair reviewed ``--repeat``
times, next to the lookup's own embedding of the query, which every lookup pays.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tokenthrift.levers.cache.semantic.embedders import build_embedder
from tokenthrift.levers.cache.semantic.pairs import read_pairs
from tokenthrift.levers.cache.semantic.review import reviewer_for

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    embedder = build_embedder("onnx-minilm")
    reviewer = reviewer_for(embedder)
    assert reviewer is not None
    pairs = [p for name in ("llm_prompt_pairs_dev", "llm_prompt_pairs_held", "llm_prompt_pairs_fresh")
             for p in read_pairs(DATA / f"{name}.jsonl") if p.text_a != p.text_b]
    embedder.embed([p.text_a for p in pairs[:20]])  # warm up
    review_ms, embed_ms, shared = [], [], 0
    for _ in range(args.repeat):
        for p in pairs:
            started = time.perf_counter()
            vector = embedder.embed([p.text_a]).vectors[0]
            embed_ms.append((time.perf_counter() - started) * 1e3)
            similarity = float(vector @ embedder.embed([p.text_b]).vectors[0])
            started = time.perf_counter()
            reviewer.verdict(p.text_a, p.text_b, similarity)
            review_ms.append((time.perf_counter() - started) * 1e3)
    shared = sum(1 for p in pairs if reviewer.changed_similarities([(p.text_a, p.text_b)])[0] is not None)
    print(f"{len(pairs)} pairs x {args.repeat} ({shared} share a long run of words)")
    print("| step | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in (("embed the query (every lookup)", embed_ms),
                         ("review (would-be hits only)", review_ms)):
        v = np.array(values)
        print(f"| {name} | {np.percentile(v, 50):.2f} | {np.percentile(v, 90):.2f} | "
              f"{np.percentile(v, 99):.2f} |")


if __name__ == "__main__":
    main()
