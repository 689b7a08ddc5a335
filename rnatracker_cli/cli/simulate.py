"""`rnatracker simulate`: synthetic transcripts with planted zipcodes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Force, Quiet, Seed


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")],
    n: Annotated[int, typer.Option("--n", help="Number of transcripts.")] = 2000,
    fractions: Annotated[
        str, typer.Option("--fractions", help="Comma-separated compartment names.")
    ] = "cytosol,nuclear,membrane,insoluble",
    max_length: Annotated[
        Optional[int], typer.Option("--max-length", help="Cap transcript lengths (keeps tests small).")
    ] = None,
    genome: Annotated[
        bool, typer.Option("--genome/--no-genome", help="Also write genome.fa, annotation.gtf and conservation.bw.")
    ] = True,
    conservation_signal: Annotated[
        float,
        typer.Option("--conservation-signal",
                     help="Score added to conservation.bw at every base of a true zipcode (0 = no zipcode signal)."),
    ] = 1.5,
    seed: Seed = 0,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write synthetic data with planted zipcodes (known answers for tests and benchmarks).

    Files: transcripts.fa, localization.tsv, zipcodes.bed (truth), motifs.meme, genome.fa,
    annotation.gtf and conservation.bw (phyloP-like track). The same seed gives byte-identical files.
    """
    from rnatracker_cli.simulate import simulate_dataset, write_simulation

    con = console(quiet)
    with cli_errors(debug):
        names = tuple(f.strip() for f in fractions.split(","))
        data = simulate_dataset(n=n, fractions=names, seed=seed, max_length=max_length)
        paths = write_simulation(data, out, genome=genome, force=force, conservation_signal=conservation_signal)
        lengths = [len(s) for s in data.sequences]
        con.print(
            f"simulated {n} transcripts (median length {int(sorted(lengths)[len(lengths) // 2])} nt), "
            f"{len(data.zipcodes)} zipcodes from {len(data.motifs)} motifs, seed {seed} → {out}"
        )
        for p in paths:
            con.print(f"  {p}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
