"""Paired comparisons of models scored on the same transcripts.

- DeLong's test for correlated ROC AUCs, with the fast O(n log n) algorithm of Sun & Xu
  (IEEE Signal Processing Letters 2014): midranks give the structural components
  V10 (per positive) and V01 (per negative) without the O(m·n) pair matrix.
- Paired bootstrap intervals for differences in Pearson r.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm, rankdata

from rnatracker_cli.metrics import pearson


def delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and structural components for K score vectors on one set of labels.

    labels: bool (n,); scores: float (K, n). Returns ``(auc (K,), v10 (K, m), v01 (K, n_neg))``
    where ``v10[k, i]`` = P(score of positive i > a random negative) (ties ½) and
    ``v01[k, j]`` = P(a random positive > negative j).
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    pos, neg = scores[:, labels], scores[:, ~labels]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both positive and negative examples")
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def delong_covariance(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (K,) and their DeLong covariance matrix (K, K)."""
    auc, v10, v01 = delong_components(labels, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(auc), len(auc)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(auc), len(auc)))
    return auc, s10 / m + s01 / n


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """Two-sided DeLong test of AUC(a) = AUC(b) on the same examples.

    Returns ``auc_a, auc_b, diff, se, z, p`` (z and p are NaN when the difference has zero
    variance, e.g. identical scores).
    """
    auc, cov = delong_covariance(labels, np.vstack([scores_a, scores_b]))
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(var) if var > 0 else 0.0
    z = diff / se if se > 0 else float("nan")
    p = float(2 * norm.sf(abs(z))) if se > 0 else float("nan")
    return {"auc_a": float(auc[0]), "auc_b": float(auc[1]), "diff": diff, "se": se, "z": z, "p": p}


def paired_bootstrap_pearson(
    truth: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_boot: int = 1000, seed: int = 0, chunk: int = 100
) -> dict[str, float]:
    """Bootstrap (resampling transcripts, paired) of r(a) − r(b) for one fraction.

    Returns ``diff`` (observed), ``ci_low``/``ci_high`` (95 % percentile interval) and ``p``
    (two-sided: twice the smaller share of resampled differences on either side of 0, counted
    as ``(k + 1) / (B + 1)`` so that it is never reported as exactly 0).
    """
    truth, pred_a, pred_b = (np.asarray(v, dtype=np.float64) for v in (truth, pred_a, pred_b))
    rng = np.random.default_rng(seed)
    n = len(truth)
    diffs = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        t = truth[idx]
        diffs.append(pearson(pred_a[idx], t, axis=1) - pearson(pred_b[idx], t, axis=1))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    observed = pearson(pred_a, truth) - pearson(pred_b, truth)
    if d.size == 0:
        return {"diff": observed, "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan")}
    k = min(int((d <= 0).sum()), int((d >= 0).sum()))
    p = min(1.0, 2 * (k + 1) / (d.size + 1))
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"diff": float(observed), "ci_low": float(lo), "ci_high": float(hi), "p": float(p)}
