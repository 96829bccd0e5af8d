"""Semantic cache quality: calibration transfer on QQP and guards on adversarial pairs.

    .venv/bin/python benchmarks/semcache_quality.py [--write-table] [--qqp-limit N]

1. QQP dev pairs, split 50/50 (seeded): calibrate on one half, report on the other, for
   target precisions 0.85/0.90/0.95 — raw cosine vs. the default guards vs. the guards and
   the shipped review (``review.py``).
2. Adversarial dev pairs: false-hit rate per kind at the calibrated thresholds, with and
   without guards, and recall on the paraphrase controls; plus each guard alone.

Scores come from ``semantic.evaluation`` — the live decision, not a re-implementation.
``--write-table`` writes ``semantic/data/calibration.json``, the shipped threshold curve
(thresholds only, from the calibration half), for each of the three decisions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from semcache_common import default_embedder, load, pair_vectors, split
from semcache_review import BAND
from tokenthrift.levers.cache.semantic import calibration
from tokenthrift.levers.cache.semantic.decision import VETOED, Decision
from tokenthrift.levers.cache.semantic.evaluation import (
    decision_scores,
    evaluate,
    pair_similarities,
    report,
)
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS, GUARDS
from tokenthrift.levers.cache.semantic.pairs import LabelledPair
from tokenthrift.levers.cache.semantic.review import reviewer_for

TARGETS = (0.85, 0.90, 0.95)
# Adversarial pairs are also scored at a looser target: the paraphrase controls sit at a
# median cosine of 0.885, below what QQP's 0.85 target allows.
ADVERSARIAL_TARGETS = (0.70, 0.85, 0.90)
TABLE = Path(__file__).resolve().parents[1] / "src/tokenthrift/levers/cache/semantic/data/calibration.json"


FLOOR = 0.50  # the shipped curve starts here
REVIEW_BAND = BAND  # the review's curve starts where its fit data does
_SCORES: dict[tuple[str, int], np.ndarray] = {}


def decisions() -> list[tuple[str, Decision]]:
    """The decisions compared: raw cosine, the default guards, guards + the shipped review."""
    reviewer = reviewer_for(default_embedder())
    return [("raw cosine", Decision(1.0, ())), ("with guards", Decision(1.0, DEFAULT_GUARDS)),
            ("guards + review", Decision(1.0, DEFAULT_GUARDS, reviewer))]


def scores_of(name: str, decision: Decision, pairs: list[LabelledPair], sims: np.ndarray) -> np.ndarray:
    """``decision_scores``, once per decision and pairs list (the review embeds every pair).
    With the review, only similarities from ``REVIEW_BAND`` up count: the review was fitted
    on those, so no calibrated threshold goes below them."""
    key = (name, id(pairs))
    if key not in _SCORES:
        floor = FLOOR if decision.reviewer is None else REVIEW_BAND
        scores = decision_scores(decision, pairs, sims, floor=floor)
        scores[scores < floor] = VETOED
        _SCORES[key] = scores
    return _SCORES[key]


def labels_of(pairs: list[LabelledPair]) -> np.ndarray:
    return np.array([p.label for p in pairs], dtype=np.int64)


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    points = calibration.curve(scores, labels)
    reached = [p for p in points if p.recall >= recall]
    return reached[0].precision if reached else float("nan")


def ceiling(scores: np.ndarray, labels: np.ndarray) -> calibration.CurvePoint:
    """The highest precision measured on at least 50 hits (fewer is noise)."""
    points = [p for p in calibration.curve(scores, labels) if p.hits >= 50]
    return max(points, key=lambda p: (p.precision, p.recall))


def qqp_section(cal: list[LabelledPair], held: list[LabelledPair], sims_cal: np.ndarray,
                sims_held: np.ndarray) -> tuple[list[str], dict[str, dict[float, float]]]:
    lines = ["| decision | target | threshold | cal. precision | held-aside precision | held-aside recall | |Δ| ≤ 0.02 |",
             "|---|---|---|---|---|---|---|"]
    thresholds: dict[str, dict[float, float]] = {}
    for name, decision in decisions():
        scores_cal = scores_of(name, decision, cal, sims_cal)
        thresholds[name] = {
            t: calibration.calibrate(scores_cal, labels_of(cal), t).threshold for t in ADVERSARIAL_TARGETS
        }
        for target in TARGETS:
            found = calibration.calibrate(scores_cal, labels_of(cal), target)
            thresholds[name][target] = found.threshold
            held_report = report(held, scores_of(name, decision, held, sims_held) >= found.threshold)
            if not found.reachable:
                lines.append(f"| {name} | {target:.2f} | — | unreachable: ceiling {found.precision:.3f} "
                             f"at recall {found.recall:.3f} (t={found.threshold:.4f}) | "
                             f"{held_report.precision or 0:.3f} | {held_report.recall or 0:.3f} | n/a |")
                continue
            delta = abs((held_report.precision or 0) - target)
            lines.append(f"| {name} | {target:.2f} | {found.threshold:.4f} | {found.precision:.3f} | "
                         f"{held_report.precision or 0:.3f} | {held_report.recall or 0:.3f} | "
                         f"{'yes' if delta <= 0.02 else f'no ({delta:.3f})'} |")
    return lines, thresholds


def qqp_ceiling_lines(held: list[LabelledPair], sims_held: np.ndarray) -> list[str]:
    lines = ["| decision | precision at recall 0.05 | at recall 0.10 | at recall 0.20 | at recall 0.30 | best precision (recall) |",
             "|---|---|---|---|---|---|"]
    labels = labels_of(held)
    for name, decision in decisions():
        scores = scores_of(name, decision, held, sims_held)
        at = [precision_at_recall(scores, labels, r) for r in (0.05, 0.10, 0.20, 0.30)]
        best = ceiling(scores, labels)
        lines.append(f"| {name} | " + " | ".join(f"{p:.3f}" for p in at)
                     + f" | {best.precision:.3f} ({best.recall:.3f}) |")
    return lines


def adversarial_section(adv: list[LabelledPair], sims: np.ndarray, thresholds: dict[str, dict[float, float]],
                        target: float) -> list[str]:
    kinds = sorted({p.kind for p in adv if p.kind})
    lines = [f"At the threshold calibrated on the QQP half for target precision {target:.2f}.", "",
             "| decision | threshold | " + " | ".join(
                 f"{k} {'recall' if k == 'paraphrase_control' else 'false hits'}" for k in kinds) + " |",
             "|---|---|" + "---|" * len(kinds)]
    reviewer = decisions()[2][1].reviewer
    rows = [("raw cosine", Decision(thresholds["raw cosine"][target], ())),
            ("with guards", Decision(thresholds["with guards"][target], DEFAULT_GUARDS)),
            ("guards + review", Decision(thresholds["guards + review"][target], DEFAULT_GUARDS, reviewer))]
    base = thresholds["with guards"][target]
    rows += [(f"only `{g}`", Decision(base, (g,))) for g in GUARDS]
    rows += [(f"all but `{g}`", Decision(base, tuple(x for x in DEFAULT_GUARDS if x != g)))
             for g in DEFAULT_GUARDS]
    for name, decision in rows:
        threshold = decision.threshold
        result = evaluate(decision, adv, sims)
        cells = [f"{result.by_kind[k].hit_rate:.3f}" for k in kinds]
        lines.append(f"| {name} | {threshold:.4f} | " + " | ".join(cells) + " |")
    return lines


def guard_veto_lines(pairs: list[LabelledPair], sims: np.ndarray, threshold: float) -> list[str]:
    """What each guard removes from the raw-cosine hits on the QQP held-aside half."""
    lines = ["| guard | raw hits it vetoes | of which label 1 (lost recall) | of which label 0 (false hits removed) |",
             "|---|---|---|---|"]
    labels = labels_of(pairs)
    raw_hits = sims >= threshold
    for g in GUARDS:
        vetoed = np.array([bool(raw_hits[i]) and Decision(threshold, (g,)).veto(p.text_a, p.text_b) is not None
                           for i, p in enumerate(pairs)])
        lines.append(f"| `{g}` | {int(vetoed.sum())} | {int((vetoed & (labels == 1)).sum())} | "
                     f"{int((vetoed & (labels == 0)).sum())} |")
    return lines


def write_table(cal: list[LabelledPair], sims_cal: np.ndarray, embedder: str) -> None:
    curves: dict[str, list[dict[str, float]]] = {}
    keys = {"raw cosine": "raw", "with guards": "guarded", "guards + review": "reviewed"}
    for name, decision in decisions():
        key = keys[name]
        scores = scores_of(name, decision, cal, sims_cal)
        points = calibration.curve(scores, labels_of(cal))
        curves[key] = []
        start = FLOOR if decision.reviewer is None else REVIEW_BAND
        for t in np.arange(start, 1.0001, 0.0025):  # a 0.0025 grid: enough to pick a threshold
            above = [p for p in points if p.threshold >= t]
            if above and above[-1].hits >= calibration.MIN_HITS:
                p = above[-1]
                curves[key].append({"threshold": round(float(t), 4), "precision": round(p.precision, 4),
                                    "lower_bound": round(p.lower_bound, 4), "recall": round(p.recall, 4),
                                    "hits": p.hits})
    source = {"pairs": "QQP dev (GPTCache packaging), calibration half of a seeded 50/50 split",
              "n_pairs": len(cal), "made_by": "benchmarks/semcache_quality.py --write-table"}
    # One curve point a line: a reviewable diff when the table is regenerated.
    lines = ["{", f" {json.dumps(embedder)}: {{", f'  "guards": {json.dumps(list(DEFAULT_GUARDS))},']
    for key, kept in curves.items():
        rows = ",\n".join("    " + json.dumps(p) for p in kept)
        lines.append(f'  "{key}": [\n{rows}\n  ],')
    lines += [f'  "source": {json.dumps(source)}', " }", "}"]
    TABLE.write_text("\n".join(lines) + "\n")
    print(f"wrote {TABLE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qqp-limit", type=int, default=None, help="use a seeded sample of QQP pairs")
    parser.add_argument("--write-table", action="store_true")
    args = parser.parse_args()
    embedder = default_embedder()
    started = time.perf_counter()
    qqp = load("qqp_pairs_dev.jsonl", args.qqp_limit)
    qa, qb = pair_vectors(embedder, qqp, "qqp" if args.qqp_limit is None else f"qqp{args.qqp_limit}")
    sims = pair_similarities(qa, qb)
    index = {id(p): i for i, p in enumerate(qqp)}
    cal, held = split(qqp)
    sims_cal = sims[[index[id(p)] for p in cal]]
    sims_held = sims[[index[id(p)] for p in held]]
    if args.write_table:
        write_table(cal, sims_cal, embedder.name)
    print(f"## QQP: {len(qqp)} pairs, calibrate on {len(cal)}, report on {len(held)}\n")
    lines, thresholds = qqp_section(cal, held, sims_cal, sims_held)
    print("\n".join(lines) + "\n")
    print("\n".join(qqp_ceiling_lines(held, sims_held)) + "\n")
    print("\n".join(guard_veto_lines(held, sims_held, thresholds["raw cosine"][0.85])) + "\n")
    adv = load("adversarial_pairs_dev.jsonl")
    aa, ab = pair_vectors(embedder, adv, "adversarial")
    adv_sims = pair_similarities(aa, ab)
    for kind in sorted({p.kind for p in adv if p.kind}):
        rows = [i for i, p in enumerate(adv) if p.kind == kind]
        print(f"adversarial {kind}: median cosine {np.median(adv_sims[rows]):.3f}")
    for target in ADVERSARIAL_TARGETS:
        print("\n## Adversarial pairs\n")
        print("\n".join(adversarial_section(adv, adv_sims, thresholds, target)) + "\n")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
