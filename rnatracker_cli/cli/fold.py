"""`rnatracker fold`: secondary-structure elements per nucleotide, stored in the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Quiet, Workers


class _Rates(ProgressColumn):
    """Transcripts and nucleotides per second since the start of the task."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0 or not task.completed:
            return Text("-- tx/s  -- nt/s", style="progress.data.speed")
        records = task.fields.get("records", 0)
        return Text(f"{records / elapsed:,.1f} tx/s  {task.completed / elapsed:,.0f} nt/s",
                    style="progress.data.speed")


def fold(
    cache: Annotated[Path, typer.Argument(help="Dataset cache (CACHE.h5) to fold; the structure is added to it.")],
    window: Annotated[int, typer.Option("--window", help="RNAplfold window size W (nt).")] = 150,
    span: Annotated[int, typer.Option("--span", help="RNAplfold maximal base-pair span L (nt, <= --window).")] = 100,
    cutoff: Annotated[float, typer.Option("--cutoff", help="RNAplfold probability cutoff: rarer pairs are ignored.")] = 0.01,
    workers: Workers = 1,
    shard: Annotated[
        Optional[str],
        typer.Option("--shard", help="K/N: fold only records with index % N == K-1, into a part file "
                     "next to the cache; a later run without --shard merges the parts."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Fold again from scratch (needed to change settings of a folded cache).")
    ] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fold every transcript (RNAplfold → greedy nested pairs → F/T/I/H/M/S elements); resumable."""
    from rnatracker_cli.structure.fold import fold_cache
    from rnatracker_cli.utils.shard import parse_shard

    con = console(quiet)
    with cli_errors(debug, interrupted="finished transcripts are saved; run the same command again to resume"):
        shard_kn = parse_shard(shard) if shard is not None else None
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[records]:,}/{task.fields[total_records]:,} transcripts"),
            _Rates(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=con,
            transient=True,
            disable=quiet or not con.is_terminal,  # no bar in logs and pipes
        ) as bar:
            task = bar.add_task("folding", total=None, records=0, total_records=0, start=False)

            def on_progress(p) -> None:
                if not bar.tasks[0].started:
                    bar.start_task(task)
                bar.update(task, total=max(p.total_nt, 1), completed=p.nt, records=p.records,
                           total_records=p.total_records)

            s = fold_cache(cache, window=window, span=span, cutoff=cutoff, workers=workers,
                           shard=shard_kn, force=force, progress=on_progress)
        _summary(con, s)


def _summary(con, s) -> None:
    table = Table(title="fold", show_header=False, title_justify="left")
    table.add_row("cache", f"{s.path} ({s.records:,} transcripts)")
    table.add_row("settings", f"window {s.params['window']}, span {s.params['span']}, cutoff {s.params['cutoff']} "
                  f"(ViennaRNA {s.params['viennarna']})")
    if s.shard:
        table.add_row("shard", f"{s.shard[0]}/{s.shard[1]} → {s.part_file or 'nothing to write'}")
    if s.discarded_parts:
        table.add_row("part files discarded", ", ".join(p.name for p in s.discarded_parts))
    if s.merged_parts:
        table.add_row("merged from part files", f"{s.merged:,} ({len(s.merged_parts)} file(s))")
    if s.already_done:
        table.add_row("already folded", f"{s.already_done:,}")
    rate = f", {s.folded_nt / s.seconds:,.0f} nt/s" if s.folded and s.seconds > 0 else ""
    table.add_row("folded now", f"{s.folded:,} transcripts, {s.folded_nt:,} nt in {s.seconds:,.1f} s"
                  f" with {s.workers} worker(s){rate}")
    if s.shard:
        table.add_row("left to other shards", f"{s.other_shards:,}")
        table.add_row("next", f"when all shards are done: rnatracker fold {s.path}")
    else:
        table.add_row("status", "complete" if s.complete else f"{s.remaining:,} transcripts left (run again to resume)")
        if s.structure_sha256:
            table.add_row("structure sha256", s.structure_sha256)
    con.print(table)


def register(app: typer.Typer) -> None:
    app.command("fold")(fold)
