"""Logistic calibration shared by the text scorer and the CLIP probe: the sigmoid and Platt
scaling (scikit-learn is imported only when fitting, so scoring stays numpy-only)."""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), clipped so large logits do not overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of P = sigmoid(a z + b) fitted on logits `z` (barely regularised); the identity
    map when `y` holds one class only."""
    from sklearn.linear_model import LogisticRegression

    if y.all() or not y.any():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])
