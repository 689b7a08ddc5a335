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

bedGraph: ``chrom start end value``. ``predict --attention`` starts its bedGraph with one
``#`` comment line (:func:`attention_comment`) and keeps the FASTA's order; the zipcode
track has no comment line and is sorted like the BED. Numbers: ``kl_peak`` and bedGraph values ``%.6g``;
``deltas`` comma-separated ``%.6g``, one per fraction in model order. Rows are sorted by
chrom (byte order, like ``LC_ALL=C sort -k1,1``), then start, then end. A BED file may start
with one ``#`` comment line holding the run's settings (bedtools and pandas skip it).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import open_binary
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


def attention_comment(version: str, model: str | os.PathLike) -> str:
    """The first line of an attention bedGraph (``#`` included, no newline): what made it.
    ``rnatracker merge`` recognises attention bedGraphs by it (:func:`is_attention_comment`):
    their rows are in FASTA order, so shards are concatenated, not sorted."""
    return f"#rnatracker {version} predict --attention model={model}"


def is_attention_comment(line: str) -> bool:
    """Whether ``line`` is the first line :func:`attention_comment` writes."""
    words = line.split(" ")
    return len(words) >= 4 and words[0] == "#rnatracker" and words[2:4] == ["predict", "--attention"]


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


# -- reading zipcode BEDs back --------------------------------------------------------------------

def _lines(path: str | os.PathLike) -> list[str]:
    where = "<stdin>" if str(path) == "-" else str(path)
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt gzip stream
        raise InputError(f"{where}: cannot read: {exc}") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start})") from None


def _int(text: str, what: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not an integer") from None
    if value < 0:
        raise InputError(f"{where}: {what} {value} is negative")
    return value


def _float(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise InputError(f"{where}: {what} {text!r} is not finite")
    return value


def _int_list(text: str, count: int, what: str, where: str) -> list[int]:
    items = text.rstrip(",").split(",") if text.strip(",") else []
    if len(items) != count:
        raise InputError(f"{where}: {what} lists {len(items)} values, blockCount is {count}")
    return [_int(v, what, where) for v in items]


def _extras_from(fields: list[str], where: str) -> tuple[float, str, str, np.ndarray]:
    kl_peak, fraction, direction, deltas = fields
    if direction not in ("enhancing", "repressive"):
        raise InputError(f"{where}: direction {direction!r} is neither enhancing nor repressive")
    if not fraction:
        raise InputError(f"{where}: empty fraction")
    values = [_float(v, "delta", where) for v in deltas.split(",")] if deltas else []
    return _float(kl_peak, "kl_peak", where), fraction, direction, np.array(values, dtype=np.float64)


def _bed_fields(fields: list[str], where: str) -> tuple[str, int, int, str, int, str]:
    chrom, start, end, name, score, strand = fields[:6]
    if not chrom or not name:
        raise InputError(f"{where}: empty chrom or name")
    lo, hi = _int(start, "start", where), _int(end, "end", where)
    if hi <= lo:
        raise InputError(f"{where}: end {hi} is not after start {lo}")
    points = _int(score, "score", where)
    if points > 1000:
        raise InputError(f"{where}: score {points} is above 1000")
    if strand not in ("+", "-", "."):
        raise InputError(f"{where}: strand {strand!r} is not +, - or .")
    return chrom, lo, hi, name, points, strand


def _blocks(fields: list[str], start: int, end: int, where: str) -> list[tuple[int, int]]:
    count = _int(fields[9], "blockCount", where)
    if count < 1:
        raise InputError(f"{where}: blockCount must be at least 1")
    sizes = _int_list(fields[10], count, "blockSizes", where)
    offsets = _int_list(fields[11], count, "blockStarts", where)
    blocks = [(start + o, start + o + n) for o, n in zip(offsets, sizes)]
    if offsets[0] != 0 or blocks[-1][1] != end:
        raise InputError(f"{where}: blocks do not span start to end")
    for (a, b), (c, _) in zip(blocks, blocks[1:] + [(end, end)]):
        if b <= a or c < b:
            raise InputError(f"{where}: blocks are empty, overlapping or out of order")
    return blocks


def read_zipcode_bed(path: str | os.PathLike, sidecar: str | os.PathLike | None = None) -> list[ZipcodeRecord]:
    """Read a zipcode BED as ``scan-zipcodes`` writes it, in file order.

    Rows of 10 columns are BED6+4 (transcript coordinates); rows of 12 columns are BED12
    (genomic), whose extra columns are taken from ``sidecar`` (default
    :func:`sidecar_path` of ``path`` when that file exists). BED12 rows without a sidecar
    get ``kl_peak`` NaN, empty fraction and direction, and no deltas. Blank lines and lines
    starting with ``#``, ``track`` or ``browser`` are skipped; plain or gzipped; ``-`` is
    stdin. Anything else malformed raises :class:`InputError` naming the line.
    """
    where_file = "<stdin>" if str(path) == "-" else str(path)
    if sidecar is None and str(path) != "-" and sidecar_path(path).is_file():
        sidecar = sidecar_path(path)
    extras: dict[tuple[str, str, int, int], tuple] | None = None
    if sidecar is not None:
        extras = {}
        lines = _lines(sidecar)
        if not lines or lines[0].split("\t") != list(SIDECAR_COLUMNS):
            raise InputError(f"{sidecar}: not a zipcode sidecar (header {', '.join(SIDECAR_COLUMNS)} expected)")
        for lineno, line in enumerate(lines[1:], 2):
            where = f"{sidecar}: line {lineno}"
            fields = line.split("\t")
            if len(fields) != len(SIDECAR_COLUMNS):
                raise InputError(f"{where}: {len(fields)} columns, expected {len(SIDECAR_COLUMNS)}")
            key = (fields[0], fields[1], _int(fields[2], "start", where), _int(fields[3], "end", where))
            extras[key] = _extras_from(fields[4:], where)
    records = []
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        where = f"{where_file}: line {lineno}"
        fields = line.split("\t")
        if len(fields) not in (len(BED_COLUMNS), len(BED12_COLUMNS)):
            raise InputError(f"{where}: {len(fields)} columns; a zipcode BED has {len(BED_COLUMNS)} (BED6+4) "
                             f"or {len(BED12_COLUMNS)} (BED12)")
        chrom, start, end, name, score, strand = _bed_fields(fields, where)
        if len(fields) == len(BED_COLUMNS):
            records.append(ZipcodeRecord(chrom, start, end, name, score, strand, *_extras_from(fields[6:], where)))
            continue
        blocks = _blocks(fields, start, end, where)
        if extras is None:
            extra = (float("nan"), "", "", np.zeros(0))
        else:
            extra = extras.get((name, chrom, start, end))
            if extra is None:
                raise InputError(f"{where}: {name} ({chrom}:{start}-{end}) is not in the sidecar {sidecar}")
        records.append(ZipcodeRecord(chrom, start, end, name, score, strand, *extra, blocks=blocks))
    return records


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

