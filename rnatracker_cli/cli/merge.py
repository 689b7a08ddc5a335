"""`rnatracker merge`: join the outputs of `--shard K/N` runs into the single run's file."""

from __future__ import annotations

from typing import Annotated

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Force, Quiet


def merge(
    parts: Annotated[
        list[str],
        typer.Argument(help="The N outputs of one `predict` or `scan-zipcodes` --shard K/N series, in shard order "
                            "1..N (plain or gzipped).", metavar="PART"),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Merged file (- = stdout); a genomic BED's sidecar goes to "
                                                         "OUT.extra.tsv.")] = "-",
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Merge shard outputs (predictions TSV, attention or track bedGraph, zipcode BED + sidecar) exactly as one run writes them."""
    from rnatracker_cli.workflows.merge import KIND_NAMES, merge_parts

    con = console(quiet)
    with cli_errors(debug):
        s = merge_parts(parts, out=out, force=force)
        con.print(f"merged {s.parts} parts ({KIND_NAMES[s.kind]}): {s.rows:,} rows"
                  + ("" if out == "-" else f" → {out}"), soft_wrap=True)
        if s.sidecar is not None:
            con.print(f"extra columns (kl_peak, fraction, direction, deltas) → {s.sidecar}", soft_wrap=True)
        elif s.sidecar_dropped:
            con.print("note: BED12 on stdout without its extra columns (give --out FILE to merge the sidecars too)")


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
