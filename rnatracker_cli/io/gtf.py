"""GTF annotation: transcript models, longest protein-coding isoform per gene, coordinate maps.

Coordinates inside the library are 0-based half-open; GTF's 1-based inclusive ``start`` is
converted on reading (``start - 1``) and back on writing.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import open_binary

_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')
_BIOTYPE_KEYS = ("transcript_biotype", "transcript_type")
_GENE_BIOTYPE_KEYS = ("gene_biotype", "gene_type")


@dataclass
class TranscriptModel:
    """One transcript: exons as sorted 0-based half-open genomic intervals (ascending)."""

    transcript_id: str
    gene_id: str
    chrom: str
    strand: str
    exons: list[tuple[int, int]] = field(default_factory=list)
    biotype: str = ""
    has_cds: bool = False
    coding: tuple[int, int] | None = None  # genomic span of CDS + stop_codon lines (0-based, half-open)

    @property
    def length(self) -> int:
        return sum(e - s for s, e in self.exons)

    @property
    def protein_coding(self) -> bool:
        return self.biotype == "protein_coding" if self.biotype else self.has_cds


def read_gtf(path: str | os.PathLike) -> dict[str, TranscriptModel]:
    """Transcript models keyed by transcript id, from ``exon`` and ``CDS`` lines of a GTF.

    ``stop_codon`` lines (GENCODE keeps the stop codon out of ``CDS``) only widen
    :attr:`TranscriptModel.coding`.
    """
    try:
        with open_binary(path) as handle:
            table = pd.read_csv(
                handle, sep="\t", comment="#", header=None, dtype=str, quoting=3,
                names=["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attrs"],
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: GTF file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a GTF file ({exc})") from None
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt gzip stream
        raise InputError(f"{path}: cannot read: {exc}") from None
    if table["attrs"].isna().all():
        raise InputError(f"{path}: not a GTF file (expected 9 tab-separated columns)")
    table = table[table["feature"].isin(["exon", "CDS", "stop_codon"])]
    try:
        starts = table["start"].astype(np.int64).to_numpy() - 1
        ends = table["end"].astype(np.int64).to_numpy()
    except (ValueError, TypeError, OverflowError):
        raise InputError(f"{path}: GTF start/end columns are not integers") from None
    missing = table["chrom"].isna() | table["strand"].isna()
    if missing.any():
        raise InputError(f"{path}: an exon or CDS line lacks its chromosome or strand")
    odd = ~table["strand"].isin(["+", "-", "."])
    if odd.any():
        raise InputError(f"{path}: strand {table['strand'][odd].iloc[0]!r} is not +, - or .")
    bad = np.flatnonzero((starts < 0) | (ends <= starts))
    if bad.size:
        row = table.iloc[int(bad[0])]
        raise InputError(f"{path}: {row['feature']} line with start {row['start']} and end {row['end']} "
                         "(GTF coordinates are 1-based, start <= end)")
    models: dict[str, TranscriptModel] = {}
    for chrom, feature, start, end, strand, attrs in zip(
        table["chrom"], table["feature"], starts, ends, table["strand"], table["attrs"]
    ):
        kv = dict(_ATTR.findall(attrs if isinstance(attrs, str) else ""))
        tid = kv.get("transcript_id")
        if tid is None:
            continue
        model = models.get(tid)
        if model is None:
            biotype = next((kv[k] for k in _BIOTYPE_KEYS if k in kv), "")
            if not biotype:
                biotype = next((kv[k] for k in _GENE_BIOTYPE_KEYS if k in kv), "")
            model = models[tid] = TranscriptModel(tid, kv.get("gene_id", tid), chrom, strand, biotype=biotype)
        if feature == "exon":
            model.exons.append((int(start), int(end)))
            continue
        model.has_cds = model.has_cds or feature == "CDS"
        lo, hi = (int(start), int(end)) if model.coding is None else model.coding
        model.coding = (min(lo, int(start)), max(hi, int(end)))
    for model in models.values():
        model.exons.sort()
    if not models:
        raise InputError(f"{path}: no transcripts with exon lines found in the GTF")
    return models


def longest_coding_isoforms(models: dict[str, TranscriptModel]) -> list[TranscriptModel]:
    """The longest protein-coding transcript of each gene (ties: smallest transcript id).

    Protein-coding means ``transcript_biotype``/``transcript_type`` (or the gene's biotype when
    the transcript has none) is ``protein_coding``; without any biotype attribute, having CDS
    lines. Genes are returned in order of first appearance.
    """
    best: dict[str, TranscriptModel] = {}
    for model in models.values():
        if not model.protein_coding or not model.exons:
            continue
        cur = best.get(model.gene_id)
        if cur is None or (model.length, cur.transcript_id) > (cur.length, model.transcript_id):
            best[model.gene_id] = model
    return list(best.values())


def transcript_blocks(exons: list[tuple[int, int]], strand: str, start: int, end: int) -> list[tuple[int, int]]:
    """Genomic blocks (ascending, 0-based half-open) covered by transcript positions [start, end).

    ``exons`` are the transcript's exons sorted by genomic position; transcript coordinates
    run 5'→3', i.e. from the last exon backwards on the minus strand.
    """
    ordered = exons if strand != "-" else exons[::-1]
    blocks: list[tuple[int, int]] = []
    pos = 0
    for s, e in ordered:
        size = e - s
        lo, hi = max(start, pos), min(end, pos + size)
        if lo < hi:
            if strand != "-":
                blocks.append((s + lo - pos, s + hi - pos))
            else:
                blocks.append((e - (hi - pos), e - (lo - pos)))
        pos += size
    return sorted(blocks)


def coding_range(model: TranscriptModel) -> tuple[int, int] | None:
    """Transcript coordinates ``(start, end)`` (0-based, half-open, 5'→3') of the coding part.

    From :attr:`TranscriptModel.coding` (CDS + stop codon); None when the transcript has no CDS
    or its CDS lies outside its exons. 5'UTR = ``[0, start)``, 3'UTR = ``[end, length)``.
    """
    if model.coding is None:
        return None
    lo, hi = model.coding
    first, last = transcript_position(model, lo), transcript_position(model, hi - 1)
    if first is None or last is None:
        return None
    a, b = sorted((first, last))
    return a, b + 1


def transcript_position(model: TranscriptModel, pos: int) -> int | None:
    """Transcript coordinate (5'→3') of genomic base ``pos``; None when it is not in an exon."""
    offset = 0
    ordered = model.exons if model.strand != "-" else model.exons[::-1]
    for s, e in ordered:
        if s <= pos < e:
            return offset + (pos - s if model.strand != "-" else e - 1 - pos)
        offset += e - s
    return None
