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


def score_regions(regions: list[Region], track: BigWig) -> None:
    """Fill ``covered``, ``mean`` and ``median`` of every region from the track (in place)."""
    for r in regions:
        values = track.blocks_values(r.chrom, r.blocks)
        values = values[~np.isnan(values)]
        r.covered = int(values.size)
        if values.size:
            r.mean, r.median = float(values.mean()), float(np.median(values))
        else:
            r.mean = r.median = math.nan


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
