"""Training a complexity router on labelled prompts (``tokenthrift router train``).

Model selection is honest about transfer: the candidates (feature sets x L2 strengths)
are compared by cross-validation whose folds hold out whole *groups* — the CSV files,
which in RouteLLM's MMLU data are subject domains — so the chosen model is the one that
ranks prompts of a domain it has not seen best (APGR of the out-of-fold predictions).
The ``quality_target`` thresholds are calibrated on those same out-of-fold predictions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import features
from .data import LabelledPrompts
from .logistic import fit_logistic, predict_logistic
from .metrics import score_router
from .router import ComplexityRouter

# Quality targets the thresholds are calibrated for (interpolated in between).
TARGETS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))
# Strong penalties win on unseen domains: the model must lean on the few signals that
# transfer (length, maths, statement pairs) rather than on words of the training domains.
L2_GRID = (10.0, 100.0, 1000.0, 10000.0)
WORDS_L2_GRID = (1000.0, 10000.0)
HASH_SCALE = 3.0


@dataclass(frozen=True, slots=True)
class Candidate:
    hashed: bool
    l2: float

    @property
    def name(self) -> str:
        return f"{'features+words' if self.hashed else 'features'} l2={self.l2:g}"


def acceptable(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Training label: 1 when the weak answer is as good as the strong one (soft for scores)."""
    return np.clip(1.0 - (strong - weak), 0.0, 1.0)


def fold_ids(groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold of each row: whole groups per fold when there are enough groups, else rows."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    if len(names) >= folds:
        shuffled = [names[i] for i in rng.permutation(len(names))]
        fold_of = {name: i % folds for i, name in enumerate(shuffled)}
        return np.array([fold_of[g] for g in groups])
    return rng.permutation(len(groups)) % folds


def calibrate(p_ok: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> list[tuple[float, float]]:
    """For each target: the lowest P(weak ok) threshold keeping quality ≥ target x strong.

    Prompts go weak most-acceptable first; the threshold stops before the first prefix
    whose quality loss exceeds the budget (1 - target) x strong total."""
    order = np.argsort(-p_ok, kind="stable")
    ranked = p_ok[order]
    worst_loss = np.maximum.accumulate(np.cumsum((strong - weak)[order]))
    total = float(strong.sum())
    table = []
    for target in TARGETS:
        m = int(np.searchsorted(worst_loss, (1.0 - target) * total + 1e-9, side="right"))
        if m == 0:
            threshold = float(np.nextafter(ranked[0], np.inf))
        elif m == len(ranked):
            threshold = 0.0  # the weak model alone meets the target: every prompt goes weak
        elif ranked[m - 1] > ranked[m]:
            threshold = float((ranked[m - 1] + ranked[m]) / 2)
        else:  # a tie straddles the budget: leave the whole tie on the strong side
            threshold = float(np.nextafter(ranked[m - 1], np.inf))
        table.append((target, threshold))
    monotone = np.maximum.accumulate([h for _, h in table])
    return [(t, float(h)) for (t, _), h in zip(table, monotone, strict=True)]


@dataclass(slots=True)
class Design:
    """The training matrix, built once and sliced per candidate."""

    scalars: np.ndarray
    hashed: np.ndarray

    def matrix(self, candidate: Candidate, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        scaled = (self.scalars - mean) / std
        return np.hstack([scaled, self.hashed * HASH_SCALE]) if candidate.hashed else scaled


def candidates(words: bool = True) -> list[Candidate]:
    found = [Candidate(False, l2) for l2 in L2_GRID]
    return found + ([Candidate(True, l2) for l2 in WORDS_L2_GRID] if words else [])


def train_router(
    data: LabelledPrompts, *, folds: int = 5, seed: int = 0, source: str = "", words: bool = True,
) -> ComplexityRouter:
    """Pick a candidate by grouped cross-validation, refit it on everything, calibrate."""
    hashed = features.hashed_matrix(data.prompts) if words else np.zeros((len(data), 0))
    design = Design(features.feature_matrix(data.prompts), hashed)
    mean = design.scalars.mean(axis=0)
    std = design.scalars.std(axis=0)
    std[std < 1e-6] = 1.0  # a constant column: nothing to scale
    y = acceptable(data.strong, data.weak)
    fold = fold_ids(data.groups or ["all"] * len(data), folds, seed)
    results: dict[str, float] = {}
    best: tuple[float, Candidate, np.ndarray] | None = None
    for candidate in candidates(words):
        x = design.matrix(candidate, mean, std)
        oof = np.zeros(len(data))
        for k in range(folds):
            held = fold == k
            if held.all() or not held.any():
                continue
            w, b = fit_logistic(x[~held], y[~held], l2=candidate.l2)
            oof[held] = predict_logistic(x[held], w, b)
        apgr = score_router(-oof, data.strong, data.weak).apgr or 0.0
        results[candidate.name] = round(apgr, 4)
        if best is None or apgr > best[0]:
            best = (apgr, candidate, oof)
    assert best is not None
    cv_apgr, chosen, oof = best
    weights, bias = fit_logistic(design.matrix(chosen, mean, std), y, l2=chosen.l2)
    return ComplexityRouter(
        mean=mean, std=std, weights=weights, bias=bias,
        hash_buckets=features.HASH_BUCKETS if chosen.hashed else 0, hash_scale=HASH_SCALE,
        calibration=calibrate(oof, data.strong, data.weak),
        info={
            "trained_on": source, "rows": len(data), "groups": len(set(data.groups)),
            "dropped_contaminated": data.dropped_contaminated,
            "strong_score": round(float(data.strong.mean()), 4),
            "weak_score": round(float(data.weak.mean()), 4),
            "chosen": chosen.name, "cv_folds": folds, "cv_apgr": round(cv_apgr, 4),
            "cv_candidates": results, "trained_at": dt.date.today().isoformat(),
        },
    )
