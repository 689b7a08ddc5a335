"""The `rnatracker` command-line application (Typer)."""

from __future__ import annotations

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
    from rnatracker_cli.cli import cv, fold, predict, prepare, scan, simulate, train

    for module in (simulate, prepare, fold, train, cv, predict, scan):
        module.register(app)


_register()


def main() -> None:
    app()
