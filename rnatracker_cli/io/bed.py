"""BED and bedGraph writers with fixed columns (0-based, half-open coordinates).

Zipcode BED, transcript coordinates (BED6+4)::

    chrom start end name score strand kl_peak fraction direction deltas

Zipcode BED, genomic coordinates with ``--gtf``: standard BED12 (exactly 12 columns, one
block per exon the region touches), so that bedtools (``-split``), bedToBigBed and IGV read
the blocks; the four extra columns go to a sidecar TSV (:func:`sidecar_path`)::

    chrom start end name score strand thickStart thickEnd itemRgb blockCount blockSizes blockStarts

    sidecar, header line then one row per BED row, in the same order:
    name chrom start end kl_peak fraction direction deltas

(bedtools 2.30 takes a BED with more than 12 columns for a BED6+ file and ignores its blocks.)
A name (``ID:FRACTION:DIRECTION``) can repeat within a transcript, so the sidecar carries
``chrom start end`` too: ``(name, chrom, start, end)`` identifies a row.

bedGraph: ``chrom start end value``. Numbers: ``kl_peak`` and bedGraph values ``%.6g``;
``deltas`` comma-separated ``%.6g``, one per fraction in model order. Rows are sorted by
chrom (byte order, like ``LC_ALL=C sort -k1,1``), then start, then end. A BED file may start
with one ``#`` comment line holding the run's settings (bedtools and pandas skip it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.gtf import TranscriptModel, transcript_blocks
from rnatracker_cli.io.tables import strip_version

BED_COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "kl_peak", "fraction", "direction", "deltas")
BED12_COLUMNS = (
    "chrom", "start", "end", "name", "score", "strand", "thickStart", "thickEnd", "itemRgb", "blockCount",
    "blockSizes", "blockStarts",
)
SIDECAR_COLUMNS = ("name", "chrom", "start", "end", "kl_peak", "fraction", "direction", "deltas")
BEDGRAPH_COLUMNS = ("chrom", "start", "end", "value")


@dataclass
class ZipcodeRecord:
    """One BED row. blocks: ascending ``(start, end)`` genomic blocks (BED12) or None (BED6)."""

    chrom: str
    start: int
    end: int
    name: str
    score: int
    strand: str
    kl_peak: float
    fraction: str
    direction: str
    deltas: np.ndarray
    blocks: list[tuple[int, int]] | None = None

    def sort_key(self) -> tuple:
        return (self.chrom.encode("utf-8"), self.start, self.end, self.name)


def _extras(rec: ZipcodeRecord) -> str:
    deltas = ",".join(f"{v:.6g}" for v in np.asarray(rec.deltas, dtype=float).tolist())
    return f"{rec.kl_peak:.6g}\t{rec.fraction}\t{rec.direction}\t{deltas}"


def format_bed6(rec: ZipcodeRecord) -> str:
    """One BED6+4 line (trailing newline)."""
    return f"{rec.chrom}\t{rec.start}\t{rec.end}\t{rec.name}\t{rec.score}\t{rec.strand}\t{_extras(rec)}\n"


def format_bed12(rec: ZipcodeRecord) -> str:
    """One standard 12-column BED12 line; ``rec.blocks`` must cover ``[start, end)`` from its
    first to last block. The extra columns go to the sidecar (:func:`format_sidecar`)."""
    blocks = rec.blocks if rec.blocks else [(rec.start, rec.end)]
    sizes = ",".join(str(e - s) for s, e in blocks)
    offsets = ",".join(str(s - rec.start) for s, _ in blocks)
    return (f"{rec.chrom}\t{rec.start}\t{rec.end}\t{rec.name}\t{rec.score}\t{rec.strand}\t{rec.start}\t{rec.end}\t0\t"
            f"{len(blocks)}\t{sizes}\t{offsets}\n")


def format_sidecar(rec: ZipcodeRecord) -> str:
    """One sidecar row (:data:`SIDECAR_COLUMNS`) of a BED12 row."""
    return f"{rec.name}\t{rec.chrom}\t{rec.start}\t{rec.end}\t{_extras(rec)}\n"


def sidecar_path(bed: str | os.PathLike) -> Path:
    """Where the extra columns of a genomic BED go: ``OUT.bed`` → ``OUT.extra.tsv``; a name
    not ending in ``.bed`` gets ``.extra.tsv`` appended (``z.txt`` → ``z.txt.extra.tsv``)."""
    bed = Path(bed)
    stem = bed.name[:-4] if bed.name.lower().endswith(".bed") and len(bed.name) > 4 else bed.name
    return bed.with_name(stem + ".extra.tsv")


def format_bedgraph(chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> str:
    """bedGraph lines ``chrom start end value`` (value ``%.6g``)."""
    return "".join(f"{chrom}\t{s}\t{e}\t{v:.6g}\n" for s, e, v in zip(
        np.asarray(starts).tolist(), np.asarray(ends).tolist(), np.asarray(values).tolist()))


def write_bed(handle, records: Iterable[ZipcodeRecord], bed12: bool, comment: str | None = None,
              sidecar=None) -> int:
    """Write records sorted by (chrom, start, end, name) to an open text handle; returns the count.

    bed12: standard 12-column rows (else BED6+4). sidecar: open text handle for the extra
    columns of BED12 rows (header + rows in the BED's order); None writes no extras.
    """
    rows = sorted(records, key=ZipcodeRecord.sort_key)
    if comment:
        handle.write("#" + comment.replace("\n", " ") + "\n")
    fmt = format_bed12 if bed12 else format_bed6
    for rec in rows:
        handle.write(fmt(rec))
    if bed12 and sidecar is not None:
        sidecar.write("\t".join(SIDECAR_COLUMNS) + "\n")
        for rec in rows:
            sidecar.write(format_sidecar(rec))
    return len(rows)


# -- genomic projection -------------------------------------------------------------------------

class TranscriptIndex:
    """Transcript models of a GTF, looked up by id with or without a version suffix."""

    def __init__(self, models: dict[str, TranscriptModel]) -> None:
        self.exact = models
        self.stripped: dict[str, list[TranscriptModel]] = {}
        for tid, model in models.items():
            self.stripped.setdefault(strip_version(tid), []).append(model)

    def get(self, record_id: str, length: int, where: str = "GTF") -> TranscriptModel:
        """The model of ``record_id`` whose exons add up to ``length`` nt.

        An exact id match is used first; otherwise ids are compared without version
        suffixes and, when several versions match, the one of the right length is taken.
        Raises :class:`InputError` when none (or several) fit.
        """
        model = self.exact.get(record_id)
        if model is not None:
            if model.length != length:
                raise InputError(f"{where}: transcript {record_id} has {model.length} nt of exons "
                                 f"but {length} nt in the FASTA")
            return model
        candidates = self.stripped.get(strip_version(record_id), [])
        if not candidates:
            raise InputError(f"{where}: transcript {record_id} not found (ids are matched without version suffixes)")
        fitting = [m for m in candidates if m.length == length]
        if len(fitting) == 1:
            return fitting[0]
        if not fitting:
            sizes = ", ".join(f"{m.transcript_id} {m.length} nt" for m in candidates[:3])
            raise InputError(f"{where}: no annotation of {record_id} has its FASTA length {length} nt ({sizes})")
        names = ", ".join(m.transcript_id for m in fitting)
        raise InputError(f"{where}: {record_id} matches several transcripts of {length} nt ({names}); use versioned ids")


def genomic_blocks(model: TranscriptModel, start: int, end: int) -> list[tuple[int, int]]:
    """Ascending genomic blocks of transcript positions ``[start, end)`` (strand-aware)."""
    return transcript_blocks(model.exons, model.strand, start, end)


def project_track(model: TranscriptModel, starts: np.ndarray, ends: np.ndarray,
                  values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map transcript intervals to genomic ones (split at introns), sorted by start.

    Vectorised over intervals and exons: each interval is clipped to each exon's transcript
    span and shifted to genomic coordinates (mirrored on the minus strand).
    """
    ordered = model.exons if model.strand != "-" else model.exons[::-1]
    g_lo = np.array([s for s, _ in ordered], dtype=np.int64)
    g_hi = np.array([e for _, e in ordered], dtype=np.int64)
    t_lo = np.concatenate([[0], np.cumsum(g_hi - g_lo)[:-1]])
    t_hi = t_lo + (g_hi - g_lo)
    a = np.maximum(np.asarray(starts)[:, None], t_lo[None, :])
    b = np.minimum(np.asarray(ends)[:, None], t_hi[None, :])
    keep = a < b
    iv, ex = np.nonzero(keep)
    a, b = a[keep], b[keep]
    if model.strand != "-":
        lo, hi = g_lo[ex] + (a - t_lo[ex]), g_lo[ex] + (b - t_lo[ex])
    else:
        lo, hi = g_hi[ex] - (b - t_lo[ex]), g_hi[ex] - (a - t_lo[ex])
    order = np.argsort(lo, kind="stable")
    return lo[order], hi[order], np.asarray(values)[iv][order]

