"""conserve's outputs: ``regions.tsv``, ``summary.tsv`` and the ECDF plot (docs/formats.md).

Numbers are written ``%.6g``, missing values as ``NA``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from rnatracker_cli.interpret.conservation.regions import Region
from rnatracker_cli.interpret.conservation.stats import Comparison, select
from rnatracker_cli.io.atomic import atomic_path, open_output

REGIONS_COLUMNS = (
    "kind", "index", "name", "chrom", "start", "end", "strand", "blocks", "length", "transcript", "tx_start",
    "tx_end", "region_type", "direction", "kl_peak", "matched_to", "covered_bases", "mean", "median",
)
SUMMARY_COLUMNS = (
    "group", "min_kl", "n_zipcodes", "n_background", "n_unscored", "median_zipcodes", "median_background",
    "mean_zipcodes", "mean_background", "ks_statistic", "ks_p", "mw_statistic", "mw_p",
)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "NA" if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


def _region_row(kind: str, index: int, r: Region) -> list:
    blocks = ",".join(f"{s}-{e}" for s, e in r.blocks)
    tx = (r.transcript or None, r.tx_start if r.transcript else None, r.tx_end if r.transcript else None)
    return [kind, index, r.name, r.chrom, r.start, r.end, r.strand, blocks, r.length, *tx, r.region_type or None,
            r.direction or None, r.kl_peak, r.matched_to if r.matched_to >= 0 else None, r.covered, r.mean, r.median]


def write_regions(path: str | os.PathLike, zipcodes: list[Region], background: list[Region], force: bool) -> None:
    """One row per zipcode (kind ``zipcode``) then per background region (``background``)."""
    import pandas as pd

    rows = [_region_row(kind, i, r) for kind, regions in (("zipcode", zipcodes), ("background", background))
            for i, r in enumerate(regions)]
    table = pd.DataFrame(rows, columns=list(REGIONS_COLUMNS))
    for col in ("tx_start", "tx_end", "matched_to"):
        table[col] = table[col].astype("Int64")  # integers with NA
    with open_output(path, force) as out:
        table.to_csv(out, sep="\t", index=False, na_rep="NA", float_format="%.6g", lineterminator="\n")


def write_summary(path: str | os.PathLike, rows: list[Comparison], force: bool) -> None:
    with open_output(path, force) as out:
        out.write("\t".join(SUMMARY_COLUMNS) + "\n")
        for row in rows:
            out.write("\t".join(_fmt(getattr(row, c)) for c in SUMMARY_COLUMNS) + "\n")


def _ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.sort(values)
    return x, np.arange(1, x.size + 1) / x.size


def write_ecdf_plot(path: str | os.PathLike, zipcodes: list[Region], background: list[Region],
                    rows: list[Comparison], drawn: bool, force: bool, label: str = "mean phyloP") -> None:
    """ECDF of region means, one panel per group: background (grey) and the zipcodes at each
    cut-off (darker = stricter), KS p in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(r.group for r in rows))
    cutoffs = sorted({r.min_kl for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False, sharey=True)
    cmap = plt.get_cmap("Reds")
    for ax, group in zip(axes[0], groups):
        idx, bg = select(zipcodes, background, group, cutoffs[0], drawn)
        b = np.array([r.mean for r in bg], float)
        b = b[~np.isnan(b)]
        if b.size:
            ax.step(*_ecdf(b), where="post", color="grey", lw=1.6, label=f"background (n={b.size})")
        for k, cut in enumerate(cutoffs):
            idx, _ = select(zipcodes, background, group, cut, drawn)
            z = np.array([zipcodes[i].mean for i in idx], float)
            z = z[~np.isnan(z)]
            if not z.size:
                continue
            row = next(r for r in rows if r.group == group and r.min_kl == cut)
            colour = cmap(0.45 + 0.5 * k / max(1, len(cutoffs) - 1))
            tag = f"KL ≥ {cut:g}, " if len(cutoffs) > 1 else ""
            p = "NA" if not math.isfinite(row.ks_p) else f"{row.ks_p:.2g}"
            ax.step(*_ecdf(z), where="post", color=colour, lw=1.4, label=f"zipcodes {tag}n={z.size}, KS p={p}")
        ax.set(title=group, xlabel=label)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("cumulative fraction of regions")
    fig.tight_layout()
    with atomic_path(Path(path), force) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
