"""Task type of a request, when the client did not say (``x-tokenthrift-task``).

A softmax regression over hashed words and word pairs of the last user message, plus
its first word (the instruction verb) and a few shape cues (code, length, question
mark). It is trained on a hand-made labelled set (``benchmarks/data/task_prompts.jsonl``,
see ``benchmarks/routing_tasks.py``) and shipped as ``data/task_classifier.json``; it runs
in well under a millisecond. Below ``min_confidence`` it abstains (None), and the routing
policy's default applies instead of a guessed rule.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

TASKS: tuple[str, ...] = (
    "classification", "extraction", "summarization", "translation", "simple_qa",
    "complex_reasoning", "code_generation", "creative_writing", "chat",
)
FORMAT = "tokenthrift-task-classifier/1"
BUCKETS = 2048
DEFAULT_FILE = "task_classifier.json"
_WORD = re.compile(r"[a-z]+|[0-9]+|[^\sa-z0-9]")
# Instruction cues: stems that name the task whatever the template around them. Hashed as
# their own tokens so a new way of asking ("boil this down") still lights up "summar".
_CUES: dict[str, tuple[str, ...]] = {
    "classify": ("classif", "categor", "label", "tag", "sentiment", "spam", "intent", "which category",
                 "positive or negative", "one word", "reply only"),
    "extract": ("extract", "pull out", "find the", "identify", "json", "list the", "get the",
                "parse", "fields", "key: value", "entities"),
    "summarize": ("summar", "tl;dr", "gist", "condense", "brief", "abstract", "key takeaway",
                  "boil", "bullet points", "short summary", "shorten"),
    "translate": ("translat", " in french", " in spanish", " in german", " in english",
                  " in japanese", " to english", " to french", " to spanish", "version of",
                  "how do you say"),
    "code": ("function", "code", "program", "implement", "snippet", "class", "module", "script",
             "python", "javascript", "sql", "rust", " go ", "java", "c++", "typescript", "bug"),
    "create": ("story", "poem", "haiku", "limerick", "lyrics", "novel", "imagine", "bedtime",
               "vividly", "fiction", "creative"),
    "reason": ("step by step", "prove", "solve", "puzzle", "reasoning", "justify", "trade-off",
               "how long", "how much", "conclude", "edge cases", "analys", "weigh"),
    "ask": ("what is", "who wrote", "how many", "what year", "capital of", "quick question",
            "remind me", "do you know", "tell me"),
    "social": ("hi ", "hey", "thanks", "lol", "haha", "how are you", "good morning", "chat", "bored",
               "rough day", "yo "),
}
_CODE = re.compile(r"```|\bdef \w+\(|\bclass \w+|[{};]\s*$|\bfunction\b|=>|#include", re.MULTILINE)


def task_tokens(text: str) -> list[str]:
    """What the classifier reads: words, word pairs, the first word, shape cues."""
    head = text[:2000].lower()
    words = _WORD.findall(head)
    tokens = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if words:
        tokens.append(f"^{words[0]}")
        tokens.extend(f"^^{w}" for w in words[1:4])
    padded = f" {head} "
    for cue, stems in _CUES.items():
        hits = sum(1 for stem in stems if stem in padded)
        # The instruction usually leads: a cue in the first 60 characters counts double.
        early = sum(1 for stem in stems if stem in padded[:60])
        tokens.extend([f"#cue:{cue}"] * (hits + early))
    size = len(text)
    tokens.append("#len<80" if size < 80 else "#len<400" if size < 400 else "#len>=400")
    if _CODE.search(text):
        tokens.append("#code")
    if text.rstrip().endswith("?"):
        tokens.append("#ends?")
    return tokens


def hashed(text: str) -> np.ndarray:
    out = np.zeros(BUCKETS)
    for token in task_tokens(text):
        out[zlib.crc32(token.encode()) % BUCKETS] += 1.0
    norm = float(np.linalg.norm(out))
    return out / norm if norm else out


def design(texts: Sequence[str]) -> np.ndarray:
    return np.vstack([hashed(t) for t in texts]) if texts else np.zeros((0, BUCKETS))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(slots=True)
class TaskClassifier:
    weights: np.ndarray  # (BUCKETS, len(TASKS))
    bias: np.ndarray
    min_confidence: float = 0.5
    info: dict[str, Any] | None = None

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return _softmax(design(texts) @ self.weights + self.bias)

    def classify(self, text: str) -> tuple[str | None, float]:
        """(task, confidence); task is None when the classifier abstains."""
        p = self.probabilities([text])[0]
        best = int(np.argmax(p))
        confidence = float(p[best])
        return (TASKS[best] if confidence >= self.min_confidence else None), confidence

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, l2: float = 1e-4,
            steps: int = 800, rate: float = 20.0, min_confidence: float = 0.5) -> TaskClassifier:
        """Full-batch gradient descent on the softmax cross-entropy (small data: seconds)."""
        x = design(texts)
        y = np.zeros((len(labels), len(TASKS)))
        y[np.arange(len(labels)), [TASKS.index(label) for label in labels]] = 1.0
        w = np.zeros((BUCKETS, len(TASKS)))
        b = np.zeros(len(TASKS))
        for _ in range(steps):
            g = (_softmax(x @ w + b) - y) / len(labels)
            w -= rate * (x.T @ g + l2 * w)
            b -= rate * g.sum(axis=0)
        return cls(w, b, min_confidence)

    def to_json(self) -> dict[str, Any]:
        # Sparse: most hashed buckets never occur in training, so their weights stay 0.
        rows = {str(i): [round(float(v), 5) for v in self.weights[i]]
                for i in np.flatnonzero(np.abs(self.weights).sum(axis=1) > 1e-6)}
        return {"format": FORMAT, "tasks": list(TASKS), "buckets": BUCKETS,
                "min_confidence": self.min_confidence, "bias": [round(float(v), 5) for v in self.bias],
                "rows": rows, "info": self.info or {}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TaskClassifier:
        if raw.get("format") != FORMAT or list(raw["tasks"]) != list(TASKS) or raw["buckets"] != BUCKETS:
            raise ValueError("not a task classifier for this version")
        w = np.zeros((BUCKETS, len(TASKS)))
        for i, row in raw["rows"].items():
            w[int(i)] = row
        return cls(w, np.asarray(raw["bias"]), float(raw["min_confidence"]), dict(raw.get("info") or {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")

    @classmethod
    def default(cls) -> TaskClassifier:
        text = resources.files(__package__).joinpath(f"data/{DEFAULT_FILE}").read_text()
        return cls.from_json(json.loads(text))
