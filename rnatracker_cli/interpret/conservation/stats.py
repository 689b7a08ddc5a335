"""Per-region conservation scores and the zipcode-vs-background tests.

A region's score is the mean (and median) of the track over its bases that have a value;
bases without a value are counted apart (``covered`` = bases with a value) and never read as
0. Regions without any scored base are left out of the tests.

Tests (two-sided, SciPy): Kolmogorov–Smirnov on the two samples of region means, as in the
paper, and Mann–Whitney U. Rows per group (``all`` and each direction present) and per
``--min-kl`` cut-off (zipcodes with ``kl_peak ≥ cut-off``; a drawn background follows the
zipcodes it was drawn for, a user-given background is used whole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnatracker_cli.interpret.conservation.regions import DIRECTIONS, Region
from rnatracker_cli.io.bigwig import BigWig


def score_regions(regions: list[Region], track: BigWig, chunk: int = 1 << 20) -> None:
    """Fill ``covered``, ``mean`` and ``median`` of every region from the track (in place).

    Regions are read in chunks of nearby regions (one bigWig query per ≤ ``chunk`` nt of a
    chromosome) and their statistics computed for all regions at once.
    """
    if not regions:
        return
    order = sorted(range(len(regions)), key=lambda i: (regions[i].chrom, regions[i].start))
    pieces: list[np.ndarray] = []
    owner: list[int] = []
    k = 0
    while k < len(order):
        first = regions[order[k]]
        lo, hi, j = first.start, first.end, k + 1
        while (j < len(order) and regions[order[j]].chrom == first.chrom
               and max(hi, regions[order[j]].end) - lo <= chunk):
            hi = max(hi, regions[order[j]].end)
            j += 1
        values = track.values(first.chrom, lo, hi)
        for i in order[k:j]:
            for s, e in regions[i].blocks:
                pieces.append(values[s - lo : e - lo])
                owner.append(i)
        k = j
    sizes = np.array([len(p) for p in pieces], dtype=np.int64)
    values = np.concatenate(pieces)
    seg = np.repeat(np.asarray(owner, dtype=np.int64), sizes)
    keep = ~np.isnan(values)
    values, seg = values[keep], seg[keep]
    n = len(regions)
    counts = np.bincount(seg, minlength=n)
    sums = np.bincount(seg, weights=values, minlength=n)
    # medians: sort by (region, value); the middle one or two of each region's run
    srt = np.lexsort((values, seg))
    values = values[srt]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    lo_mid = first + np.maximum(counts - 1, 0) // 2
    hi_mid = first + counts // 2
    medians = np.full(n, np.nan)
    medians[has] = (values[lo_mid[has]] + values[np.minimum(hi_mid[has], len(values) - 1)]) / 2
    means = np.full(n, np.nan)
    means[has] = sums[has] / counts[has]
    for i, r in enumerate(regions):
        r.covered, r.mean, r.median = int(counts[i]), float(means[i]), float(medians[i])


@dataclass
class Comparison:
    """One summary row (see :data:`SUMMARY_COLUMNS` in report.py)."""

    group: str
    min_kl: float
    n_zipcodes: int
    n_background: int
    n_unscored: int  # zipcodes left out: no base with a score
    median_zipcodes: float
    median_background: float
    mean_zipcodes: float
    mean_background: float
    ks_statistic: float
    ks_p: float
    mw_statistic: float
    mw_p: float


def compare(zipcodes: np.ndarray, background: np.ndarray) -> tuple[float, float, float, float]:
    """(KS statistic, KS p, Mann–Whitney U, MW p), two-sided; NaN when a sample is empty."""
    from scipy.stats import ks_2samp, mannwhitneyu

    z, b = np.asarray(zipcodes, float), np.asarray(background, float)
    if z.size == 0 or b.size == 0:
        return (math.nan,) * 4
    ks = ks_2samp(z, b, alternative="two-sided")
    mw = mannwhitneyu(z, b, alternative="two-sided")
    return float(ks.statistic), float(ks.pvalue), float(mw.statistic), float(mw.pvalue)


def groups_of(zipcodes: list[Region]) -> list[str]:
    """``all`` plus each direction present, in DIRECTIONS order."""
    present = {z.direction for z in zipcodes}
    return ["all", *[d for d in DIRECTIONS if d in present]]


def select(zipcodes: list[Region], background: list[Region], group: str, min_kl: float,
           drawn: bool) -> tuple[list[int], list[Region]]:
    """Indices of the zipcodes in ``group`` passing ``min_kl`` and their background regions.

    A zipcode without ``kl_peak`` passes every cut-off (its BED has no KL to sweep).
    """
    keep = [i for i, z in enumerate(zipcodes)
            if (group == "all" or z.direction == group) and (math.isnan(z.kl_peak) or z.kl_peak >= min_kl)]
    if not drawn:
        return keep, background
    chosen = set(keep)
    return keep, [b for b in background if b.matched_to in chosen]


def summarize(zipcodes: list[Region], background: list[Region], cutoffs: list[float],
              drawn: bool) -> list[Comparison]:
    """One :class:`Comparison` per group × cut-off (groups outer, cut-offs ascending)."""
    rows = []
    for group in groups_of(zipcodes):
        for cut in sorted(cutoffs):
            idx, bg = select(zipcodes, background, group, cut, drawn)
            z = np.array([zipcodes[i].mean for i in idx], dtype=float)
            b = np.array([r.mean for r in bg], dtype=float)
            unscored = int(np.isnan(z).sum())
            z, b = z[~np.isnan(z)], b[~np.isnan(b)]
            ks, ks_p, mw, mw_p = compare(z, b)
            rows.append(Comparison(
                group, cut, int(z.size), int(b.size), unscored,
                _stat(np.median, z), _stat(np.median, b), _stat(np.mean, z), _stat(np.mean, b), ks, ks_p, mw, mw_p,
            ))
    return rows


def _stat(fn, values: np.ndarray) -> float:
    return float(fn(values)) if values.size else math.nan
