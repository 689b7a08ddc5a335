"""`rnatracker conserve`: conservation (phyloP) of zipcodes vs a matched background."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Force, Quiet, Seed


def conserve(
    zipcodes: Annotated[Path, typer.Argument(help="Zipcode BED: transcript coordinates (BED6+, needs --gtf) or genomic BED12.")],
    bigwig: Annotated[Path, typer.Option("--bigwig", "-b", help="Conservation scores (e.g. hg38 phyloP100way bigWig).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")],
    gtf: Annotated[
        Optional[Path],
        typer.Option("--gtf", help="Annotation: projects transcript coordinates to the genome and places the background."),
    ] = None,
    background: Annotated[
        Optional[Path],
        typer.Option("--background", help="Use this BED as the background instead of drawing windows from the GTF."),
    ] = None,
    per_region: Annotated[
        int, typer.Option("--background-per-region", help="Background windows drawn per zipcode.")
    ] = 10,
    min_kl: Annotated[
        str, typer.Option("--min-kl", help="Comma-separated cut-offs of the zipcodes' peak KL (tests per cut-off).")
    ] = "0,0.01,0.02,0.05,0.1",
    match_type: Annotated[
        bool,
        typer.Option("--match-region-type/--no-match-region-type",
                     help="Draw background windows from the zipcode's region type (5'UTR/CDS/3'UTR by the GTF's CDS)."),
    ] = True,
    extra: Annotated[
        Optional[Path],
        typer.Option("--extra", help="Sidecar TSV with kl_peak/direction of a genomic BED12 (default: X.extra.tsv beside X.bed)."),
    ] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write the ECDF plot ecdf.png.")] = True,
    seed: Seed = 0,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Compare conservation scores of zipcodes with a background of windows of the same length,
    from the same transcripts and region type: per-region means, KS and Mann–Whitney tests per
    direction and --min-kl cut-off, an ECDF plot."""
    from rnatracker_cli.interpret.conservation import ConserveOptions, conserve as run, parse_cutoffs

    con = console(quiet)
    with cli_errors(debug):
        options = ConserveOptions(per_region=per_region, seed=seed, min_kl=parse_cutoffs(min_kl),
                                  match_type=match_type, plot=plot)
        res = run(zipcodes, bigwig, out, gtf=gtf, background_bed=background, extra=extra, options=options,
                  force=force)
        unscored = sum(1 for z in res.zipcodes if z.covered == 0)
        src = "drawn from the zipcodes' transcripts" + (" (region type matched)" if match_type else "") \
            if res.background_source == "drawn" else f"from {res.background_source}"
        con.print(f"{len(res.zipcodes)} zipcodes, {len(res.background)} background regions {src}; "
                  f"{res.seconds:.1f}s → {out}")
        if res.not_drawn:
            con.print(f"note: {res.not_drawn} background windows could not be drawn (zipcode without a GTF "
                      f"transcript, or too few free windows of its length and type)")
        if unscored:
            con.print(f"note: {unscored} zipcodes have no score in the bigWig and are left out of the tests")
        if not res.kl_known:
            con.print("note: the zipcode BED has no kl_peak; --min-kl cut-offs were not applied")
        for row in res.summary:
            if row.min_kl == min(r.min_kl for r in res.summary):
                con.print(f"  {row.group}: n={row.n_zipcodes} vs {row.n_background}, median {row.median_zipcodes:.3g} vs "
                          f"{row.median_background:.3g}, KS p={row.ks_p:.3g}, Mann–Whitney p={row.mw_p:.3g}")


def register(app: typer.Typer) -> None:
    app.command("conserve")(conserve)
