"""Thresholds from labelled pairs: the lowest threshold whose precision holds for a target.

Calibration sweeps the threshold over the decision scores of labelled pairs (similarity,
or -inf where a guard vetoes) and picks the lowest threshold at which a *Wilson lower
bound* of the precision reaches the target. The bound is half a standard error below the
estimate (z = 0.5): the point estimate undershoots on new data about half the time, and a
95% bound (z = 1.645) overshoots by up to 0.04 on 30k QQP pairs — over 8 random 50/50
splits of QQP dev, z = 0.5 kept the held-aside precision within 0.02 of the target every
time (mean +0.006). On a small file the margin grows, as it should. A target the data
cannot reach is reported with the best precision reachable and the recall there.

``shipped_threshold`` maps a ``target_precision`` in the config to a threshold through
``data/calibration.json``: the precision/recall curve of the default embedder, with and
without guards, measured by ``benchmarks/semcache_quality.py`` on the calibration half of
a labelled-pairs file. Only that curve (thresholds) ships; nothing is trained on the pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_TABLE = Path(__file__).parent / "data" / "calibration.json"
_DEFAULTS = Path(__file__).parent / "data" / "defaults.json"
MARGIN_Z = 0.5
MIN_HITS = 10  # below this many hits a precision says nothing, whatever its bound


@dataclass(frozen=True, slots=True)
class Calibration:
    target_precision: float
    reachable: bool
    threshold: float  # at the target, or at the best reachable precision when unreachable
    precision: float  # measured on the pairs, at ``threshold``
    precision_lower_bound: float
    recall: float
    pairs: int
    hits: int


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float
    precision: float
    lower_bound: float
    recall: float
    hits: int


def wilson_lower_bound(successes: int, trials: int, z: float = MARGIN_Z) -> float:
    if trials == 0:
        return 0.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - margin) / denominator


def curve(scores: np.ndarray, labels: np.ndarray) -> list[CurvePoint]:
    """Precision/recall at every distinct score, highest threshold first (vetoed pairs,
    score -inf, are never hits)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order].astype(np.int64)
    finite = np.isfinite(sorted_scores)
    sorted_scores, sorted_labels = sorted_scores[finite], sorted_labels[finite]
    positives = int(labels.sum())
    true_hits = np.cumsum(sorted_labels)
    # Only the last index of a run of equal scores is a threshold one can set.
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True] if len(sorted_scores) else []
    points: list[CurvePoint] = []
    for i in np.flatnonzero(last):
        hits, good = int(i + 1), int(true_hits[i])
        points.append(CurvePoint(
            threshold=float(sorted_scores[i]),
            precision=good / hits,
            lower_bound=wilson_lower_bound(good, hits),
            recall=good / positives if positives else 0.0,
            hits=hits,
        ))
    return points


def calibrate(scores: np.ndarray, labels: np.ndarray, target_precision: float) -> Calibration:
    points = curve(scores, labels)
    passing = [p for p in points if p.hits >= MIN_HITS and p.lower_bound >= target_precision]
    reachable = bool(passing)
    if passing:
        chosen = min(passing, key=lambda p: p.threshold)
    else:
        counted = [p for p in points if p.hits >= MIN_HITS] or points
        if not counted:
            return Calibration(target_precision, False, 1.0, 0.0, 0.0, 0.0, len(labels), 0)
        # The best precision this data supports: ranked by the lower bound, so ten lucky
        # hits at the very top do not pass for a ceiling.
        chosen = max(counted, key=lambda p: (p.lower_bound, p.recall))
    return Calibration(
        target_precision=target_precision,
        reachable=reachable,
        threshold=chosen.threshold,
        precision=chosen.precision,
        precision_lower_bound=chosen.lower_bound,
        recall=chosen.recall,
        pairs=len(labels),
        hits=chosen.hits,
    )


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    if not _TABLE.is_file():
        return {}
    return dict(json.loads(_TABLE.read_text()))


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    if not _DEFAULTS.is_file():
        return {}
    return dict(json.loads(_DEFAULTS.read_text()))


def default_threshold(embedder: str, guards: tuple[str, ...], reviewed: bool = False) -> float | None:
    """The threshold shipped for ``embedder`` when the config sets neither ``threshold``
    nor ``target_precision`` (``data/defaults.json``: chosen on the development LLM-prompt
    pairs), with the review or, when it is off, ``threshold_without_review``. None when
    nothing ships for this embedder or the guards in use lack one it was chosen with (the
    pairs it was chosen on would then hit more often)."""
    chosen = _defaults().get(embedder)
    if not chosen or not set(guards) >= set(chosen["guards"]):
        return None
    if chosen.get("review", False) and not reviewed:
        unreviewed = chosen.get("threshold_without_review")
        return None if unreviewed is None else float(unreviewed)
    return float(chosen["threshold"])


def shipped_threshold(embedder: str, guards: tuple[str, ...], target_precision: float,
                      reviewed: bool = False) -> float:
    """The threshold the shipped curve gives for ``target_precision``; ValueError if none."""
    curves = _table().get(embedder)
    if not curves:
        raise ValueError(
            f"cache.semantic: no calibration ships for embedder {embedder!r}; run "
            "`tokenthrift cache calibrate --pairs YOUR_PAIRS.jsonl --target-precision P` "
            "and set cache.semantic.threshold"
        )
    # With guards (and the review), their curve; a different guard set falls back to the
    # raw-cosine curve, and a review without its curve to the guarded one: the
    # conservative choices (guards and the review only ever take hits away).
    guarded = bool(guards) and set(guards) >= set(curves.get("guards", []))
    key = "raw"
    if guarded:
        key = "reviewed" if reviewed and "reviewed" in curves else "guarded"
    points = [CurvePoint(**p) for p in curves[key]]
    passing = [p for p in points if p.lower_bound >= target_precision]
    if not passing:
        best = max(points, key=lambda p: p.lower_bound)
        raise ValueError(
            f"cache.semantic.target_precision {target_precision} is above what embedder "
            f"{embedder!r} reaches on its calibration data ({key}: precision "
            f"{best.precision:.3f} at recall {best.recall:.3f}); lower the target, or calibrate "
            "on your own pairs and set cache.semantic.threshold"
        )
    return min(p.threshold for p in passing)
