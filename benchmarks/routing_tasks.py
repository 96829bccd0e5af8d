"""Task classifier: accuracy and abstention on held-aside *templates*, then the shipped model.

    .venv/bin/python benchmarks/routing_tasks.py [--write]

The labelled set is ``benchmarks/data/routing_task_prompts.jsonl`` (hand-written templates,
see ``routing_task_prompts.py``). Every 4th template of each task is held aside, so the
test prompts are ways of asking the classifier never saw. ``--write`` then refits on all
prompts and writes ``src/tokenthrift/levers/routing/data/task_classifier.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from tokenthrift.levers.routing.tasks import DEFAULT_FILE, TaskClassifier

DATA = Path(__file__).parent / "data" / "routing_task_prompts.jsonl"
# 36 prompts written freely (no template), after the classifier's cue words were chosen.
FREEFORM = Path(__file__).parent / "data" / "routing_task_prompts_freeform.jsonl"
SHIPPED = Path(__file__).parents[1] / "src" / "tokenthrift" / "levers" / "routing" / "data" / DEFAULT_FILE
MIN_CONFIDENCE = 0.5


def held_aside(template: str) -> bool:
    return int(template.rsplit("/", 1)[1]) % 4 == 3


def measure(model: TaskClassifier, rows: list[dict[str, str]]) -> dict[str, float]:
    answered = correct = 0
    confusions: Counter[tuple[str, str]] = Counter()
    for row in rows:
        task, _ = model.classify(row["text"])
        if task is None:
            continue
        answered += 1
        correct += task == row["task"]
        if task != row["task"]:
            confusions[(row["task"], task)] += 1
    latencies = []
    for row in rows[:200]:
        start = time.perf_counter()
        model.classify(row["text"])
        latencies.append((time.perf_counter() - start) * 1000)
    return {
        "n": len(rows), "coverage": round(answered / len(rows), 3),
        "accuracy_answered": round(correct / max(answered, 1), 3),
        "accuracy_overall": round(correct / len(rows), 3),
        "p50_ms": round(statistics.median(latencies), 3),
        "top_confusions": [f"{a}→{b} x{n}" for (a, b), n in confusions.most_common(4)],  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refit on everything and write the shipped model")
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    train = [r for r in rows if not held_aside(r["template"])]
    test = [r for r in rows if held_aside(r["template"])]
    model = TaskClassifier.fit([r["text"] for r in train], [r["task"] for r in train],
                               min_confidence=MIN_CONFIDENCE)
    result = measure(model, test)
    freeform = [json.loads(line) for line in FREEFORM.read_text().splitlines()]
    free = measure(model, freeform)
    print(json.dumps({"train": len(train), "held_aside_templates": result, "freeform": free}, indent=1))
    if args.write:
        final = TaskClassifier.fit([r["text"] for r in rows], [r["task"] for r in rows],
                                   min_confidence=MIN_CONFIDENCE)
        final.info = {
            "trained_on": f"benchmarks/data/{DATA.name} ({len(rows)} hand-written template prompts)",
            "held_aside_eval": result, "freeform_eval": free, "trained_at": dt.date.today().isoformat(),
        }
        final.save(SHIPPED)
        print(f"wrote {SHIPPED} ({SHIPPED.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
