"""Scoring labelled pairs with the live decision (what ``cache eval``/``calibrate`` run).

A pair (a, b) is scored as a lookup of ``a`` that finds the stored entry ``b``: the same
embedder, the same float16 similarity the index computes (``index.as_stored``; a graph
partition's own kernel agrees to ~1e-4), and the same ``Decision.verdict`` the matcher
calls — so the numbers are what the cache would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .decision import VETOED, Decision
from .embedders import Embedder
from .index import as_stored
from .pairs import LabelledPair


@dataclass(frozen=True, slots=True)
class KindReport:
    pairs: int
    hit_rate: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    pairs: int
    precision: float | None  # None when nothing was a hit
    recall: float | None  # None when no pair is labelled 1
    false_hit_rate: float | None  # wrong hits / label-0 pairs; None when there are none
    hits: int
    by_kind: dict[str, KindReport] = field(default_factory=dict)


def similarities(embedder: Embedder, pairs: Sequence[LabelledPair]) -> np.ndarray:
    """Cosine of each pair, embedding every distinct text once."""
    texts = sorted({p.text_a for p in pairs} | {p.text_b for p in pairs})
    vectors = embedder.embed(texts).vectors
    row = {t: i for i, t in enumerate(texts)}
    return pair_similarities(vectors[[row[p.text_a] for p in pairs]], vectors[[row[p.text_b] for p in pairs]])


def pair_similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine as the index computes it: float16-stored vectors, float32 dot."""
    return np.einsum("ij,ij->i", as_stored(a), as_stored(b))


def decision_scores(decision: Decision, pairs: Sequence[LabelledPair], sims: np.ndarray,
                    floor: float = -np.inf) -> np.ndarray:
    """Similarity, or -inf where a guard vetoes or the review rejects: calibration sweeps
    its threshold over these. Pairs below ``floor`` are not reviewed (no threshold at or
    above it can make them hits), which spares the review's forward passes."""
    scores = np.array([
        VETOED if decision.veto(p.text_a, p.text_b) else float(s)
        for p, s in zip(pairs, sims, strict=True)
    ])
    if decision.reviewer is not None:
        rows = [int(i) for i in np.flatnonzero(np.isfinite(scores) & (scores >= floor))]
        verdicts = decision.reviewer.verdicts([(pairs[i].text_a, pairs[i].text_b) for i in rows],
                                              [float(sims[i]) for i in rows])
        for i, verdict in zip(rows, verdicts, strict=True):
            if verdict is not None:
                scores[i] = VETOED
    return scores


def evaluate(decision: Decision, pairs: Sequence[LabelledPair], sims: np.ndarray) -> EvalReport:
    # The same verdict as ``Decision.accepts`` pair by pair, with the review batched.
    scores = decision_scores(decision, pairs, sims, floor=decision.threshold)
    return report(pairs, scores >= decision.threshold)


def report(pairs: Sequence[LabelledPair], hits: np.ndarray) -> EvalReport:
    labels = np.array([p.label for p in pairs], dtype=bool)
    n_hits, good = int(hits.sum()), int((hits & labels).sum())
    negatives = int((~labels).sum())
    kinds: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        if p.kind is not None:
            kinds.setdefault(p.kind, []).append(i)
    by_kind = {
        kind: KindReport(len(rows), float(hits[rows].mean())) for kind, rows in sorted(kinds.items())
    }
    return EvalReport(
        pairs=len(pairs),
        precision=good / n_hits if n_hits else None,
        recall=good / int(labels.sum()) if labels.any() else None,
        false_hit_rate=(n_hits - good) / negatives if negatives else None,
        hits=n_hits,
        by_kind=by_kind,
    )
