"""How good a router is on labelled data: RouteLLM's metrics and two baselines.

A router orders the prompts by how much they need the strong model; sending the first
``k`` of ``n`` to the strong model and the rest to the weak one gives one point of the
quality-vs-strong-calls curve, from weak-only (0, weak score) to strong-only (1, strong
score). Prompts the router scores equally are one step (it cannot tell them apart), so
ties are the straight line between the two ends of the step, i.e. their expectation in a
random order.

* ``apgr`` (RouteLLM): area under the curve of PGR = (quality - weak) / (strong - weak)
  against the strong-call share. 0.5 is random routing; RouteLLM samples the curve at
  10 quantile thresholds, here every threshold is used (the same area, less noise).
* ``cpt50``/``cpt80`` (RouteLLM "CPT(x)"): the strong-call share needed to recover x of the
  weak→strong quality gap — first crossing, interpolated inside the step.
* ``strong_share_at_95``: the strong-call share at which quality first reaches 95% of the
  strong model's score; ``cost_saving_at_95``: the fraction of the strong-only bill saved
  at that point.

All shares are fractions of calls in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Curve:
    share: np.ndarray  # strong-call share at each step end, from 0 to 1
    quality: np.ndarray  # mean score at that share
    cost: np.ndarray  # total cost at that share (zeros when unpriced)


def routing_curve(
    priority: np.ndarray, strong: np.ndarray, weak: np.ndarray, strong_cost: np.ndarray | None = None,
    weak_cost: np.ndarray | None = None,
) -> Curve:
    """The curve of a router whose ``priority`` is higher for prompts that need strong."""
    n = len(priority)
    if n == 0:
        raise ValueError("no rows to evaluate")
    order = np.argsort(-np.asarray(priority, dtype=np.float64), kind="stable")
    ranked = np.asarray(priority, dtype=np.float64)[order]
    gain = (strong - weak)[order]
    s_cost = np.zeros(n) if strong_cost is None else strong_cost[order]
    w_cost = np.zeros(n) if weak_cost is None else weak_cost[order]
    # Step ends: after the last prompt of each group of equal priorities.
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True)) + 1
    k = np.concatenate([[0], ends])
    cum_gain = np.concatenate([[0.0], np.cumsum(gain)])[k]
    cum_extra = np.concatenate([[0.0], np.cumsum(s_cost - w_cost)])[k]
    return Curve(
        share=k / n,
        quality=(float(weak.sum()) + cum_gain) / n,
        cost=float(w_cost.sum()) + cum_extra,
    )


def apgr(curve: Curve, strong_score: float, weak_score: float) -> float | None:
    gap = strong_score - weak_score
    if gap <= 0:
        return None
    pgr = (curve.quality - weak_score) / gap
    return float(np.sum((pgr[1:] + pgr[:-1]) * np.diff(curve.share)) / 2.0)


def first_share_reaching(curve: Curve, target: float) -> float:
    """Smallest strong-call share at which the (interpolated) curve reaches ``target``."""
    q, x = curve.quality, curve.share
    eps = 1e-12
    if q[0] >= target - eps:
        return 0.0
    above = np.flatnonzero(q >= target - eps)
    if len(above) == 0:
        return 1.0  # only reachable at the strong-only end (rounding)
    i = int(above[0])
    frac = (target - q[i - 1]) / (q[i] - q[i - 1])
    return float(x[i - 1] + frac * (x[i] - x[i - 1]))


def cost_at_share(curve: Curve, share: float) -> float:
    return float(np.interp(share, curve.share, curve.cost))


def cpt(curve: Curve, strong_score: float, weak_score: float, fraction: float) -> float | None:
    gap = strong_score - weak_score
    if gap <= 0:
        return None
    return first_share_reaching(curve, weak_score + fraction * gap)


@dataclass(frozen=True, slots=True)
class RouterScore:
    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    strong_share_at_95: float
    cost_saving_at_95: float | None

    def as_dict(self, digits: int = 4) -> dict[str, float | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, digits)

        return {
            "apgr": r(self.apgr), "cpt50": r(self.cpt50), "cpt80": r(self.cpt80),
            "strong_share_at_95": r(self.strong_share_at_95),
            "cost_saving_at_95": r(self.cost_saving_at_95),
        }


def score_router(
    priority: np.ndarray, strong: np.ndarray, weak: np.ndarray,
    strong_cost: np.ndarray | None = None, weak_cost: np.ndarray | None = None,
) -> RouterScore:
    curve = routing_curve(priority, strong, weak, strong_cost, weak_cost)
    return _score(curve, float(strong.mean()), float(weak.mean()), strong_cost)


def score_random(
    strong: np.ndarray, weak: np.ndarray,
    strong_cost: np.ndarray | None = None, weak_cost: np.ndarray | None = None,
) -> RouterScore:
    """Random routing in expectation: the straight line from weak-only to strong-only."""
    n = len(strong)
    s_total = 0.0 if strong_cost is None else float(strong_cost.sum())
    w_total = 0.0 if weak_cost is None else float(weak_cost.sum())
    curve = Curve(
        share=np.array([0.0, 1.0]),
        quality=np.array([float(weak.sum()) / n, float(strong.sum()) / n]),
        cost=np.array([w_total, s_total]),
    )
    return _score(curve, float(strong.mean()), float(weak.mean()), strong_cost)


def _score(curve: Curve, strong_score: float, weak_score: float, strong_cost: np.ndarray | None) -> RouterScore:
    share95 = first_share_reaching(curve, 0.95 * strong_score)
    saving: float | None = None
    if strong_cost is not None and float(strong_cost.sum()) > 0:
        saving = 1.0 - cost_at_share(curve, share95) / float(strong_cost.sum())
    return RouterScore(
        apgr=apgr(curve, strong_score, weak_score),
        cpt50=cpt(curve, strong_score, weak_score, 0.5),
        cpt80=cpt(curve, strong_score, weak_score, 0.8),
        strong_share_at_95=share95,
        cost_saving_at_95=saving,
    )
