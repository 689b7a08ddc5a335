"""Metrics for predicted localization distributions.

Regression: per-fraction Pearson and Spearman between predicted and true values, mean
KL(true ‖ predicted). Classification of the predominant fraction (paper §3.1): one-vs-rest
ROC AUC and PR AUC (average precision) per fraction and micro-averaged, scored by the
predicted values.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = 1e-12


def pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Pearson r along ``axis`` (NaN when either side is constant)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm = x - x.mean(axis=axis, keepdims=True)
    ym = y - y.mean(axis=axis, keepdims=True)
    num = (xm * ym).sum(axis=axis)
    den = np.sqrt((xm**2).sum(axis=axis) * (ym**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return float(r) if np.ndim(r) == 0 else r


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho of two 1-D arrays (Pearson of average ranks)."""
    return pearson(rankdata(x), rankdata(y))


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = EPS) -> np.ndarray:
    """KL(p ‖ q) per row of (N, F) distributions, float64 (N,), with q clipped at ``eps``
    (0·log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.clip(np.asarray(q, dtype=np.float64), eps, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count ½), via the Mann–Whitney U statistic."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y = np.asarray(scores)[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each tie block
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0, fp] / max(fp[-1], 1), np.r_[0, tp] / max(tp[-1], 1)


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at every distinct threshold, highest threshold first."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y = np.asarray(scores)[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    predicted = last + 1
    return tp / predicted, tp / max(int(labels.sum()), 1)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR AUC as average precision: Σ (R_k − R_{k−1}) · P_k over distinct thresholds."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return float("nan")
    precision, recall = precision_recall_curve(labels, scores)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def one_vs_rest(targets: np.ndarray) -> np.ndarray:
    """bool (N, F): True at each row's predominant (arg-max) fraction."""
    targets = np.asarray(targets)
    out = np.zeros(targets.shape, dtype=bool)
    out[np.arange(len(targets)), targets.argmax(axis=1)] = True
    return out


def evaluate(targets: np.ndarray, predictions: np.ndarray, fractions: list[str]) -> list[tuple[str, str, float]]:
    """All metrics as ``(fraction, metric, value)`` rows; fraction is ``all``/``micro`` for pooled ones.

    targets, predictions: float (N, F) distributions in the same transcript order.
    """
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = one_vs_rest(targets)
    rows: list[tuple[str, str, float]] = []
    for f, name in enumerate(fractions):
        rows.append((name, "pearson", pearson(predictions[:, f], targets[:, f])))
        rows.append((name, "spearman", spearman(predictions[:, f], targets[:, f])))
        rows.append((name, "roc_auc", roc_auc(labels[:, f], predictions[:, f])))
        rows.append((name, "pr_auc", average_precision(labels[:, f], predictions[:, f])))
    rows.append(("micro", "roc_auc", roc_auc(labels.ravel(), predictions.ravel())))
    rows.append(("micro", "pr_auc", average_precision(labels.ravel(), predictions.ravel())))
    rows.append(("all", "kl_mean", float(kl_divergence(targets, predictions).mean())))
    rows.append(("all", "accuracy", float((predictions.argmax(axis=1) == targets.argmax(axis=1)).mean())))
    return rows
