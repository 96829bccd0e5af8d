"""The review: a second look, with the embedder, at a candidate the threshold and the
guards let through. It runs only on a would-be hit (one forward pass over the two texts).

Two checks, both shipped per embedder in ``data/review.json``:

* ``pair_model`` — a logistic model over ten measurements of the pair: the similarity;
  how long the shorter and the longer text are; how well the worst-matched and the
  average word of each text is matched by some word of the other (the encoder's
  contextual word-piece vectors, compared one by one instead of averaged away); how many
  meaningful words each side has that the other lacks, and how much they share; whether
  only one side adds words; whether both open with the same word. One cosine threshold
  cannot serve short questions and long prompts at once: a one-word change in a short
  question ("…protein powder" / "…protein powder for women") costs little similarity,
  while a reworded long prompt costs a lot. ``benchmarks/semcache_review.py`` fits it on
  the calibration half of QQP and the development LLM-prompt pairs, and reports it on
  the held-aside half, the fresh pairs and the adversarial set.
* ``changed_part`` — two texts that share a long run of words (an attached text, the
  context of a support message) embed alike whatever the rest says: "Extract the
  *customer name* from this invoice: …" / "Extract the *total* from this invoice: …".
  The words outside the shared runs are embedded on their own and must still be alike.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .embedders import Embeddings
from .lexicon import words
from .template import content_words
from .textfeatures import features

_TABLE = Path(__file__).parent / "data" / "review.json"
_CHUNK = 1024  # pairs per batch when many are reviewed at once (evaluation)

FEATURES = (
    "similarity",
    "log_words_shorter",
    "log_words_longer",
    "worst_word_alignment",
    "mean_word_alignment",
    "new_words_fewer_side",
    "new_words_more_side",
    "shared_word_share",
    "one_side_adds",
    "same_opening",
)


class TokenEmbedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Embeddings: ...

    def token_states(self, texts: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]: ...


@dataclass(frozen=True, slots=True)
class ReviewModel:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    min_probability: float  # a pair the model rates below this is rejected
    shared_run_words: int  # a run of this many words in common makes a shared part
    min_changed_similarity: float  # the parts outside it must be at least this alike

    def probability(self, measurements: np.ndarray) -> np.ndarray:
        """P(same request) for each row of ``measurements`` (columns in FEATURES order)."""
        z = (measurements - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURES), "mean": list(self.mean), "scale": list(self.scale),
            "weights": list(self.weights), "bias": self.bias,
            "min_probability": self.min_probability, "shared_run_words": self.shared_run_words,
            "min_changed_similarity": self.min_changed_similarity,
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> ReviewModel:
        if list(raw["features"]) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError("review model: its features are not this version's")
        return cls(
            mean=tuple(raw["mean"]), scale=tuple(raw["scale"]),  # type: ignore[arg-type]
            weights=tuple(raw["weights"]), bias=float(raw["bias"]),  # type: ignore[arg-type]
            min_probability=float(raw["min_probability"]),  # type: ignore[arg-type]
            shared_run_words=int(raw["shared_run_words"]),  # type: ignore[call-overload]
            min_changed_similarity=float(raw["min_changed_similarity"]),  # type: ignore[arg-type]
        )


@lru_cache(maxsize=4)
def shipped_model(embedder: str) -> ReviewModel | None:
    """The model shipped for ``embedder``, or None (another embedder is not reviewed)."""
    if not _TABLE.is_file():
        return None
    entry = json.loads(_TABLE.read_text()).get(embedder)
    return ReviewModel.from_json(entry) if entry else None


WordStates = tuple[tuple[str, ...], np.ndarray]  # word pieces and their vectors


def measure(query: str, candidate: str, similarity: float, query_states: WordStates,
            candidate_states: WordStates) -> list[float]:
    """The pair's measurements, in FEATURES order."""
    a, b = features(query).tokens, features(candidate).tokens
    words_a = sum(1 for t in a if t[0].isalnum()) or 1
    words_b = sum(1 for t in b if t[0].isalnum()) or 1
    worst, mean = _alignment(_without_fillers(query_states), _without_fillers(candidate_states))
    content_a, content_b = set(content_words(a)), set(content_words(b))
    new_a, new_b = len(content_a - content_b), len(content_b - content_a)
    union = content_a | content_b
    opening_a = next((t for t in a if t[0].isalnum()), "")
    opening_b = next((t for t in b if t[0].isalnum()), "")
    return [
        similarity,
        math.log(min(words_a, words_b)),
        math.log(max(words_a, words_b)),
        worst,
        mean,
        float(min(new_a, new_b)),
        float(max(new_a, new_b)),
        len(content_a & content_b) / len(union) if union else 1.0,
        float(min(new_a, new_b) == 0 < max(new_a, new_b)),
        float(opening_a == opening_b),
    ]


# Words that never change what is asked: a filler left without a counterpart ("Do you
# *guys* ship to Canada?") says nothing about the request.
FILLERS = words("""please pls plz kindly guys just actually really basically hi hello hey
thanks thank ok okay anyway anyways cheers""")


def _without_fillers(states: WordStates) -> np.ndarray:
    pieces, vectors = states
    keep = [i for i, piece in enumerate(pieces)
            if piece not in FILLERS or (i + 1 < len(pieces) and pieces[i + 1].startswith("##"))]
    return vectors[keep] if len(keep) < len(pieces) else vectors


def _alignment(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(worst, mean) over the word pieces of both texts of each piece's best match in the
    other text."""
    if not len(a) or not len(b):
        return 1.0, 1.0
    similarity = a @ b.T
    best_a, best_b = similarity.max(axis=1), similarity.max(axis=0)
    return (float(min(best_a.min(), best_b.min())),
            float((best_a.mean() + best_b.mean()) / 2))


def changed_parts(query: str, candidate: str, run_words: int) -> tuple[str, str] | None:
    """The words of each text outside the runs of ``run_words`` or more words they share,
    when there is such a run and both sides have words outside it; else None."""
    a, b = query.split(), candidate.split()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    runs = [m for m in matcher.get_matching_blocks() if m.size >= run_words]
    if not runs:
        return None
    keep_a, keep_b = [True] * len(a), [True] * len(b)
    for run in runs:
        keep_a[run.a : run.a + run.size] = [False] * run.size
        keep_b[run.b : run.b + run.size] = [False] * run.size
    rest_a = " ".join(w for w, k in zip(a, keep_a, strict=True) if k)
    rest_b = " ".join(w for w, k in zip(b, keep_b, strict=True) if k)
    return (rest_a, rest_b) if rest_a and rest_b else None


class Reviewer:
    def __init__(self, embedder: TokenEmbedder, model: ReviewModel):
        self.embedder = embedder
        self.model = model

    def verdict(self, query: str, candidate: str, similarity: float) -> str | None:
        """None when the pair passes, else the check that rejects it."""
        return self.verdicts([(query, candidate)], [similarity])[0]

    def verdicts(self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float]
                 ) -> list[str | None]:
        """``verdict`` for many pairs, embedding each distinct text once per batch."""
        out: list[str | None] = []
        for start in range(0, len(pairs), _CHUNK):
            out.extend(self._verdicts(pairs[start : start + _CHUNK],
                                      similarities[start : start + _CHUNK]))
        return out

    def measurements(self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float]
                     ) -> np.ndarray:
        """The FEATURES of each pair (what the model is fitted on)."""
        texts = sorted({t for pair in pairs for t in pair})
        states = dict(zip(texts, self.embedder.token_states(texts), strict=True))
        return np.array([measure(a, b, float(s), states[a], states[b])
                         for (a, b), s in zip(pairs, similarities, strict=True)],
                        dtype=np.float64).reshape(len(pairs), len(FEATURES))

    def changed_similarities(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """For each pair with a shared part, how alike the rest of the two texts is."""
        parts = [changed_parts(a, b, self.model.shared_run_words) for a, b in pairs]
        texts = sorted({t for p in parts if p for t in p})
        if not texts:
            return [None] * len(pairs)
        vectors = self.embedder.embed(texts).vectors
        row = {t: i for i, t in enumerate(texts)}
        return [float(vectors[row[p[0]]] @ vectors[row[p[1]]]) if p else None for p in parts]

    def _verdicts(self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float]
                  ) -> list[str | None]:
        # Identical texts pass unlooked; the changed part is embedded only for pairs the
        # model passes (a live lookup pays one forward pass less when the model refuses).
        out: list[str | None] = [None] * len(pairs)
        rows = [i for i, (a, b) in enumerate(pairs) if a != b]
        if not rows:
            return out
        probability = self.model.probability(
            self.measurements([pairs[i] for i in rows], [similarities[i] for i in rows]))
        passed = []
        for i, p in zip(rows, probability, strict=True):
            if p < self.model.min_probability:
                out[i] = "pair_model"
            else:
                passed.append(i)
        changed = self.changed_similarities([pairs[i] for i in passed])
        for i, rest in zip(passed, changed, strict=True):
            if rest is not None and rest < self.model.min_changed_similarity:
                out[i] = "changed_part"
        return out


def reviewer_for(embedder: object) -> Reviewer | None:
    """The shipped review for ``embedder``, when one ships and it exposes word vectors."""
    name = getattr(embedder, "name", None)
    model = shipped_model(name) if isinstance(name, str) else None
    if model is None or not callable(getattr(embedder, "token_states", None)):
        return None
    return Reviewer(embedder, model)  # type: ignore[arg-type]


__all__ = ["FEATURES", "ReviewModel", "Reviewer", "changed_parts", "measure", "reviewer_for",
           "shipped_model"]
