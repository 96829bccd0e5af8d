"""The learned complexity router: P(the weak model's answer is acceptable | prompt).

"Acceptable" is what the router was trained on: the weak model scored at least as well as
the strong one on that prompt (for 0-1 scores, ``1 - max(0, strong - weak)``), i.e. the
complement of RouteLLM's "strong win rate". A request goes to the weak model when that
probability clears the threshold for the caller's ``quality_target`` (the fraction of the
strong model's quality to keep). Thresholds were calibrated when the router was trained,
on out-of-fold predictions, so a higher target never lowers the threshold.

The model is a logistic regression over prompt features and hashed words (``features``),
stored as JSON (``router.json``); it needs only numpy and runs in about a millisecond. A
MiniLM embedding was tried as an extra input and left out: on MMLU domains the router
never saw it added under 0.01 APGR for ten times the latency (``docs/routing.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import features
from .logistic import predict_logistic

FORMAT = "tokenthrift-router/1"
DEFAULT_ROUTER = "default_router.json"


@dataclass(slots=True)
class ComplexityRouter:
    mean: np.ndarray  # scaling of the scalar features
    std: np.ndarray
    weights: np.ndarray  # [scalar features | hashed words]
    bias: float
    hash_buckets: int = features.HASH_BUCKETS
    hash_scale: float = 1.0
    # (quality_target, threshold on P(weak acceptable)), targets increasing.
    calibration: list[tuple[float, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # provenance and training metrics

    # -- inference -------------------------------------------------------------------

    def design(self, prompts: Sequence[str]) -> np.ndarray:
        """The model's input rows for ``prompts``."""
        scalars = (features.feature_matrix(prompts) - self.mean) / self.std
        if not self.hash_buckets:
            return scalars
        return np.hstack([scalars, features.hashed_matrix(prompts, self.hash_buckets) * self.hash_scale])

    def p_weak_ok(self, prompts: Sequence[str]) -> np.ndarray:
        """P(weak answer acceptable) for each prompt."""
        return predict_logistic(self.design(prompts), self.weights, self.bias)

    def probability(self, prompt: str) -> float:
        return float(self.p_weak_ok([prompt])[0])

    def threshold(self, quality_target: float) -> float:
        """P(weak acceptable) a prompt needs to be sent to the weak model."""
        if quality_target >= 1.0 or not self.calibration:
            return float("inf")  # all of the strong model's quality: never the weak one
        targets = [t for t, _ in self.calibration]
        thresholds = [h for _, h in self.calibration]
        return float(np.interp(quality_target, targets, thresholds))

    # -- persistence ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "label": "weak_acceptable",
            "scalar_features": list(features.SCALAR_NAMES),
            "mean": _floats(self.mean), "std": _floats(self.std),
            "hash_buckets": self.hash_buckets, "hash_scale": self.hash_scale,
            "weights": _floats(self.weights), "bias": round(self.bias, 6),
            "calibration": [[round(t, 4), round(h, 6)] for t, h in self.calibration],
            "info": self.info,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str = "router") -> ComplexityRouter:
        if raw.get("format") != FORMAT:
            raise ValueError(f"{source}: not a tokenthrift router (format {raw.get('format')!r})")
        if list(raw["scalar_features"]) != list(features.SCALAR_NAMES):
            raise ValueError(f"{source}: trained on other prompt features; retrain it")
        weights = np.asarray(raw["weights"], dtype=np.float64)
        if len(weights) != len(features.SCALAR_NAMES) + int(raw["hash_buckets"]):
            raise ValueError(f"{source}: {len(weights)} weights do not fit its features")
        return cls(
            mean=np.asarray(raw["mean"], dtype=np.float64),
            std=np.asarray(raw["std"], dtype=np.float64),
            weights=weights,
            bias=float(raw["bias"]),
            hash_buckets=int(raw["hash_buckets"]), hash_scale=float(raw["hash_scale"]),
            calibration=[(float(t), float(h)) for t, h in raw.get("calibration", [])],
            info=dict(raw.get("info") or {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ComplexityRouter:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"router {path}: {exc}") from None
        return cls.from_json(raw, str(path))

    @classmethod
    def default(cls) -> ComplexityRouter:
        """The router shipped with the package (provenance in its ``info``)."""
        text = resources.files(__package__).joinpath(f"data/{DEFAULT_ROUTER}").read_text()
        return cls.from_json(json.loads(text), f"built-in {DEFAULT_ROUTER}")


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
