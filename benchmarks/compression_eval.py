"""Answer retention of prompt compression on long-context QA, beside truncation and
random sentence selection.

    .venv/bin/python benchmarks/compression_eval.py \
        --data ../shared/data/compression/nq_open_oracle_dev.jsonl.gz

Rows are split deterministically: every ``--held-every``-th row is held aside (the
report's ``held`` part; the scorer's weights were chosen on the rest, ``dev``). Each part
is evaluated with random distractors (``tokenthrift compress eval``'s setting: other rows'
passages) and with *similar* distractors (the passages sharing the most question words,
a retriever's near misses). Prints one JSON line per (part, distractors, ratio) and a
markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

from tokenthrift.levers.compression import Compressor
from tokenthrift.levers.compression.evaluation import build_prompts, evaluate, load_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--passages", type=int, default=20)
    parser.add_argument("--ratios", default="0.5,0.33,0.2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-every", type=int, default=4)
    parser.add_argument("--parts", default="held,dev")
    parser.add_argument("--distractors", default="random,similar")
    args = parser.parse_args(argv)
    rows = load_rows(args.data)
    parts = {
        "held": [r for i, r in enumerate(rows) if i % args.held_every == 0],
        "dev": [r for i, r in enumerate(rows) if i % args.held_every != 0],
    }
    compressor = Compressor()
    results: list[dict[str, Any]] = []
    for part in args.parts.split(","):
        for kind in args.distractors.split(","):
            prompts = build_prompts(parts[part], args.passages, args.seed, kind)
            for ratio in (float(r) for r in args.ratios.split(",")):
                report = evaluate(prompts, compressor, ratio, args.seed)
                report.update(part=part, distractors=kind)
                print(json.dumps(report), flush=True)
                results.append(report)
    print(_table(results, args))
    return 0


def _table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"\n{args.passages} passages, seed {args.seed}, {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        "",
        "| part | distractors | ratio | achieved | retention | uncompressed | truncate | random "
        "| ms / 1k tok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = r["baselines"]
        lines.append(
            f"| {r['part']} (n={r['n']}) | {r['distractors']} | {r['ratio_target']:g} "
            f"| {r['achieved_ratio']:.3f} | **{r['answer_retention']:.3f}** "
            f"| {r['answer_retention_uncompressed']:.3f} | {b['truncate']['answer_retention']:.3f} "
            f"| {b['random']['answer_retention']:.3f} | {r['ms_per_1k_tokens']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
