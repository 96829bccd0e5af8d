"""Choose the shipped semantic-cache default on the LLM-prompt development pairs, and report it.

    .venv/bin/python benchmarks/semcache_defaults.py [--shared ../shared/data/semcache]

1. Sweeps the threshold over the development pairs (``llm_prompt_pairs_dev.jsonl`` and
   ``llm_prompt_pairs_held.jsonl``, pooled: the guards of the second pass were developed on
   both) with the default guards and applies the rule written in
   ``semantic/data/defaults.json``: the lowest threshold, on a 0.01 grid, at and above
   which the false-hit rate stays within the 1% target.
2. Reports the shipped default (what ``tokenthrift cache eval`` does with no options) on
   each development part, on ``llm_prompt_pairs_fresh.jsonl`` (written afterwards by
   someone who never saw the guards, and scored once: the honest estimate), and, when
   ``--shared`` holds them, on QQP and the adversarial set: precision, recall, false-hit
   rate, hit rate per kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from semcache_common import pair_vectors
from tokenthrift.levers.cache.semantic import SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.decision import Decision
from tokenthrift.levers.cache.semantic.embedders import build_embedder
from tokenthrift.levers.cache.semantic.evaluation import (
    EvalReport,
    decision_scores,
    evaluate,
    pair_similarities,
    similarities,
)
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS
from tokenthrift.levers.cache.semantic.pairs import read_pairs

DATA = Path(__file__).resolve().parent / "data"
DEVELOPMENT = ("llm_prompt_pairs_dev.jsonl", "llm_prompt_pairs_held.jsonl")
TEST = "llm_prompt_pairs_fresh.jsonl"
TARGET_FALSE_HITS = 0.01


def choose(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(threshold, false-hit rate, recall) by the rule above."""
    negatives, positives = labels == 0, labels == 1
    grid = [round(0.70 + 0.01 * i, 2) for i in range(30)]
    rows = [(t, float((scores[negatives] >= t).mean()), float((scores[positives] >= t).mean()))
            for t in grid]
    for i, row in enumerate(rows):
        if all(r[1] <= TARGET_FALSE_HITS for r in rows[i:]):
            return row
    return rows[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "semcache")
    args = parser.parse_args()
    embedder = build_embedder("onnx-minilm", None, None)
    development = [p for name in DEVELOPMENT for p in read_pairs(DATA / name)]
    sims = similarities(embedder, development)
    scores = decision_scores(Decision(0.0, DEFAULT_GUARDS), development, sims)
    threshold, fhr, recall = choose(scores, np.array([p.label for p in development]))
    print(f"rule on the development pairs ({len(development)}): threshold {threshold:.2f} "
          f"(false-hit rate {fhr:.4f}, paraphrase recall {recall:.4f})")
    shipped = decision_for(SemanticSettings())
    print(f"shipped default: threshold {shipped.threshold}, guards {list(shipped.guards)}")
    files = [*(DATA / name for name in DEVELOPMENT), DATA / TEST,
             args.shared / "qqp_pairs_dev.jsonl", args.shared / "adversarial_pairs_dev.jsonl"]
    for path in files:
        if not path.is_file():
            print(f"{path}: not found, skipped")
            continue
        pairs = read_pairs(path)
        if path.parent == args.shared:  # large: embeddings cached on disk between runs
            sims = pair_similarities(*pair_vectors(embedder, pairs, path.stem))
        else:
            sims = similarities(embedder, pairs)
        show(path.name, evaluate(shipped, pairs, sims))
        if path.name == TEST:
            # Its pairs that share no text with the development pairs.
            seen = {p.text_a for p in development} | {p.text_b for p in development}
            apart = [i for i, p in enumerate(pairs) if not {p.text_a, p.text_b} & seen]
            show(f"{path.name}, sharing no text with the development pairs",
                 evaluate(shipped, [pairs[i] for i in apart], sims[apart]))


def show(name: str, report: EvalReport) -> None:
    kinds = "  ".join(f"{k} {v.hit_rate:.3f}" for k, v in report.by_kind.items())
    print(f"{name}: pairs {report.pairs}  precision {report.precision}  recall "
          f"{report.recall}  false-hit rate {report.false_hit_rate}\n    hit rate by kind: "
          f"{kinds}")


if __name__ == "__main__":
    main()
