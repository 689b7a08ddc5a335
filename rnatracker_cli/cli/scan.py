"""`rnatracker scan-zipcodes`: sliding-mask zipcode search → BED (+ bedGraph track)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console, model_and_fasta, shard_note
from rnatracker_cli.cli._options import FastaArgs, ModelOpt, Debug, Device, Force, MaxTranscriptNt, Quiet, Seed, ShardOpt
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT


def scan_zipcodes(
    inputs: FastaArgs,
    model: ModelOpt = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Zipcode BED (BED6+4; BED12 with --gtf; - = stdout).")] = "-",
    track: Annotated[
        Optional[str],
        typer.Option("--track", help="Also write per-nucleotide KL (largest KL of the windows covering it) as bedGraph."),
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Masked window length (nt).")] = 100,
    preset: Annotated[
        str, typer.Option("--preset", help="Settings for --mask, --stride, --repeats and --min-support when not given: default "
                                           "(random masks, 10 per window, stride 10, min-support 10) or paper (zero mask, "
                                           "stride 1, min-support 1).")
    ] = "default",
    stride: Annotated[Optional[int], typer.Option("--stride", help="Step between window starts (nt). \\[default preset: 10; paper: 1]")] = None,
    min_kl: Annotated[float, typer.Option("--min-kl", help="Call windows whose KL exceeds this.")] = 0.0075,
    merge_gap: Annotated[
        int, typer.Option("--merge-gap", help="Merge called windows at most this many nt apart (0: overlapping or touching).")
    ] = 0,
    min_support: Annotated[
        Optional[int], typer.Option("--min-support", help="Call only windows that stay above --min-kl while the window slides this many nt (1: any window, as in the paper). \\[default preset: 10]")
    ] = None,
    score_cap: Annotated[
        Optional[float],
        typer.Option("--score-cap", help="KL that maps to BED score 1000 (score = min(1000, round(1000·kl_peak/cap)); default 10 × --min-kl)."),
    ] = None,
    ids: Annotated[Optional[str], typer.Option("--ids", help="Scan only these transcripts (comma-separated).")] = None,
    ids_file: Annotated[
        Optional[str], typer.Option("--ids-file", help="Scan only the transcripts listed in this file (one id per line).")
    ] = None,
    gtf: Annotated[
        Optional[str],
        typer.Option("--gtf", help="Project regions (BED12, blocks across introns) and the track to genome coordinates."),
    ] = None,
    sidecar: Annotated[
        Optional[str],
        typer.Option("--sidecar", help="With --gtf: TSV of the extra columns (kl_peak, fraction, direction, "
                     "deltas) per BED12 row; default OUT.bed → OUT.extra.tsv, none when the BED goes to stdout."),
    ] = None,
    mask: Annotated[
        Optional[str], typer.Option("--mask", help="random: random bases, --repeats draws averaged; zero: all-zero input columns (like padding). \\[default preset: random; paper: zero]")
    ] = None,
    repeats: Annotated[
        Optional[int], typer.Option("--repeats", help="Random masks per window (--mask random). \\[preset: 10]")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="auto (fast exact path when the model allows it), fast or naive (full recomputation).")
    ] = "auto",
    batch_size: Annotated[
        Optional[int],
        typer.Option("--batch-size", help="Masked copies per forward batch (default 64 on CPU; 1024 fast / 256 naive on CUDA)."),
    ] = None,
    max_transcript_nt: MaxTranscriptNt = DEFAULT_MAX_TRANSCRIPT_NT,
    shard: ShardOpt = None,
    seed: Seed = 0,
    device: Device = "auto",
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Mask a sliding window along each transcript, score it by KL(original ‖ masked) and write regions above --min-kl as BED."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from rnatracker_cli.presets import resolve_scan_preset
    from rnatracker_cli.workflows.scan import ScanOptions, parse_ids, scan_fasta
    from rnatracker_cli.utils.device import limit_kernel_cache
    from rnatracker_cli.utils.shard import parse_shard

    limit_kernel_cache()  # the fast path's LSTM runs on a new length almost every batch
    con = console(quiet)
    kept = ("nothing is kept when the BED goes to stdout" if out == "-" else
            f"finished transcripts are kept in {out}.part; run the same command again to resume")
    with cli_errors(debug, interrupted=kept):
        shard_kn = parse_shard(shard) if shard is not None else None
        model, fasta = model_and_fasta(inputs, model, "scan-zipcodes")
        settings = resolve_scan_preset(preset, mask=mask, stride=stride, repeats=repeats, min_support=min_support)
        options = ScanOptions(window=window, min_kl=min_kl, merge_gap=merge_gap, score_cap=score_cap, seed=seed,
                              method=method, batch_size=batch_size, **settings)
        selected = parse_ids(ids, ids_file)

        progress = Progress(TextColumn("scanning: {task.completed} transcripts, {task.fields[windows]:,} windows"),
                            TimeElapsedColumn(), console=con, transient=True, disable=quiet or not con.is_terminal)
        task = progress.add_task("scan", total=None, windows=0)
        done = {"windows": 0}

        def on_skip(result) -> None:
            con.print(f"skipped {result.id}: {result.skipped}")

        def on_transcript(result) -> None:
            done["windows"] += result.windows
            progress.update(task, advance=1, windows=done["windows"])

        with progress:
            s = scan_fasta(model, fasta, out=out, track=track, gtf=gtf, ids=selected, options=options, device=device,
                           force=force, on_skip=on_skip, on_transcript=on_transcript,
                           max_transcript_nt=max_transcript_nt, sidecar=sidecar, shard=shard_kn)
        rate = s.windows / s.seconds if s.seconds > 0 else float("inf")
        con.print(f"{shard_note(s.shard, s.first, s.records)}scanned {s.transcripts} transcripts "
                  f"({s.nucleotides:,} nt, {s.windows:,} windows) in {s.seconds:.1f}s ({rate:,.0f} windows/s, {s.method} path, {s.device})"
                  + ("" if out == "-" else f" → {out}"), soft_wrap=True)
        if s.sidecar is not None:
            con.print(f"extra columns (kl_peak, fraction, direction, deltas) → {s.sidecar}", soft_wrap=True)
        elif gtf is not None:
            con.print("note: BED12 on stdout without its extra columns (give --sidecar PATH to keep them)")
        if s.resumed:
            con.print(f"resumed: {s.resumed} transcripts taken from the interrupted run's {out}.part", soft_wrap=True)
        if s.skipped:
            con.print(f"skipped {len(s.skipped)} transcripts shorter than the window ({window} nt)")
        if s.truncated:
            con.print(f"not scanned: the 5' ends of {s.truncated} transcripts longer than the model's {s.max_len:,}-nt "
                      f"input ({s.unscanned_nt:,} nt in all)" if s.max_len else
                      f"not scanned: the 5' ends of {s.truncated} transcripts ({s.unscanned_nt:,} nt in all)",
                      soft_wrap=True)
        by = ", ".join(f"{f} {d} {n}" for (f, d), n in sorted(s.by_class.items())) or "none"
        con.print(f"{s.regions} regions (KL > {min_kl:g}): {by}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("scan-zipcodes")(scan_zipcodes)
