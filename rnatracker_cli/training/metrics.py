"""Loss and evaluation metrics for localization distributions."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def kl_rows(log_q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) = Σ_f p log(p / q) per row (0·log 0 = 0): float32 (batch,).

    log_q: float32 (batch, F) predicted log-probabilities; p: float32 (batch, F) targets.
    """
    return (torch.xlogy(p, p) - p * log_q).sum(dim=1)


def kl_per_row(q: np.ndarray, p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """KL(p‖q) per row (float64 (n,)) for NumPy probability arrays (n, F)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.clip(np.asarray(q, dtype=np.float64), eps, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def pearson_per_fraction(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson r between predicted and true values, per fraction (column); float64 (F,).

    A column with zero variance on either side gives NaN.
    """
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    denom = np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (x * y).sum(axis=0) / np.where(denom > 0, denom, 1.0), np.nan)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the Mann–Whitney U statistic (ties count one half).

    scores: (n,) higher = more likely positive; labels: (n,) bool/0-1. NaN if one class is empty.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
