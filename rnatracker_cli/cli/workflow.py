"""`rnatracker workflow`: the shipped Snakemake workflow (prepare → fold → cv, predict/scan shards)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Force, Quiet

workflow_app = typer.Typer(
    help="The shipped Snakemake workflow: every step as cluster jobs (see docs/scale.md).",
    no_args_is_help=True,
)


@workflow_app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write the workflow into (created if missing).")],
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a Snakemake workflow (Snakefile, config.yaml, README.md, profiles/slurm/) into DIRECTORY.

    Edit config.yaml (inputs, models, shards, resources), then run it with
    `snakemake --cores 2` on one machine or `snakemake --profile profiles/slurm` on a Slurm
    cluster; needs `pip install "rnatracker\\[workflow]"`.
    """
    from rnatracker_cli.workflows.scaffold import init_workflow

    con = console(quiet)
    with cli_errors(debug):
        paths = init_workflow(directory, force=force)
        con.print(f"wrote the rnatracker Snakemake workflow to {directory}:", soft_wrap=True)
        for p in paths:
            con.print(f"  {p}", soft_wrap=True)
        con.print(f"next: edit {directory / 'config.yaml'}, then `cd {directory} && snakemake -n` (dry run), "
                  "`snakemake --cores 2` or `snakemake --profile profiles/slurm`", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(workflow_app, name="workflow")
