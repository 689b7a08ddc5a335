"""Cross-validation folds: stratified by predominant fraction, grouped by gene.

Greedy assignment: genes (or single transcripts when the cache has no genes) are shuffled
with the seed, then placed largest first into the fold that currently holds the fewest
transcripts of that group's predominant fraction (ties: fewest transcripts overall, then
lowest fold number). No gene ends up on both sides of a split, and each fraction is spread
as evenly as the group sizes allow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import RNATrackerError


def read_folds(path: str | os.PathLike) -> dict[str, int]:
    """``folds.tsv`` of a `cv` run (header ``id  fold``) → {transcript id: 1-based fold}, in file order."""
    rows = [line.split("\t") for line in Path(path).read_text().splitlines()[1:]]
    try:
        return {r[0]: int(r[1]) for r in rows}
    except (IndexError, ValueError):
        raise RNATrackerError(f"{path} is not a folds table (id<TAB>fold)") from None


def _group_codes(groups: np.ndarray | None, n: int) -> np.ndarray:
    if groups is None:
        return np.arange(n)
    _, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    return codes


def assign_folds(labels: np.ndarray, n_folds: int, groups: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Fold number (0..n_folds-1) per item.

    labels: int (N,) stratification classes (predominant fraction); groups: (N,) ids kept
    together (genes) or None.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n_folds < 2:
        raise RNATrackerError("--folds must be at least 2")
    codes = _group_codes(groups, n)
    n_groups = int(codes.max()) + 1 if n else 0
    if n_groups < n_folds:
        what = "genes" if groups is not None else "transcripts"
        raise RNATrackerError(f"--folds {n_folds} is more than the {n_groups} {what} in the cache")
    n_classes = int(labels.max()) + 1
    sizes = np.bincount(codes, minlength=n_groups)
    # a group's class: the most common label among its members (lowest label on ties)
    counts = np.zeros((n_groups, n_classes), dtype=np.int64)
    np.add.at(counts, (codes, labels), 1)
    group_label = counts.argmax(axis=1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    per_class = np.zeros((n_folds, n_classes), dtype=np.int64)
    totals = np.zeros(n_folds, dtype=np.int64)
    group_fold = np.empty(n_groups, dtype=np.int64)
    for g in order:
        c = group_label[g]
        fold = int(np.lexsort((np.arange(n_folds), totals, per_class[:, c]))[0])
        group_fold[g] = fold
        per_class[fold] += counts[g]
        totals[fold] += sizes[g]
    return group_fold[codes]
