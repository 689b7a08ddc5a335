"""`rnatracker prepare`: build a dataset cache from sequences and a localization table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Force, MaxTranscriptNt, Quiet
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT


def prepare(
    localization: Annotated[
        Path, typer.Option("--localization", "-l", help="Localization table (TSV/CSV, may be gzipped).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache to write (CACHE.h5).")],
    fasta: Annotated[
        Optional[str], typer.Option("--fasta", help="Transcript FASTA (plain or gzipped; - for stdin).")
    ] = None,
    genome: Annotated[
        Optional[Path], typer.Option("--genome", help="Genome FASTA (with --gtf instead of --fasta).")
    ] = None,
    gtf: Annotated[
        Optional[Path], typer.Option("--gtf", help="GTF annotation: the longest protein-coding isoform per gene is used.")
    ] = None,
    id_column: Annotated[
        Optional[str], typer.Option("--id-column", help="Id column of the table (default: the first column).")
    ] = None,
    fractions: Annotated[
        Optional[str], typer.Option("--fractions", help="Comma-separated fractions to use, in order (default: all numeric columns).")
    ] = None,
    replicate_pattern: Annotated[
        Optional[str],
        typer.Option("--replicate-pattern", help=r"Regex with a (?P<fraction>…) group naming replicate columns (default: FRACTION_repN)."),
    ] = None,
    min_total: Annotated[
        float, typer.Option("--min-total", help="Drop transcripts whose summed expression is <= this.")
    ] = 1.0,
    normalized: Annotated[
        bool, typer.Option("--normalized", help="Values are already distributions (no expression filter).")
    ] = False,
    max_length: Annotated[
        Optional[int], typer.Option("--max-length", help="Truncate longer transcripts at the 5' end (they are kept).")
    ] = None,
    max_transcript_nt: MaxTranscriptNt = DEFAULT_MAX_TRANSCRIPT_NT,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Build a dataset cache: sequences (FASTA, or genome + GTF) matched to a localization table."""
    from rnatracker_cli.dataset import DROP_REASONS, prepare_dataset

    con = console(quiet)
    with cli_errors(debug):
        s = prepare_dataset(
            out, localization, fasta=fasta, genome=genome, gtf=gtf, id_column=id_column,
            fractions=[f.strip() for f in fractions.split(",")] if fractions else None,
            replicate_pattern=replicate_pattern, min_total=min_total, normalized=normalized,
            max_length=max_length, max_transcript_nt=max_transcript_nt, force=force,
        )
        counts = Table(title="prepare", show_header=False, title_justify="left")
        counts.add_row("sequence records read", str(s.records_read))
        counts.add_row("table rows", str(s.table_rows))
        counts.add_row("matched", str(s.matched))
        for reason in DROP_REASONS:
            if s.dropped[reason]:
                counts.add_row(f"dropped: {reason}", str(s.dropped[reason]))
        if s.truncated:
            counts.add_row("truncated at the 5' end", str(s.truncated))
        if s.ambiguous_bases:
            counts.add_row("IUPAC ambiguity codes read as N", str(s.ambiguous_bases))
        if s.genes_missing and s.genes_missing < s.written:
            counts.add_row("without a gene id (own CV group)", str(s.genes_missing))
        if s.renormalized:
            counts.add_row("rows rescaled to sum to 1", str(s.renormalized))
        counts.add_row("written", f"{s.written} transcripts, {s.nucleotides:,} nt")
        counts.add_row("output", str(s.out))
        con.print(counts)
        by = Table(title="by predominant fraction", title_justify="left")
        by.add_column("fraction")
        by.add_column("transcripts", justify="right")
        by.add_column("mean length (nt)", justify="right")
        for name, (count, mean) in s.by_fraction.items():
            by.add_row(name, str(count), "-" if math.isnan(mean) else f"{mean:,.0f}")
        con.print(by)


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare)
