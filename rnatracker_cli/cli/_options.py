"""Options shared by several commands, defined once (Annotated aliases)."""

from __future__ import annotations

from typing import Annotated

import typer

Force = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (recorded with the outputs).")]
Workers = Annotated[int, typer.Option("--workers", help="Worker processes (>= 1).")]
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
]
