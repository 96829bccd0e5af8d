"""Answer retention: does the compressed prompt still contain the answer?

Rows are ``{"question", "answers": [...], "ctxs": [{"title", "text", ...}]}`` (the
lost-in-the-middle NQ-open format; the first ctx is the question's gold passage). Each
prompt is the row's gold passage among ``passages - 1`` distractors: other rows' gold
passages that contain none of this row's answers, in the ``Document [i](Title: …)``
layout of the lost-in-the-middle prompts, with the gold passage at a random position.
A row is *retained* when any of its answer strings (case and whitespace folded) is
still in the compressed context as whole words: "ed" is not found in "played", nor "7" in
"1978", so short answers cannot be retained by accident. The question itself is not part of the compressed
text, so it cannot leak the answer.

Baselines at the same ratio: ``truncate`` keeps the first tokens, ``random`` keeps
random sentences (same selector and structure, random scores).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...tokens import get_encoding
from .backends import Passage, terms
from .compressor import Compressor


@dataclass(frozen=True, slots=True)
class QARow:
    question: str
    answers: tuple[str, ...]
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    question: str
    answers: tuple[str, ...]
    context: str


class RandomBackend:
    """Random sentence scores: the ``random`` baseline, seeded."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def score(self, question: str, passages: Sequence[Passage]) -> list[list[float]]:
        return [[self._rng.random() for _ in p.units] for p in passages]


def load_rows(path: str | Path) -> list[QARow]:
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    rows: list[QARow] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            gold = next((c for c in raw["ctxs"] if c.get("isgold")), raw["ctxs"][0])
            rows.append(QARow(raw["question"], tuple(raw["answers"]), gold["title"], gold["text"]))
    return rows


def fold(text: str) -> str:
    return " ".join(text.lower().split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """An answer occurs as whole words ("ed" is not found in "played", nor "7" in "1978")."""
    folded = fold(text)
    for answer in answers:
        needle = fold(answer)
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded):
            return True
    return False


def build_prompts(
    rows: Sequence[QARow], passages: int = 20, seed: int = 0, distractors: str = "random"
) -> list[Prompt]:
    """One prompt per row. ``distractors="similar"`` draws them from the passages that
    share the most (IDF-weighted) words with the question, like a retriever's near
    misses: a harder test than random passages, which differ in topic."""
    rng = random.Random(seed)
    nearest = _nearest_passages(rows) if distractors == "similar" else None
    prompts: list[Prompt] = []
    for index, row in enumerate(rows):
        wanted = min(passages - 1, len(rows) - 1)
        if nearest is not None:
            pool = [rows[i] for i in nearest(index, 4 * wanted)]
            picked = [d for d in pool if not contains_answer(d.text, row.answers)][:wanted]
        else:
            picked = _random_distractors(rows, row, wanted, rng)
        docs = list(picked)
        docs.insert(rng.randrange(len(docs) + 1), row)
        context = "\n\n".join(
            f"Document [{i}](Title: {d.title}) {d.text}" for i, d in enumerate(docs, 1)
        )
        prompts.append(Prompt(row.question, row.answers, context))
    return prompts


def _random_distractors(
    rows: Sequence[QARow], row: QARow, wanted: int, rng: random.Random
) -> list[QARow]:
    picked: list[QARow] = []
    # A distractor must not hold the answer; a very common answer ("7") may make that
    # impossible, so after enough draws any other passage will do.
    for draw in range(100 * wanted):
        if len(picked) == wanted:
            break
        other = rows[rng.randrange(len(rows))]
        if other is row or any(other is d for d in picked):
            continue
        if draw < 50 * wanted and contains_answer(other.text, row.answers):
            continue
        picked.append(other)
    return picked


def _nearest_passages(rows: Sequence[QARow]) -> Callable[[int, int], list[int]]:
    """For row i, the other rows whose passage best matches row i's question."""
    postings: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        for term in set(terms(f"{row.title} {row.text}")):
            postings.setdefault(term, []).append(i)
    n = len(rows)

    def nearest(index: int, k: int) -> list[int]:
        scores: dict[int, float] = {}
        for term in set(terms(rows[index].question)):
            hits = postings.get(term, [])
            weight = math.log(1 + n / (1 + len(hits)))
            for hit in hits:
                scores[hit] = scores.get(hit, 0.0) + weight
        scores.pop(index, None)
        return sorted(scores, key=lambda i: -scores[i])[:k]

    return nearest


def _truncate(context: str, ratio: float, encoding: str) -> str:
    enc = get_encoding(encoding)
    ids = enc.encode_ordinary(context)
    return enc.decode(ids[: int(ratio * len(ids))])


def evaluate(
    prompts: Sequence[Prompt], compressor: Compressor, ratio: float, seed: int = 0
) -> dict[str, Any]:
    """The ``compress eval`` report for ``prompts`` at ``ratio`` (fraction of tokens kept)."""
    before = after = retained = retained_full = 0
    elapsed = 0.0
    if prompts:  # load the tokenizer and warm caches outside the timed loop
        compressor.compress(prompts[0].context, prompts[0].question, ratio)
    for prompt in prompts:
        start = time.perf_counter()
        result = compressor.compress(prompt.context, prompt.question, ratio)
        elapsed += time.perf_counter() - start
        before += result.tokens_before
        after += result.tokens_after
        retained += contains_answer(result.text, prompt.answers)
        retained_full += contains_answer(prompt.context, prompt.answers)
    n = len(prompts)
    random_compressor = Compressor(RandomBackend(seed), compressor.encoding)
    return {
        "n": n,
        "ratio_target": ratio,
        "achieved_ratio": round(after / before, 4) if before else 1.0,
        "answer_retention": round(retained / n, 4) if n else 0.0,
        "answer_retention_uncompressed": round(retained_full / n, 4) if n else 0.0,
        "ms_per_1k_tokens": round(elapsed * 1000 / (before / 1000), 3) if before else 0.0,
        "baselines": {
            "truncate": _baseline(
                prompts,
                ratio,
                lambda p: _truncate(p.context, ratio, compressor.encoding),
                compressor,
            ),
            "random": _baseline(
                prompts,
                ratio,
                lambda p: random_compressor.compress(p.context, p.question, ratio).text,
                compressor,
            ),
        },
    }


def _baseline(
    prompts: Sequence[Prompt], ratio: float, shrink: Any, compressor: Compressor
) -> dict[str, float]:
    before = after = retained = 0
    for prompt in prompts:
        text = shrink(prompt)
        before += compressor.count(prompt.context)
        after += compressor.count(text)
        retained += contains_answer(text, prompt.answers)
    n = len(prompts)
    return {
        "achieved_ratio": round(after / before, 4) if before else 1.0,
        "answer_retention": round(retained / n, 4) if n else 0.0,
    }


__all__ = [
    "Prompt",
    "QARow",
    "RandomBackend",
    "build_prompts",
    "contains_answer",
    "evaluate",
    "load_rows",
]
