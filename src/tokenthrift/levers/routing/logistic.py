"""L2-regularised logistic regression in numpy (Newton's method), with fractional labels.

Small on purpose: the router has about a thousand inputs and a few thousand rows, for
which a handful of Newton steps converge exactly in well under a second.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free form of 1 / (1 + e^-z)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, sample_weight: np.ndarray | None = None,
    max_iter: int = 50, tol: float = 1e-7,
) -> tuple[np.ndarray, float]:
    """Weights and bias minimising weighted log-loss + ``l2/2 * |w|^2`` (bias unpenalised).

    ``y`` may hold fractions in [0, 1] (a 0-1 quality score as a soft label)."""
    n, d = x.shape
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    ridge = np.full(d + 1, l2)
    ridge[-1] = 1e-9  # keeps the Hessian invertible when a column is constant
    for _ in range(max_iter):
        p = sigmoid(xb @ theta)
        gradient = xb.T @ (weight * (p - y)) + ridge * theta
        hessian = (xb * (weight * p * (1.0 - p))[:, None]).T @ xb + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.max(np.abs(step))) < tol:
            break
    return theta[:-1], float(theta[-1])


def predict_logistic(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return sigmoid(x @ weights + bias)
