"""Tomtom (memelite, in process) of filter motifs against a motif database → ``tomtom.tsv``.

Reverse complements are off: RNA is single-stranded, so a filter matches a database motif
only in the orientation given (memelite's ``reverse_complement=False``). Per query motif:
p-values of the best alignment with every target (memelite's complete-score Tomtom),
E-value = p × number of targets, q-value = Benjamini–Hochberg over that query's p-values
against all targets. Rows with q ≤ ``max_q`` are written, per query in ascending p-value, in
MEME Tomtom's column layout
(:data:`TOMTOM_COLUMNS`); consensus strings are the most probable letter per column.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnatracker_cli.io.meme import MemeMotif

TOMTOM_COLUMNS = ("Query_ID", "Target_ID", "Optimal_offset", "p-value", "E-value", "q-value", "Overlap",
                  "Query_consensus", "Target_consensus", "Orientation")
#: memelite warns that p-values depend on the targets below this many target motifs.
FEW_TARGETS = 25


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values of a 1-D array of p-values (NaN stays NaN), float64."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


@dataclass
class TomtomResult:
    """Complete query × target matrices, float64/int64 (queries, targets)."""

    p_values: np.ndarray
    q_values: np.ndarray
    offsets: np.ndarray
    overlaps: np.ndarray
    note: str = ""

    def best(self, query: int) -> int:
        """Index of the target with the smallest p-value for ``query`` (first of ties)."""
        return int(np.argmin(self.p_values[query]))


def run_tomtom(queries: Sequence[MemeMotif], targets: Sequence[MemeMotif]) -> TomtomResult:
    """Tomtom of every query against every target, forward orientation only."""
    from memelite import tomtom

    if not len(queries):
        empty = np.zeros((0, len(targets)))
        return TomtomResult(empty, empty.copy(), empty.astype(np.int64), empty.astype(np.int64))
    qs = [np.ascontiguousarray(m.pwm.T, dtype=np.float64) for m in queries]
    ts = [np.ascontiguousarray(m.pwm.T, dtype=np.float64) for m in targets]
    note = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _scores, offsets, overlaps, _strands = tomtom(qs, ts, reverse_complement=False, n_jobs=-1)[:5]
    if len(targets) < FEW_TARGETS:
        note = (f"the database has {len(targets)} motifs: Tomtom p-values are estimated from the targets' columns "
                f"and are unreliable below {FEW_TARGETS} motifs")
    p = np.asarray(p, dtype=np.float64)
    q = np.vstack([bh_qvalues(row) for row in p])
    return TomtomResult(p, q, np.asarray(offsets).astype(np.int64), np.asarray(overlaps).astype(np.int64), note)


def tomtom_table(result: TomtomResult, queries: Sequence[MemeMotif], targets: Sequence[MemeMotif],
                 max_q: float = 0.5) -> pd.DataFrame:
    """``tomtom.tsv`` rows (q ≤ ``max_q``), per query in ascending p-value (:data:`TOMTOM_COLUMNS`)."""
    rows = []
    n_targets = len(targets)
    target_consensus = [t.consensus() for t in targets]
    for i, query in enumerate(queries):
        order = np.argsort(result.p_values[i], kind="stable")
        consensus = query.consensus()
        for j in order:
            if not result.q_values[i, j] <= max_q:
                continue
            rows.append((query.id, targets[j].id, int(result.offsets[i, j]), float(result.p_values[i, j]),
                         float(result.p_values[i, j]) * n_targets, float(result.q_values[i, j]),
                         int(result.overlaps[i, j]), consensus, target_consensus[j], "+"))
    return pd.DataFrame(rows, columns=list(TOMTOM_COLUMNS))


def format_tomtom(table: pd.DataFrame) -> str:
    """Tab-separated text of :func:`tomtom_table` (p/E/q-values ``%.3g``)."""
    out = ["\t".join(TOMTOM_COLUMNS) + "\n"]
    for r in table.itertuples(index=False):
        out.append(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]:.3g}\t{r[4]:.3g}\t{r[5]:.3g}\t{r[6]}\t{r[7]}\t{r[8]}\t{r[9]}\n")
    return "".join(out)
