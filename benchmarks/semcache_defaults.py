"""Choose the shipped semantic-cache default on the LLM-prompt dev pairs, and report it.

    .venv/bin/python benchmarks/semcache_defaults.py [--shared ../shared/data/semcache]

1. Sweeps the threshold over the dev pairs (``benchmarks/data/llm_prompt_pairs_dev.jsonl``)
   with the default guards and applies the rule written in
   ``semantic/data/defaults.json``: the lowest threshold at which the dev false-hit rate
   reaches the minimum it keeps until paraphrase recall falls to 20%.
2. Reports the shipped default (what ``tokenthrift cache eval`` does with no options) on
   the dev and held-aside pairs, and, when ``--shared`` holds them, on QQP and the
   adversarial set: precision, recall, false-hit rate, hit rate per kind.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from tokenthrift.levers.cache.semantic import SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.decision import Decision
from tokenthrift.levers.cache.semantic.embedders import build_embedder
from tokenthrift.levers.cache.semantic.evaluation import decision_scores, evaluate, similarities
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS
from tokenthrift.levers.cache.semantic.pairs import read_pairs

DATA = Path(__file__).resolve().parent / "data"
MIN_RECALL = 0.20


def choose(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(threshold, false-hit rate, recall) by the rule above."""
    negatives, positives = labels == 0, labels == 1
    candidates = sorted({round(float(s), 4) for s in scores if math.isfinite(s)})
    rows = []
    for t in candidates:
        hit = scores >= t
        rows.append((t, float(hit[negatives].mean()), float(hit[positives].mean())))
    usable = [r for r in rows if r[2] >= MIN_RECALL]
    floor = min(r[1] for r in usable)
    return next(r for r in usable if r[1] == floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "semcache")
    args = parser.parse_args()
    embedder = build_embedder("onnx-minilm", None, None)
    dev = read_pairs(DATA / "llm_prompt_pairs_dev.jsonl")
    sims = similarities(embedder, dev)
    scores = decision_scores(Decision(0.0, DEFAULT_GUARDS), dev, sims)
    threshold, fhr, recall = choose(scores, np.array([p.label for p in dev]))
    print(f"rule on dev: threshold {threshold:.4f} (false-hit rate {fhr:.4f}, paraphrase "
          f"recall {recall:.4f})")
    shipped = decision_for(SemanticSettings())
    print(f"shipped default: threshold {shipped.threshold}, guards {list(shipped.guards)}")
    files = [DATA / "llm_prompt_pairs_dev.jsonl", DATA / "llm_prompt_pairs_held.jsonl",
             args.shared / "qqp_pairs_dev.jsonl", args.shared / "adversarial_pairs_dev.jsonl"]
    for path in files:
        if not path.is_file():
            print(f"{path}: not found, skipped")
            continue
        pairs = read_pairs(path)
        report = evaluate(shipped, pairs, similarities(embedder, pairs))
        kinds = "  ".join(f"{k} {v.hit_rate:.3f}" for k, v in report.by_kind.items())
        print(f"{path.name}: pairs {report.pairs}  precision {report.precision}  recall "
              f"{report.recall}  false-hit rate {report.false_hit_rate}\n    hit rate by kind: "
              f"{kinds}")


if __name__ == "__main__":
    main()
