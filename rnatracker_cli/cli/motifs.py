"""`rnatracker motifs`: first-layer filters → MEME motifs, RBP matches, influence, logos, report."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Device, Force, Quiet


def motifs(
    sequences: Annotated[str, typer.Argument(help="Transcripts: a dataset cache (CACHE.h5) or a FASTA (plain or gzipped; - for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder (filters.meme, tomtom.tsv, influence.tsv, logos/, report.html[, enrichment.tsv]).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="model.pt, or the run directory holding it.")] = None,
    db: Annotated[
        Optional[str], typer.Option("--db", help="MEME motif database to match against (required), e.g. the RNAcompete RBP motifs of Ray et al. 2013.")
    ] = None,
    zipcodes: Annotated[
        Optional[str], typer.Option("--zipcodes", help="scan-zipcodes BED (transcript coordinates): test database motifs for enrichment in zipcodes.")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="A site is a window whose activation exceeds this share of the filter's largest activation.")
    ] = 0.5,
    min_sites: Annotated[int, typer.Option("--min-sites", help="Leave out filters with fewer sites.")] = 10,
    max_q: Annotated[float, typer.Option("--max-q", help="Report Tomtom matches with q-value at most this.")] = 0.5,
    fimo_p: Annotated[float, typer.Option("--fimo-p", help="FIMO p-value threshold for database motif sites (--zipcodes).")] = 1e-4,
    logos: Annotated[bool, typer.Option("--logos/--no-logos", help="Draw logos/ and embed them in report.html.")] = True,
    device: Device = "auto",
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Turn first-layer filters into motifs, match them to known RBP motifs (Tomtom), rank them by influence, and test database motifs in zipcodes."""
    from rnatracker_cli.interpret.motifs import run_motifs

    con = console(quiet)
    with cli_errors(debug):
        s = run_motifs(sequences, model, out, db=db, zipcodes=zipcodes, threshold=threshold, min_sites=min_sites,
                       max_q=max_q, fimo_p=fimo_p, logos=logos, device=device, force=force,
                       on_step=lambda message: con.print(f"motifs: {message}"))
        for note in s.notes[1:]:
            con.print(f"note: {note}")
        con.print(f"{s.motifs} of {s.filters} filters became motifs ({s.transcripts} transcripts); "
                  f"{s.matched} match a database motif at q < 0.05 ({s.database}, {s.database_motifs} motifs)"
                  + ("" if s.enriched is None else f"; {s.enriched} motif × class tests enriched at q < 0.05")
                  + f"; {s.seconds:.1f}s → {s.out}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("motifs")(motifs)
