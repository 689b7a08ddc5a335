"""`rnatracker models`: list the built-in models (name, compartments, data, CV figures, size)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug


def _table(models) -> None:
    from rich.console import Console
    from rich.table import Table

    from rnatracker_cli.pretrained.listing import baseline_scores, human_size, own_score

    table = Table(title="Built-in models (* = default, used when --model is not given)", title_justify="left")
    for column in ("name", "compartments", "training data", "CV", "transfer", "size"):
        # Names and sizes are what users copy or compare: never break them across lines.
        table.add_column(column, no_wrap=column in ("name", "size"), overflow="fold")
    for m in models:
        cv, transfer = m.cv or {}, m.transfer or {}
        cv_text = "not measured"
        if cv:
            cv_text = f"{cv.get('metric', '')} {own_score(cv)} ({cv.get('folds', '?')}-fold; {baseline_scores(cv)})"
        transfer_text = "not measured"
        if transfer:
            transfer_text = f"{transfer.get('data', '')} {own_score(transfer)} ({baseline_scores(transfer)})"
        table.add_row(f"{m.name}{' *' if m.default else ''}", "\n".join(m.compartments), m.training_data,
                      cv_text, transfer_text, human_size(m.size_bytes))
    Console(highlight=False, soft_wrap=False).print(table)


def _details(m) -> None:
    from rnatracker_cli.pretrained.listing import baseline_scores, human_size, own_score

    cv, transfer = m.cv or {}, m.transfer or {}
    lines = [
        f"name\t{m.name}{' (default)' if m.default else ''}",
        f"description\t{m.description}",
        f"compartments\t{', '.join(m.compartments)}",
        f"species\t{m.species}",
        f"molecule\t{m.molecule}",
        f"training data\t{m.training_data}",
        f"cv\t{cv.get('metric', '')} {own_score(cv)} ({baseline_scores(cv)})" if cv else "cv\tnot measured",
        f"transfer\t{transfer.get('data', '')} {own_score(transfer)} ({baseline_scores(transfer)})"
        if transfer else "transfer\tnot measured",
        f"size\t{human_size(m.size_bytes)} in {len(m.files)} file(s)",
    ]
    lines += [f"weights\t{p} sha256 {f.sha256}" for f, p in zip(m.files, m.paths)]
    lines += [f"data\t{d.get('path', '?')} sha256 {d.get('sha256', '?')}" for d in m.data_files]
    lines += [f"built with\trnatracker {m.rnatracker_version or '?'}, torch {m.torch_version or '?'}",
              f"command\t{m.command}", f"card\t{m.card or 'none'}"]
    sys.stdout.write("\n".join(lines) + "\n")


def models(
    name: Annotated[
        Optional[str], typer.Argument(help="Show the details of this built-in model (weights, data, command).")
    ] = None,
    tsv: Annotated[bool, typer.Option("--tsv", help="Write a tab-separated table (fixed header) instead.")] = False,
    debug: Debug = False,
) -> None:
    """List the built-in models that ship with rnatracker (usable as `--model NAME`)."""
    from rnatracker_cli.pretrained import get_builtin, list_builtin
    from rnatracker_cli.pretrained.listing import format_models_tsv

    with cli_errors(debug):
        if name is not None:
            model = get_builtin(name)
            if tsv:
                sys.stdout.write(format_models_tsv([model]))
            else:
                _details(model)
            return
        found = list_builtin()
        if tsv:
            sys.stdout.write(format_models_tsv(found))
        elif found:
            _table(found)
        else:
            console().print("no built-in models are installed in this copy of rnatracker")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
