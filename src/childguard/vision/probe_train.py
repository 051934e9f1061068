"""Train the CLIP linear probe: logistic regression on unit vectors, cross-validated, calibrated.

1. Stratified K-fold cross-validation (shuffled with the seed) gives every labelled row an
   out-of-fold logit from a model that never saw it.
2. Platt scaling (`sigmoid(a * logit + c)`) is fitted on the out-of-fold logits. The figures
   use cross-fitted calibration: each fold's logits are calibrated by a Platt fit on the other
   folds' logits, so no row's reported probability was tuned on that row.
3. The final model is fitted on every row and the Platt map folded into it (`w' = a w`,
   `b' = a b + c`), so a probe file is `sigmoid(x . w' + b')` exactly as `vision.clip` reads it.
4. The recommended threshold is the lowest out-of-fold probability at which precision reaches
   the target (the most recall at that precision), or None when no threshold does.
Deterministic for the same rows and seed (lbfgs has no randomness; folds follow the seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from childguard.scorer.calibration import platt, sigmoid
from childguard.scorer.metrics import average_precision, binary_figures, reliability
from childguard.vision.probe_data import ProbeError

POLICY_THRESHOLD = 0.5  # the default policy's `clip >= 0.5` rules


@dataclass(frozen=True)
class ProbeFit:
    """A calibrated probe (weights, bias), its out-of-fold probabilities and figures."""

    weights: np.ndarray  # (d,) float32, Platt folded in
    bias: float
    oof: np.ndarray  # (n,) cross-fitted calibrated out-of-fold P(minor)
    platt: tuple[float, float]  # (a, c) folded into weights and bias
    threshold: float | None  # recommended: OOF precision >= target there
    figures: dict[str, Any]


def _fit(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(x, y)
    return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])


def precision_threshold(y: np.ndarray, p: np.ndarray, target: float) -> float | None:
    """The lowest threshold t (one of the values of `p`) with precision of `p >= t` at least
    `target`, or None when none reaches it."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    prec = np.cumsum(ys) / np.arange(1, ys.size + 1)
    group_end = np.r_[ps[1:] < ps[:-1], True]  # `p >= t` takes a tie group whole
    ok = np.flatnonzero(group_end & (prec >= target))
    return float(ps[ok[-1]]) if ok.size else None


def cv_figures(y: np.ndarray, p: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """Out-of-fold AP, P/R/F1 (95% intervals) at the policy's and the recommended threshold,
    and the reliability table."""
    return {
        "rows": int(y.size),
        "minor": int(y.sum()),
        "average_precision": round(average_precision(y, p), 4),
        "at_policy_threshold": {
            "threshold": POLICY_THRESHOLD,
            **binary_figures(y, p >= POLICY_THRESHOLD).as_dict(),
        },
        "at_recommended_threshold": (
            None
            if threshold is None
            else {"threshold": threshold, **binary_figures(y, p >= threshold).as_dict()}
        ),
        "reliability": reliability(y, p),
    }


def train_probe(
    x: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    c: float = 1.0,
    target_precision: float = 0.9,
) -> ProbeFit:
    """Cross-validate, calibrate and fit the probe on unit vectors `x` and labels `y`."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if folds < 2:
        raise ProbeError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if pos < folds or neg < folds:
        raise ProbeError(
            f"too few labelled rows for {folds}-fold cross-validation: {pos} minor and {neg} "
            f"other (each needs at least {folds})"
        )
    z = np.empty(y.size)
    parts = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    for tr, te in parts:
        w, b = _fit(x[tr], y[tr], c, seed)
        z[te] = x[te].astype(np.float64) @ w + b
    oof = np.empty(y.size)
    for tr, te in parts:  # cross-fitted calibration: fold te's logits mapped by the others'
        a, c0 = platt(z[tr], y[tr])
        oof[te] = sigmoid(a * z[te] + c0)
    a, c0 = platt(z, y)
    if not a > 0:
        raise ProbeError(
            "out of fold, the probe ranks minors below other rows (Platt slope "
            f"{a:.3g}): the labels or the embeddings are not what they should be"
        )
    w, b = _fit(x, y, c, seed)
    threshold = precision_threshold(y, oof, target_precision)
    return ProbeFit(
        weights=(a * w).astype(np.float32),
        bias=a * b + c0,
        oof=oof,
        platt=(a, c0),
        threshold=threshold,
        figures=cv_figures(y, oof, threshold),
    )
