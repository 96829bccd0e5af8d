"""The complexity router on data it never saw: held-out MMLU domains and MT-Bench.

    .venv/bin/python benchmarks/routing_eval.py --data ../shared/data/routing [--retrain]

The shipped router (``levers/routing/data/default_router.json``) was trained on the MMLU
domains listed by ``train_domains`` (about two thirds, chosen by a fixed hash of the domain
name, not by results); this reports ``router eval`` on the other third and on MT-Bench
(GPT-4 judge scores / 10 as quality, first turn routed, both turns scored — RouteLLM's
protocol), next to random and prompt-length routing, plus the decision latency on CPU.
``--retrain`` first rebuilds the shipped router from the training domains.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from tokenthrift.levers.routing.data import LabelledPrompts, load_labelled, read_contaminated
from tokenthrift.levers.routing.evaluation import Price, evaluate
from tokenthrift.levers.routing.router import DEFAULT_ROUTER, ComplexityRouter
from tokenthrift.levers.routing.training import train_router

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
# README of the data: GPT-4-1106 10/30, Mixtral-8x7B ~0.6/0.6 USD per 1M tokens.
PRICES = {"strong_price": Price(10, 30), "weak_price": Price(0.6, 0.6)}
SHIPPED = Path(__file__).parents[1] / "src" / "tokenthrift" / "levers" / "routing" / "data" / DEFAULT_ROUTER


def held_out(group: str) -> bool:
    """A third of the MMLU domains, fixed by a hash of the file name (``mmlu_<domain>``)."""
    return zlib.crc32(group.removeprefix("mmlu_").encode()) % 3 == 0


def mt_bench(folder: Path) -> LabelledPrompts:
    questions = [json.loads(x) for x in (folder / "question.jsonl").read_text().splitlines() if x.strip()]
    contaminated = read_contaminated([folder / "contaminated_prompts.jsonl"])
    scores: dict[tuple[int, str], list[float]] = defaultdict(list)
    for line in (folder / "judgements.jsonl").read_text().splitlines():
        j = json.loads(line)
        if j["score"] >= 0:
            scores[(j["question_id"], j["model"])].append(j["score"] / 10.0)
    kept = [q for q in questions if not {t.strip() for t in q["turns"]} & contaminated
            and scores.get((q["question_id"], STRONG)) and scores.get((q["question_id"], WEAK))]
    return LabelledPrompts(
        prompts=[q["turns"][0] for q in kept],
        strong=np.array([np.mean(scores[(q["question_id"], STRONG)]) for q in kept]),
        weak=np.array([np.mean(scores[(q["question_id"], WEAK)]) for q in kept]),
        groups=[q["category"] for q in kept], dropped_contaminated=len(questions) - len(kept),
    )


def latency_ms(router: ComplexityRouter, prompts: list[str]) -> dict[str, float]:
    times = []
    for prompt in prompts:
        start = time.perf_counter()
        router.probability(prompt)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 3), "p99": round(times[int(0.99 * (len(times) - 1))], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the routing/ data folder")
    parser.add_argument("--retrain", action="store_true", help="rebuild the shipped router first")
    args = parser.parse_args()
    mmlu = load_labelled(args.data / "mmlu", "prompt", STRONG, WEAK)
    test_mask = np.array([held_out(g) for g in mmlu.groups])
    if args.retrain:
        train = mmlu.subset(~test_mask)
        router = train_router(train, source="../shared/data/routing/mmlu (training domains)")
        router.info["train_domains"] = sorted({g.removeprefix("mmlu_") for g in train.groups})
        router.info["dropped_contaminated"] = mmlu.dropped_contaminated
        router.save(SHIPPED)
        print(f"wrote {SHIPPED}: {json.dumps({k: v for k, v in router.info.items() if k != 'train_domains'})}")
    router = ComplexityRouter.load(SHIPPED)
    test = mmlu.subset(test_mask)
    bench = mt_bench(args.data / "mt_bench")
    report = {
        "mmlu_held_out_domains": sorted({g.removeprefix("mmlu_") for g in test.groups}),
        "mmlu_held_out": evaluate(test, router.p_weak_ok(test.prompts), **PRICES),  # type: ignore[arg-type]
        "mt_bench": evaluate(bench, router.p_weak_ok(bench.prompts), **PRICES),  # type: ignore[arg-type]
        "decision_ms": latency_ms(router, test.prompts[:300] + bench.prompts),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
