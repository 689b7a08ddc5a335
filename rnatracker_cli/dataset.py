"""`prepare`: transcripts + a localization table → a dataset cache (``CACHE.h5``).

Paper defaults: average replicates, drop transcripts whose total expression across fractions
is ≤ ``min_total`` (1.0), then ``loc(g, f) = e(g, f) / Σ e(g, f')``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.io.atomic import check_output
from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.io.fasta import FastaRecord, read_fasta
from rnatracker_cli.io.genome import Genome
from rnatracker_cli.io.gtf import longest_coding_isoforms, read_gtf
from rnatracker_cli.io.tables import LocalizationTable, read_localization, strip_version

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
    fractions: list[str] = field(default_factory=list)
    by_fraction: dict[str, tuple[int, float]] = field(default_factory=dict)
    nucleotides: int = 0


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


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
) -> PrepareSummary:
    """Build a cache from ``fasta`` (or ``genome`` + ``gtf``) and a localization table.

    Records are matched to table rows by transcript id, then by gene id (``gene:``/``gene_id=``
    in FASTA descriptions; the GTF's gene_id), each with or without a version suffix. When
    several records match one row (isoforms of a gene-keyed table) the longest is kept.
    With ``normalized`` the values are taken as distributions (rows are rescaled to sum to 1,
    and no expression filter applies). ``max_length`` truncates longer transcripts at the 5'
    end (they are kept). Records are written in input order.
    """
    if (fasta is None) == (genome is None and gtf is None):
        raise RNATrackerError("give either --fasta, or --genome with --gtf")
    if fasta is None and (genome is None or gtf is None):
        raise RNATrackerError("--genome and --gtf go together")
    if min_total < 0:
        raise RNATrackerError("--min-total must be >= 0")
    if max_length is not None and max_length < 1:
        raise RNATrackerError("--max-length must be >= 1")
    check_output(out, force)
    summary = PrepareSummary(Path(out))
    table = read_localization(localization, id_column, fractions, replicate_pattern)
    summary.table_rows = len(table.ids)
    summary.fractions = table.fractions
    matcher = _Matcher(table)

    chosen: dict[int, FastaRecord] = {}
    genes: dict[int, str | None] = {}
    order: list[int] = []
    example_record = None
    for rec in _records(fasta, genome, gtf):
        summary.records_read += 1
        summary.ambiguous_bases += rec.n_ambiguous
        gene = _gene_of(rec)
        row = matcher.row([rec.id, gene])
        if row is None:
            summary.dropped["no localization row"] += 1
            example_record = example_record or rec.id
            continue
        if row in chosen:
            summary.dropped["shorter isoform of a matched gene"] += 1
            if len(rec) <= len(chosen[row]):
                continue
        else:
            order.append(row)
        chosen[row] = rec
        genes[row] = gene
    if not chosen:
        raise InputError(
            f"no ids match between the sequences ({summary.records_read} records, e.g. {example_record}) and "
            f"{localization} (column '{table.id_column}', e.g. {table.ids[0]})"
        )
    summary.matched = len(order)
    summary.dropped["no sequence"] = len(table.ids) - len(order)

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

    ids, seqs, full_lengths = [], [], []
    for row in keep:
        rec = chosen[row]
        codes = rec.codes
        full_lengths.append(len(codes))
        if max_length is not None and len(codes) > max_length:
            codes = codes[len(codes) - max_length:]  # 5' truncation keeps the 3' end
            summary.truncated += 1
        ids.append(rec.id)
        seqs.append(codes)
    gene_list = [genes[r] or (table.genes[r] if table.genes else None) for r in keep]
    has_genes = all(g for g in gene_list)
    target_arr = np.asarray(targets, dtype=np.float32)
    # Renormalise in float32 so rows sum to 1 at the stored precision.
    target_arr /= target_arr.sum(axis=1, keepdims=True)
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
        out, ids=ids, sequences=seqs, targets=target_arr, fractions=table.fractions,
        genes=gene_list if has_genes else None, expression=table.values[keep].astype(np.float32),
        full_lengths=full_lengths, inputs=inputs, params=params, force=force,
    )
    summary.written = len(ids)
    summary.nucleotides = int(sum(len(s) for s in seqs))
    predominant = target_arr.argmax(axis=1)
    full = np.asarray(full_lengths)
    for f, name in enumerate(table.fractions):
        sel = predominant == f
        summary.by_fraction[name] = (int(sel.sum()), float(full[sel].mean()) if sel.any() else float("nan"))
    return summary
