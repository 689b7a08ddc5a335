"""The `rnatracker` command-line application (Typer)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from rnatracker_cli import __version__

app = typer.Typer(
    name="rnatracker",
    help="Learn and explain mRNA subcellular localization from sequence (RNATracker).",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rnatracker {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Learn and explain mRNA subcellular localization from sequence (RNATracker)."""


def _register() -> None:
    # Command modules are imported here (not at package import) to keep `--help` fast.
    from rnatracker_cli.cli import (
        conserve, cv, fold, merge, models, motifs, predict, prepare, scan, simulate, train, workflow,
    )

    for module in (simulate, prepare, fold, train, cv, predict, scan, merge, motifs, conserve, models, workflow):
        module.register(app)


_register()


def main() -> None:
    # OpenMP worker threads spin while they wait by default. When other jobs share the cores
    # (a cluster node, runs side by side) that made torch 30-180x slower on a 2-core machine
    # (docs/benchmarks.md); passive waiting avoids it. It must be set before torch, and with
    # it the OpenMP runtime, is imported (commands import torch lazily); a user's own
    # setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app()
