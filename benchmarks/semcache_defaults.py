"""Report the shipped semantic-cache default on every labelled-pairs set.

    .venv/bin/python benchmarks/semcache_defaults.py [--shared ../shared/data/semcache]

The default (threshold, guards, review) is what ``tokenthrift cache eval`` uses with no
options; ``benchmarks/semcache_review.py --write`` chose it (rules in its docstring). This
reports it on each development part (``llm_prompt_pairs_dev.jsonl``, ``_held.jsonl``), on
``llm_prompt_pairs_fresh.jsonl`` (written afterwards by someone who never saw the guards:
the honest estimate) and, when ``--shared`` holds them, on QQP and the adversarial set:
precision, recall, false-hit rate, hit rate per kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semcache_common import pair_vectors
from tokenthrift.levers.cache.semantic import SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.embedders import build_embedder
from tokenthrift.levers.cache.semantic.evaluation import (
    EvalReport,
    evaluate,
    pair_similarities,
    similarities,
)
from tokenthrift.levers.cache.semantic.pairs import read_pairs

DATA = Path(__file__).resolve().parent / "data"
DEVELOPMENT = ("llm_prompt_pairs_dev.jsonl", "llm_prompt_pairs_held.jsonl")
TEST = "llm_prompt_pairs_fresh.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "semcache")
    args = parser.parse_args()
    embedder = build_embedder("onnx-minilm", None, None)
    development = [p for name in DEVELOPMENT for p in read_pairs(DATA / name)]
    shipped = decision_for(SemanticSettings(), embedder)
    print(f"shipped default: threshold {shipped.threshold}, guards {list(shipped.guards)}, "
          f"review {'on' if shipped.reviewer else 'off'}")
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
