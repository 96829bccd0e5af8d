"""Write the LLM-prompt pairs files from the hand-written items (see ``README.md``).

    .venv/bin/python benchmarks/data/make_llm_prompt_pairs.py

Each item gives pairs (item text, paraphrase) labelled 1 and (item text, near miss)
labelled 0 with the near miss's kind. Whole items go to one split — ``dev`` (used to
choose the shipped threshold and guards) or ``held`` (only reported) — so no prompt has
a rewording on both sides; the split is a seeded shuffle within each category.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from llm_prompts_items import ITEMS, Item  # noqa: E402

SEED = 12


def pairs(item: Item) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    extra = {"category": item.category, **({"context": item.context} if item.context else {})}
    for text in item.paraphrases:
        out.append({"text_a": text, "text_b": item.text, "label": 1, "kind": "paraphrase",
                    **extra})
    for kind, text in item.negatives:
        out.append({"text_a": text, "text_b": item.text, "label": 0, "kind": kind, **extra})
    return out


def split(items: list[Item]) -> tuple[list[Item], list[Item]]:
    rng = random.Random(SEED)
    dev: list[Item] = []
    held: list[Item] = []
    for category in sorted({i.category for i in items}):
        group = [i for i in items if i.category == category]
        rng.shuffle(group)
        half = (len(group) + 1) // 2
        dev.extend(group[:half])
        held.extend(group[half:])
    return dev, held


def main() -> None:
    dev, held = split(ITEMS)
    for name, part in (("dev", dev), ("held", held)):
        rows = [row for item in part for row in pairs(item)]
        path = HERE / f"llm_prompt_pairs_{name}.jsonl"
        with path.open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        kinds = Counter(str(r["kind"]) for r in rows)
        print(f"{path.name}: {len(rows)} pairs from {len(part)} items; "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
