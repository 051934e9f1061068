"""Quality figures with their uncertainty: P/R/F1 with 95% intervals, reliability, PR curve.

Used by `childguard train` (on cross-validated predictions) and `childguard eval` (on a
model's predictions for a labelled file), so both print the same figures the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n ((0, 1) when n == 0)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def f1_interval(
    y: np.ndarray, pred: np.ndarray, rounds: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of F1 (resampling rows)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if n == 0:
        return (0.0, 1.0)
    out = np.empty(rounds)
    for r in range(rounds):
        i = rng.integers(0, n, n)
        yy, pp = y[i], pred[i]
        tp = np.sum(yy & pp)
        d = np.sum(yy) + np.sum(pp)
        out[r] = 2 * tp / d if d else 0.0
    return (float(np.quantile(out, 0.025)), float(np.quantile(out, 0.975)))


@dataclass
class BinaryFigures:
    """Confusion counts, precision, recall and F1 of one binary decision, with CIs."""
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    f1_ci: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        """The figures as a dict, rounded to 4 places (CIs as `*_ci95` pairs)."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "precision_ci95": [round(v, 4) for v in self.precision_ci],
            "recall": round(self.recall, 4),
            "recall_ci95": [round(v, 4) for v in self.recall_ci],
            "f1": round(self.f1, 4),
            "f1_ci95": [round(v, 4) for v in self.f1_ci],
        }


def binary_figures(y: np.ndarray, pred: np.ndarray, bootstrap: bool = True) -> BinaryFigures:
    """Counts and P/R/F1 of `pred` vs `y`: Wilson CIs for P/R, bootstrap for F1."""
    y = np.asarray(y, bool)
    pred = np.asarray(pred, bool)
    tp = int(np.sum(y & pred))
    fp = int(np.sum(~y & pred))
    fn = int(np.sum(y & ~pred))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return BinaryFigures(
        tp, fp, fn, p, r, f1,
        wilson(tp, tp + fp), wilson(tp, tp + fn),
        f1_interval(y, pred) if bootstrap else (f1, f1),
    )  # fmt: skip


def reliability(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Predicted vs observed per probability bin (rows with prob > 0 only: the screen's
    candidates; rows the screen passed are certain negatives for the model)."""
    y = np.asarray(y, bool)
    prob = np.asarray(prob, float)
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for k in range(bins):
        lo, hi = edges[k], edges[k + 1]
        m = (prob > 0) & (prob >= lo) & ((prob < hi) if k < bins - 1 else (prob <= hi))
        n = int(m.sum())
        if not n:
            continue
        obs = int(y[m].sum())
        lo_ci, hi_ci = wilson(obs, n)
        out.append(
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "rows": n,
                "mean_predicted": round(float(prob[m].mean()), 4),
                "observed": round(obs / n, 4),
                "observed_ci95": [round(lo_ci, 4), round(hi_ci, 4)],
            }
        )
    return out


def pr_curve(y: np.ndarray, prob: np.ndarray, points: int = 50) -> list[dict[str, float]]:
    """Precision and recall at thresholds over the probability range."""
    y = np.asarray(y, bool)
    prob = np.asarray(prob, float)
    pos = int(y.sum())
    out = []
    for t in np.linspace(0.02, 0.98, points):
        pred = prob >= t
        tp = int(np.sum(pred & y))
        k = int(pred.sum())
        out.append(
            {
                "threshold": round(float(t), 3),
                "precision": round(tp / k, 4) if k else 1.0,
                "recall": round(tp / pos, 4) if pos else 1.0,
            }
        )
    return out


def average_precision(y: np.ndarray, prob: np.ndarray) -> float:
    """Average precision of `prob` ranking the positives of `y` (0 with none)."""
    y = np.asarray(y, bool)
    order = np.argsort(-np.asarray(prob, float), kind="stable")
    ys = y[order]
    pos = ys.sum()
    if not pos:
        return 0.0
    tp = np.cumsum(ys)
    prec = tp / np.arange(1, len(ys) + 1)
    return float(np.sum(prec[ys]) / pos)


def reliability_table(rows: list[dict[str, Any]], title: str):
    """A rich table of `reliability()` rows: bin, rows, predicted, observed, 95% CI."""
    from rich.table import Table

    t = Table(title=title, show_edge=False)
    for c in ("bin", "rows", "predicted", "observed", "95% CI"):
        t.add_column(c, justify="right")
    for r in rows:
        lo, hi = r["observed_ci95"]
        t.add_row(
            r["bin"], str(r["rows"]), f"{r['mean_predicted']:.3f}", f"{r['observed']:.3f}",
            f"{lo:.2f}-{hi:.2f}",
        )  # fmt: skip
    return t


def probability_figures(
    y_id: np.ndarray, y_minor: np.ndarray, p_id: np.ndarray, p_minor: np.ndarray
) -> dict[str, Any]:
    """Average precision, reliability and PR curve of both heads (threshold-free figures)."""
    return {
        "average_precision": {
            "identifiable_child": round(average_precision(y_id, p_id), 4),
            "any_minor": round(average_precision(y_minor, p_minor), 4),
        },
        "reliability": {
            "identifiable_child": reliability(y_id, p_id),
            "any_minor": reliability(y_minor, p_minor),
        },
        "pr_curve": {
            "identifiable_child": pr_curve(y_id, p_id),
            "any_minor": pr_curve(y_minor, p_minor),
        },
    }
