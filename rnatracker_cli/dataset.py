"""`prepare`: transcripts + a localization table → a dataset cache (``CACHE.h5``).

Paper defaults: average replicates, drop transcripts whose total expression across fractions
is ≤ ``min_total`` (1.0), then ``loc(g, f) = e(g, f) / Σ e(g, f')``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT, check_transcript_length
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.io.atomic import check_output
from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.io.fasta import FastaRecord, read_fasta
from rnatracker_cli.io.genome import Genome
from rnatracker_cli.io.gtf import longest_coding_isoforms, read_gtf
from rnatracker_cli.io.tables import LocalizationTable, read_localization, strip_version
from rnatracker_cli.utils.hashing import file_sha256

DROP_REASONS = (
    "no sequence",
    "no localization row",
    "shorter isoform of a matched gene",
    "low expression",
    "invalid",
)
_GENE_TAG = re.compile(r"(?:^|\s)gene(?:_id)?[:=](\S+)")


@dataclass
class PrepareSummary:
    """What `prepare` read, kept and dropped (counts are transcripts unless noted)."""

    out: Path
    records_read: int = 0
    table_rows: int = 0
    matched: int = 0
    written: int = 0
    dropped: Counter = field(default_factory=Counter)
    truncated: int = 0
    ambiguous_bases: int = 0
    renormalized: int = 0
    genes_missing: int = 0
    fractions: list[str] = field(default_factory=list)
    by_fraction: dict[str, tuple[int, float]] = field(default_factory=dict)
    nucleotides: int = 0


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of an input file (recorded in the cache's provenance)."""
    return file_sha256(path, block=1 << 22)


def _gene_of(record: FastaRecord) -> str | None:
    m = _GENE_TAG.search(record.description)
    return m.group(1) if m else None


class _Matcher:
    """Look up table rows by exact id, then by id without version suffix."""

    def __init__(self, table: LocalizationTable) -> None:
        self.exact = {rid: r for r, rid in enumerate(table.ids)}
        self.stripped = {strip_version(rid): r for r, rid in enumerate(table.ids)}

    def row(self, keys: Iterable[str | None]) -> int | None:
        keys = [k for k in keys if k]
        for k in keys:
            if k in self.exact:
                return self.exact[k]
        for k in keys:
            r = self.stripped.get(strip_version(k))
            if r is not None:
                return r
        return None


def _records(fasta, genome, gtf) -> Iterable[FastaRecord]:
    if fasta is not None:
        yield from read_fasta(fasta)
        return
    models = read_gtf(gtf)
    chosen = longest_coding_isoforms(models)
    if not chosen:
        raise InputError(f"{gtf}: no protein-coding transcripts (transcript_biotype/transcript_type "
                         "'protein_coding', or CDS lines) in the GTF")
    with Genome(genome) as g:
        yield from g.transcripts(chosen)


def prepare_dataset(
    out: str | os.PathLike,
    localization: str | os.PathLike,
    fasta: str | os.PathLike | None = None,
    genome: str | os.PathLike | None = None,
    gtf: str | os.PathLike | None = None,
    id_column: str | None = None,
    fractions: list[str] | None = None,
    replicate_pattern: str | None = None,
    min_total: float = 1.0,
    normalized: bool = False,
    max_length: int | None = None,
    force: bool = False,
    max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT,
) -> PrepareSummary:
    """Build a cache from ``fasta`` (or ``genome`` + ``gtf``) and a localization table.

    Records are matched to table rows by transcript id, then by gene id (``gene:``/``gene_id=``
    in FASTA descriptions; the GTF's gene_id), each with or without a version suffix. When
    several records match one row (isoforms of a gene-keyed table) the longest is kept.
    With ``normalized`` the values are taken as distributions (rows are rescaled to sum to 1,
    and no expression filter applies). ``max_length`` truncates longer transcripts at the 5'
    end (they are kept). A kept transcript longer than ``max_transcript_nt`` after that
    (None = no cap) is an error: no model could be trained on it. Records are written in
    input order. Gene ids are stored when at
    least one transcript has one; a transcript without one is stored with ``""`` and forms a
    group of its own in CV folds and validation splits (``summary.genes_missing``).
    """
    _check_options(fasta, genome, gtf, min_total, max_length)
    check_output(out, force)
    summary = PrepareSummary(Path(out))
    table = read_localization(localization, id_column, fractions, replicate_pattern)
    summary.table_rows = len(table.ids)
    summary.fractions = table.fractions
    matched = _match_records(_records(fasta, genome, gtf), table, localization, summary)
    keep, targets = _distributions(matched.order, table, normalized, min_total, localization, summary)
    ids, seqs, full_lengths = _sequences([matched.records[r] for r in keep], max_length, summary)
    for rid, codes in zip(ids, seqs):
        check_transcript_length(f"record {rid}", len(codes), max_transcript_nt)
    gene_list = [matched.genes[r] or (table.genes[r] if table.genes else None) for r in keep]
    genes = _gene_column(gene_list, summary)
    inputs = [{"role": role, "path": str(Path(p).resolve()), "sha256": sha256_file(p)}
              for role, p in (("fasta", fasta), ("genome", genome), ("gtf", gtf), ("localization", localization))
              if p is not None and str(p) != "-"]
    params = {
        "id_column": table.id_column, "fractions": table.fractions,
        "replicates": {f: cols for f, cols in table.replicates.items()},
        "replicate_pattern": replicate_pattern, "min_total": min_total, "normalized": normalized,
        "max_length": max_length, "source": "fasta" if fasta is not None else "genome+gtf",
    }
    write_cache(
        out, ids=ids, sequences=seqs, targets=targets, fractions=table.fractions,
        genes=genes, expression=table.values[keep].astype(np.float32),
        full_lengths=full_lengths, inputs=inputs, params=params, force=force,
    )
    summary.written = len(ids)
    summary.nucleotides = int(sum(len(s) for s in seqs))
    _count_by_fraction(targets, np.asarray(full_lengths), table.fractions, summary)
    return summary


def _check_options(fasta, genome, gtf, min_total: float, max_length: int | None) -> None:
    if (fasta is None) == (genome is None and gtf is None):
        raise RNATrackerError("give either --fasta, or --genome with --gtf")
    if fasta is None and (genome is None or gtf is None):
        raise RNATrackerError("--genome and --gtf go together")
    if min_total < 0:
        raise RNATrackerError("--min-total must be >= 0")
    if max_length is not None and max_length < 1:
        raise RNATrackerError("--max-length must be >= 1")


@dataclass
class _Matched:
    """Records matched to table rows: ``order`` lists rows in input order."""

    records: dict[int, FastaRecord]
    genes: dict[int, str | None]
    order: list[int]


def _match_records(records: Iterable[FastaRecord], table: LocalizationTable, localization,
                   summary: PrepareSummary) -> _Matched:
    """Match each record to a table row (the longest record wins a row)."""
    matcher = _Matcher(table)
    matched = _Matched({}, {}, [])
    example_record = None
    for rec in records:
        summary.records_read += 1
        summary.ambiguous_bases += rec.n_ambiguous
        gene = _gene_of(rec)
        row = matcher.row([rec.id, gene])
        if row is None:
            summary.dropped["no localization row"] += 1
            example_record = example_record or rec.id
            continue
        if row in matched.records:
            summary.dropped["shorter isoform of a matched gene"] += 1
            if len(rec) <= len(matched.records[row]):
                continue
        else:
            matched.order.append(row)
        matched.records[row] = rec
        matched.genes[row] = gene
    if not matched.records:
        raise InputError(
            f"no ids match between the sequences ({summary.records_read} records, e.g. {example_record}) and "
            f"{localization} (column '{table.id_column}', e.g. {table.ids[0]})"
        )
    summary.matched = len(matched.order)
    summary.dropped["no sequence"] = len(table.ids) - len(matched.order)
    return matched


def _distributions(order: list[int], table: LocalizationTable, normalized: bool, min_total: float,
                   localization, summary: PrepareSummary) -> tuple[list[int], np.ndarray]:
    """Rows kept and their target distributions, float32 (kept, F), rows summing to 1."""
    keep, targets = [], []
    for row in order:
        values = table.values[row]
        total = float(values.sum())
        if not np.isfinite(values).all():
            summary.dropped["invalid"] += 1
            continue
        if normalized:
            if total <= 0:
                raise InputError(f"{localization}: row {table.ids[row]} sums to 0, so it is not a distribution")
            if abs(total - 1.0) > 1e-3:
                summary.renormalized += 1
        elif total <= min_total:
            summary.dropped["low expression"] += 1
            continue
        keep.append(row)
        targets.append(values / total)
    if not keep:
        hint = "" if normalized else f" (total expression <= --min-total {min_total:g}; already-normalized values need --normalized)"
        raise InputError(f"all {summary.matched} matched transcripts were dropped{hint}")
    target_arr = np.asarray(targets, dtype=np.float32)
    # Renormalise in float32 so rows sum to 1 at the stored precision.
    target_arr /= target_arr.sum(axis=1, keepdims=True)
    return keep, target_arr


def _sequences(records: list[FastaRecord], max_length: int | None,
               summary: PrepareSummary) -> tuple[list[str], list[np.ndarray], list[int]]:
    """Ids, codes (5'-truncated to ``max_length``) and full lengths of the kept records."""
    ids, seqs, full_lengths = [], [], []
    for rec in records:
        codes = rec.codes
        full_lengths.append(len(codes))
        if max_length is not None and len(codes) > max_length:
            codes = codes[len(codes) - max_length:]  # 5' truncation keeps the 3' end
            summary.truncated += 1
        ids.append(rec.id)
        seqs.append(codes)
    return ids, seqs, full_lengths


def _gene_column(genes: list[str | None], summary: PrepareSummary) -> list[str] | None:
    """Genes to store: None when no transcript has one, else ``""`` for the missing ones."""
    summary.genes_missing = sum(1 for g in genes if not g)
    if summary.genes_missing == len(genes):
        return None
    return [g or "" for g in genes]


def _count_by_fraction(targets: np.ndarray, full_lengths: np.ndarray, fractions: list[str],
                       summary: PrepareSummary) -> None:
    predominant = targets.argmax(axis=1)
    for f, name in enumerate(fractions):
        sel = predominant == f
        summary.by_fraction[name] = (int(sel.sum()), float(full_lengths[sel].mean()) if sel.any() else float("nan"))
