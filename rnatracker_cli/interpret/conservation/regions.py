"""Zipcode regions for the conservation test: reading BEDs, projecting them to the genome,
and labelling their region type (5'UTR / CDS / 3'UTR).

Accepted BEDs (0-based, half-open; ``#``, ``track`` and ``browser`` lines skipped):

* transcript coordinates (chrom = transcript id), any BED3+ with fewer than 12 columns —
  scan-zipcodes' BED6+4 (``kl_peak`` in column 7, ``direction`` in column 9) or simulate's
  truth ``zipcodes.bed`` (direction = the last ``:`` field of the name). Needs a GTF: each
  region is projected through its transcript's exons (strand-aware, one block per exon).
* genomic BED12 (scan-zipcodes ``--gtf``): blocks as given. ``kl_peak``/``direction`` come
  from a sidecar TSV (``X.bed`` → ``X.extra.tsv``, columns ``name chrom start end kl_peak …
  direction``) when there is one, from 16-column BED12+4 rows, or from the name's last ``:``
  field; otherwise all regions form one group. With a GTF, the transcript is the name's
  first ``:`` field (scan-zipcodes names are ``ID:FRACTION:DIRECTION``), which lets the
  background be drawn from it.
* a BED with fewer than 12 columns whose chromosomes are all in the bigWig is read as
  genomic, one block per row (e.g. a user's background BED).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import open_binary
from rnatracker_cli.io.gtf import TranscriptModel, coding_range, transcript_blocks, transcript_position
from rnatracker_cli.io.tables import strip_version

DIRECTIONS = ("enhancing", "repressive")
REGION_TYPES = ("utr5", "cds", "utr3", "noncoding")  # codes 0..3 in per-position arrays


@dataclass
class Region:
    """One zipcode or background region.

    blocks: ascending 0-based half-open genomic blocks on ``chrom``; transcript/tx_start/tx_end:
    the region in transcript coordinates (``""``/-1 when unknown); region_type: one of
    :data:`REGION_TYPES` (majority of its bases) or ``""`` (unknown); kl_peak: NaN when the
    BED has none; direction: ``enhancing``/``repressive`` or ``""``.
    """

    name: str
    chrom: str
    strand: str
    blocks: list[tuple[int, int]]
    transcript: str = ""
    tx_start: int = -1
    tx_end: int = -1
    direction: str = ""
    kl_peak: float = math.nan
    region_type: str = ""
    matched_to: int = -1  # background: index of the zipcode it was drawn for
    covered: int = 0  # bases with a score in the track
    mean: float = math.nan  # mean / median score over the covered bases (NaN when none)
    median: float = math.nan

    @property
    def length(self) -> int:
        return sum(e - s for s, e in self.blocks)

    @property
    def start(self) -> int:
        return self.blocks[0][0]

    @property
    def end(self) -> int:
        return self.blocks[-1][1]


# -- transcripts --------------------------------------------------------------------------------

class TranscriptLookup:
    """GTF transcripts by id, with or without a version suffix.

    An exact id wins. Otherwise ids are compared without versions; among several versions or
    isoforms (``SIMT1`` → ``SIMT1.1``, ``SIMT1.2``…) those long enough for the region are kept
    and the longest protein-coding one is taken — the isoform ``prepare`` picks per gene.
    """

    def __init__(self, models: dict[str, TranscriptModel]) -> None:
        self.models = models
        self.stripped: dict[str, list[TranscriptModel]] = {}
        for tid, model in models.items():
            self.stripped.setdefault(strip_version(tid), []).append(model)
        self._layout: dict[str, _Layout] = {}

    def find(self, tid: str, min_length: int = 0) -> TranscriptModel | None:
        model = self.models.get(tid)
        if model is not None:
            return model
        fitting = [m for m in self.stripped.get(strip_version(tid), []) if m.length >= min_length and m.exons]
        if not fitting:
            return None
        return max(fitting, key=lambda m: (m.protein_coding, m.length, _neg(m.transcript_id)))

    def layout(self, model: TranscriptModel) -> _Layout:
        cached = self._layout.get(model.transcript_id)
        if cached is None:
            cached = self._layout[model.transcript_id] = _Layout(model)
        return cached


def _neg(text: str) -> tuple:
    # smallest id wins ties under max()
    return tuple(-b for b in text.encode())


class _Layout:
    """Per-position facts of one transcript: genomic coordinate of each position (5'→3') and
    the region-type segments ``[0, a) [a, b) [b, length)`` = 5'UTR, CDS, 3'UTR (one
    ``noncoding`` segment without CDS)."""

    def __init__(self, model: TranscriptModel) -> None:
        self.model = model
        parts = [np.arange(s, e, dtype=np.int64) for s, e in model.exons]
        gpos = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        self.genomic = gpos if model.strand != "-" else gpos[::-1].copy()
        n = len(self.genomic)
        coding = coding_range(model)
        self.segments = ([(0, 0), (0, 0), (0, 0), (0, n)] if coding is None
                         else [(0, coding[0]), coding, (coding[1], n), (0, 0)])

    @property
    def types(self) -> np.ndarray:
        """int8 (length,) region-type code of every position."""
        out = np.zeros(len(self.genomic), dtype=np.int8)
        for code, (lo, hi) in enumerate(self.segments):
            out[lo:hi] = code
        return out

    def majority(self, starts: np.ndarray, width: int) -> np.ndarray:
        """int (len(starts),) majority region-type code of windows ``[s, s + width)``
        (ties: the first type in REGION_TYPES order)."""
        starts = np.asarray(starts, dtype=np.int64)
        counts = np.stack([np.clip(np.minimum(starts + width, hi) - np.maximum(starts, lo), 0, None)
                           for lo, hi in self.segments])
        return np.argmax(counts, axis=0)


def region_type(lookup: TranscriptLookup, model: TranscriptModel, start: int, end: int) -> str:
    """The majority region type of transcript positions ``[start, end)``."""
    code = lookup.layout(model).majority(np.array([start]), end - start)[0]
    return REGION_TYPES[int(code)]


# -- BED reading --------------------------------------------------------------------------------

def _rows(path: str | os.PathLike, what: str) -> list[list[str]]:
    if not Path(path).is_file():
        raise InputError(f"{path}: {what} BED not found")
    try:
        with open_binary(path) as handle:
            text = handle.read().decode()
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot read the {what} BED ({exc})") from None
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        rows.append(line.rstrip("\r").split("\t"))
    if not rows:
        raise InputError(f"{path}: the {what} BED has no regions")
    return rows


def _int(value: str, path, lineno: int, col: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{path}: row {lineno}: {col} {value!r} is not an integer") from None


def _is_bed12(row: list[str]) -> bool:
    if len(row) < 12:
        return False
    try:
        n = int(row[9])
        sizes = [int(x) for x in row[10].rstrip(",").split(",")]
        starts = [int(x) for x in row[11].rstrip(",").split(",")]
    except ValueError:
        return False
    return n == len(sizes) == len(starts) and n > 0


def _bed12_blocks(row: list[str], start: int, path, lineno: int) -> list[tuple[int, int]]:
    if not _is_bed12(row):
        raise InputError(f"{path}: row {lineno} is not a BED12 row like the first one (blockCount, "
                         f"blockSizes, blockStarts in columns 10-12)")
    sizes = [int(x) for x in row[10].rstrip(",").split(",")]
    offsets = [int(x) for x in row[11].rstrip(",").split(",")]
    blocks = sorted((start + o, start + o + s) for o, s in zip(offsets, sizes))
    if any(s < 0 or e <= s for s, e in blocks) or any(b[0] < a[1] for a, b in zip(blocks, blocks[1:])):
        raise InputError(f"{path}: row {lineno}: BED12 blocks are empty or overlap")
    return blocks


def _name_direction(name: str) -> str:
    last = name.rsplit(":", 1)[-1]
    return last if last in DIRECTIONS else ""


def sidecar_path(bed: str | os.PathLike) -> Path:
    """The extra-columns TSV written beside a genomic BED: ``X.bed`` → ``X.extra.tsv``."""
    bed = Path(bed)
    stem = bed.name[:-4] if bed.name.lower().endswith(".bed") and len(bed.name) > 4 else bed.name
    return bed.with_name(stem + ".extra.tsv")


def _read_sidecar(path: Path) -> dict[tuple, tuple[float, str]]:
    """``(name, chrom, start, end)`` (or ``(name,)``) → ``(kl_peak, direction)``."""
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the sidecar TSV ({exc})") from None
    if "name" not in table.columns or not ({"kl_peak", "direction"} & set(table.columns)):
        raise InputError(f"{path}: the sidecar TSV needs a 'name' column and 'kl_peak' and/or 'direction'")
    keyed = {"chrom", "start", "end"} <= set(table.columns)
    out = {}
    for row in table.to_dict("records"):
        try:
            key = (row["name"], row["chrom"], int(row["start"]), int(row["end"])) if keyed else (row["name"],)
        except ValueError:
            raise InputError(f"{path}: start/end of {row['name']} are not integers") from None
        kl = _float(row.get("kl_peak", ""))
        direction = row.get("direction", "")
        out[key] = (kl, direction if direction in DIRECTIONS else "")
    return out


def read_regions(path: str | os.PathLike, lookup: TranscriptLookup | None, chroms: dict[str, int],
                 what: str = "zipcode", extra: str | os.PathLike | None = None) -> list[Region]:
    """Regions of a BED (see the module docstring), in file order, genomic blocks filled in.

    chroms: the bigWig's chromosome sizes (a genomic region must lie on one of them).
    Raises :class:`InputError` for an empty BED, a transcript-coordinate BED without a GTF,
    transcript ids missing from the GTF, regions past a transcript's end and chromosomes
    absent from the bigWig.
    """
    rows = _rows(path, what)
    bed12 = _is_bed12(rows[0])
    if not bed12 and lookup is None and not all(r[0] in chroms for r in rows):
        missing = next(r[0] for r in rows if r[0] not in chroms)
        raise InputError(f"{path}: {missing} is neither a chromosome of the bigWig nor a genomic BED12 row: a BED "
                         f"in transcript coordinates needs --gtf to be projected to the genome")
    # a BED3–BED11 whose chromosomes are all in the bigWig is genomic (transcript ids are not
    # chromosome names); otherwise its chrom column holds transcript ids
    transcript_coords = not bed12 and not all(r[0] in chroms for r in rows)
    side = {}
    if extra is not None:
        if not Path(extra).is_file():
            raise InputError(f"{extra}: sidecar TSV not found")
        if not bed12:
            raise InputError(f"{extra}: a sidecar TSV goes with a genomic BED12; {path} is not one")
        side = _read_sidecar(Path(extra))
    elif bed12 and sidecar_path(path).is_file():
        side = _read_sidecar(sidecar_path(path))
    regions = []
    for lineno, row in enumerate(rows, 1):
        if len(row) < 3:
            raise InputError(f"{path}: row {lineno} has {len(row)} columns; a BED needs at least chrom, start, end")
        chrom = row[0]
        start, end = _int(row[1], path, lineno, "start"), _int(row[2], path, lineno, "end")
        if start < 0 or end <= start:
            raise InputError(f"{path}: row {lineno}: empty or negative interval {start}-{end}")
        name = row[3] if len(row) > 3 and row[3] else f"{chrom}:{start}-{end}"
        strand = row[5] if len(row) > 5 and row[5] in ("+", "-") else "+"
        kl, direction = math.nan, ""
        if bed12:
            if (name, chrom, start, end) in side or (name,) in side:
                kl, direction = side.get((name, chrom, start, end)) or side[(name,)]
            elif len(row) >= 16 and row[14] in DIRECTIONS:
                kl, direction = _float(row[12]), row[14]
        elif len(row) >= 10 and row[8] in DIRECTIONS:
            kl, direction = _float(row[6]), row[8]
        direction = direction or _name_direction(name)
        region = Region(name, chrom, strand, [], direction=direction, kl_peak=kl)
        if transcript_coords:
            model = lookup.find(chrom, end) or lookup.find(chrom)
            if model is None:
                raise InputError(f"{path}: row {lineno}: transcript {chrom} is not in the GTF "
                                 f"(ids are matched without version suffixes)")
            if model.length < end:
                raise InputError(f"{path}: row {lineno}: {chrom}:{start}-{end} runs past the end of "
                                 f"{model.transcript_id} ({model.length} nt)")
            region.chrom, region.strand = model.chrom, model.strand
            region.blocks = transcript_blocks(model.exons, model.strand, start, end)
            region.transcript, region.tx_start, region.tx_end = model.transcript_id, start, end
            region.region_type = region_type(lookup, model, start, end)
        else:
            region.blocks = _bed12_blocks(row, start, path, lineno) if bed12 else [(start, end)]
            if lookup is not None:
                _attach_transcript(region, lookup)
        size = chroms.get(region.chrom)
        if size is None:
            raise InputError(f"{path}: row {lineno}: chromosome {region.chrom} is not in the bigWig "
                             f"(it has {', '.join(list(chroms)[:3])}{', …' if len(chroms) > 3 else ''})")
        if region.end > size:
            raise InputError(f"{path}: row {lineno}: {region.chrom}:{region.start}-{region.end} runs past the "
                             f"chromosome's end ({size}) in the bigWig")
        regions.append(region)
    return regions


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def _attach_transcript(region: Region, lookup: TranscriptLookup) -> None:
    """Find a genomic region's transcript from its name's first ``:`` field; keep it only if
    the region's blocks are exactly that transcript's positions [tx_start, tx_end)."""
    model = lookup.find(region.name.split(":", 1)[0], region.length)
    if model is None or model.chrom != region.chrom:
        return
    ends = [transcript_position(model, region.start), transcript_position(model, region.end - 1)]
    if None in ends:
        return
    a, b = sorted(ends)
    if transcript_blocks(model.exons, model.strand, a, b + 1) != region.blocks:
        return
    region.transcript, region.tx_start, region.tx_end = model.transcript_id, a, b + 1
    region.strand = model.strand
    region.region_type = region_type(lookup, model, a, b + 1)
