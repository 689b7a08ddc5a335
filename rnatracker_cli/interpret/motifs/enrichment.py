"""Known motifs in zipcodes: FIMO sites inside zipcodes vs background windows of the same transcripts.

Zipcodes come from `scan-zipcodes` (BED6+4 in transcript coordinates). Sites of every
database motif are found with memelite's FIMO (uniform background, forward strand only: RNA is
single-stranded; p < ``fimo_p``, 1e-4 by default as in MEME's FIMO; windows holding an N are
ignored). Zipcodes are grouped by (fraction, direction). For each group, the *background* is
the part of the group's transcripts outside every zipcode of the BED (any group), tiled, for
each zipcode, into adjacent windows of that zipcode's length from the start of each
background stretch (the same transcripts and the same lengths, so length and transcript
composition cancel; duplicates within a group are counted once). A window (zipcode or
background) *has a site* when a whole site lies inside it. Per motif and group, the 2×2 table
[zipcodes with / without a site] × [background windows with / without] gives the sample odds
ratio and a two-sided Fisher exact p-value (scipy); q-values are Benjamini–Hochberg over all
rows of the table.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.interpret.motifs.matching import bh_qvalues
from rnatracker_cli.io.fasta import open_binary
from rnatracker_cli.io.meme import MemeMotif

ENRICHMENT_COLUMNS = ("motif_id", "motif_name", "fraction", "direction", "zipcodes", "zipcodes_with_site",
                      "background_windows", "background_with_site", "zipcode_sites", "background_sites",
                      "odds_ratio", "p_value", "q_value")
DIRECTIONS = ("enhancing", "repressive")


@dataclass
class Zipcodes:
    """Zipcode regions: ``chrom`` transcript ids (str array), ``start``/``end`` int64 (0-based,
    half-open), ``fraction``/``direction`` str arrays; all of length n."""

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    fraction: np.ndarray
    direction: np.ndarray

    def __len__(self) -> int:
        return len(self.chrom)


def read_zipcodes(path: str | os.PathLike) -> Zipcodes:
    """Read a `scan-zipcodes` BED6+4 (``#``, ``track`` and ``browser`` lines are skipped).

    Raises :class:`InputError` for a genomic BED12+4 (scan without ``--gtf`` for transcript
    coordinates), fewer than 10 columns, bad coordinates or an unknown direction, and for a
    file without regions.
    """
    where = str(path)
    with open_binary(path) as handle:
        text = handle.read().decode("utf-8", errors="replace")
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) >= 16:
            raise InputError(f"{where}: line {lineno}: genomic BED12+4; motifs needs transcript coordinates "
                             "(run scan-zipcodes without --gtf)")
        if len(fields) < 10:
            raise InputError(f"{where}: line {lineno}: expected the 10 columns of a scan-zipcodes BED (chrom start "
                             f"end name score strand kl_peak fraction direction deltas), found {len(fields)}")
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise InputError(f"{where}: line {lineno}: start and end must be integers") from None
        if start < 0 or end <= start:
            raise InputError(f"{where}: line {lineno}: bad region {start}-{end} (0-based, half-open, end > start)")
        if fields[8] not in DIRECTIONS:
            raise InputError(f"{where}: line {lineno}: direction must be enhancing or repressive, not {fields[8]!r}")
        rows.append((fields[0], start, end, fields[7], fields[8]))
    if not rows:
        raise InputError(f"{where}: no zipcode regions")
    chrom, start, end, fraction, direction = zip(*rows)
    return Zipcodes(np.array(chrom, dtype=object), np.array(start, dtype=np.int64), np.array(end, dtype=np.int64),
                    np.array(fraction, dtype=object), np.array(direction, dtype=object))


@dataclass
class Sites:
    """FIMO sites of each motif, in concatenated coordinates: ``starts[m]`` sorted int64."""

    starts: list[np.ndarray]
    widths: np.ndarray


def fimo_sites(motifs: Sequence[MemeMotif], sequences: Sequence[np.ndarray],
               fimo_p: float = 1e-4) -> tuple[Sites, np.ndarray]:
    """FIMO sites (forward strand) of ``motifs`` in ``sequences`` (uint8 codes).

    Returns the sites in concatenated coordinates and ``offsets`` int64 (n + 1,): transcript
    ``i`` occupies ``[offsets[i], offsets[i] + len_i)``. Transcripts are joined with runs of N
    as long as the widest motif, and sites on any N are dropped, so no site spans two
    transcripts.
    """
    from memelite import fimo

    if not 0 < fimo_p < 1:
        raise RNATrackerError("--fimo-p must be in (0, 1)")
    widths = np.array([m.width for m in motifs], dtype=np.int64)
    gap = int(widths.max())
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths + gap)
    codes = np.full(int(offsets[-1]), 4, dtype=np.uint8)
    for s, o in zip(sequences, offsets[:-1]):
        codes[o : o + len(s)] = s
    one_hot = np.zeros((1, 4, len(codes)), dtype=np.int8)
    real = codes < 4
    one_hot[0, codes[real], np.flatnonzero(real)] = 1
    n_before = np.concatenate([[0], np.cumsum(~real)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hits = fimo({str(i): np.ascontiguousarray(m.pwm.T) for i, m in enumerate(motifs)}, one_hot,
                    alphabet=list("ACGT"), threshold=fimo_p, reverse_complement=False)
    starts = []
    for i, frame in enumerate(hits):
        s = frame["start"].to_numpy(dtype=np.int64) if len(frame) else np.zeros(0, dtype=np.int64)
        clean = n_before[s + widths[i]] - n_before[s] == 0
        starts.append(np.sort(s[clean]))
    return Sites(starts, widths), offsets


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def background_windows(zip_start: int, zip_end: int, territory: list[tuple[int, int]],
                       length: int) -> list[tuple[int, int]]:
    """Adjacent windows of the zipcode's length in ``[0, length)`` outside ``territory``
    (merged, sorted zipcode intervals of the transcript), from the start of each stretch."""
    size = zip_end - zip_start
    windows = []
    pos = 0
    for s, e in [*territory, (length, length)]:
        for a in range(pos, s - size + 1, size):
            windows.append((a, a + size))
        pos = max(pos, e)
    return windows


def check_zipcodes(zipcodes: Zipcodes, lengths: Mapping[str, int]) -> None:
    """Every zipcode must lie on a known transcript (id → length), inside it; else :class:`InputError`."""
    missing = sorted({c for c in zipcodes.chrom if c not in lengths})
    if missing:
        raise InputError(f"--zipcodes: {len(missing)} transcript(s) not among the sequences, e.g. {missing[0]}")
    for c, e in zip(zipcodes.chrom, zipcodes.end):
        if e > lengths[c]:
            raise InputError(f"--zipcodes: region ending at {e} is past the end of {c} ({lengths[c]} nt)")


def enrichment_table(motifs: Sequence[MemeMotif], sequences: Mapping[str, np.ndarray], zipcodes: Zipcodes,
                     fimo_p: float = 1e-4) -> pd.DataFrame:
    """``enrichment.tsv`` rows (:data:`ENRICHMENT_COLUMNS`), sorted by p-value.

    sequences: transcript id → uint8 codes. Raises :class:`InputError` when a zipcode names a
    transcript that is not among ``sequences`` or runs past its end.
    """
    check_zipcodes(zipcodes, {k: len(v) for k, v in sequences.items()})
    ids = sorted(set(zipcodes.chrom))
    index = {t: i for i, t in enumerate(ids)}
    seqs = [sequences[t] for t in ids]
    sites, offsets = fimo_sites(motifs, seqs, fimo_p)
    tidx = np.array([index[c] for c in zipcodes.chrom], dtype=np.int64)
    territory = {i: _merge([(int(s), int(e)) for s, e in zip(zipcodes.start[tidx == i], zipcodes.end[tidx == i])])
                 for i in range(len(ids))}
    rows = []
    groups = sorted({(f, d) for f, d in zip(zipcodes.fraction, zipcodes.direction)})
    for fraction, direction in groups:
        member = np.flatnonzero((zipcodes.fraction == fraction) & (zipcodes.direction == direction))
        z_lo = offsets[tidx[member]] + zipcodes.start[member]
        z_hi = offsets[tidx[member]] + zipcodes.end[member]
        back: set[tuple[int, int]] = set()
        for k in member:
            t = int(tidx[k])
            for a, b in background_windows(int(zipcodes.start[k]), int(zipcodes.end[k]), territory[t], len(seqs[t])):
                back.add((int(offsets[t]) + a, int(offsets[t]) + b))
        b_arr = np.array(sorted(back), dtype=np.int64).reshape(-1, 2)
        for m, motif in enumerate(motifs):
            starts, w = sites.starts[m], int(sites.widths[m])
            z_count = np.searchsorted(starts, z_hi - w, "right") - np.searchsorted(starts, z_lo, "left")
            b_count = np.searchsorted(starts, b_arr[:, 1] - w, "right") - np.searchsorted(starts, b_arr[:, 0], "left")
            z_count, b_count = np.maximum(z_count, 0), np.maximum(b_count, 0)
            zw, bw = int((z_count > 0).sum()), int((b_count > 0).sum())
            table = [[zw, len(member) - zw], [bw, len(b_arr) - bw]]
            odds, p = fisher_exact(table) if len(b_arr) else (float("nan"), float("nan"))
            rows.append((motif.id, motif.name, fraction, direction, len(member), zw, len(b_arr), bw,
                         int(z_count.sum()), int(b_count.sum()), float(odds), float(p)))
    frame = pd.DataFrame(rows, columns=list(ENRICHMENT_COLUMNS[:-1]))
    frame["q_value"] = bh_qvalues(frame["p_value"].to_numpy())
    frame = frame.sort_values(["p_value", "fraction", "direction"], kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def format_enrichment(table: pd.DataFrame) -> str:
    """Tab-separated text of :func:`enrichment_table` (odds ratio 4 significant digits, p/q ``%.3g``)."""
    out = ["\t".join(ENRICHMENT_COLUMNS) + "\n"]
    for r in table.itertuples(index=False):
        out.append("\t".join([r.motif_id, r.motif_name or ".", r.fraction, r.direction, *(str(v) for v in r[4:10]),
                              f"{r.odds_ratio:.4g}", f"{r.p_value:.3g}", f"{r.q_value:.3g}"]) + "\n")
    return "".join(out)
