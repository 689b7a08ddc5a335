"""`rnatracker train`: fit one model on a dataset cache and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import Debug, Device, Force, Quiet, Seed


def train(
    cache: Annotated[Path, typer.Argument(help="Dataset cache (CACHE.h5) from `rnatracker prepare`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (config.json, log.tsv, model.pt, loss.png).")],
    arch: Annotated[
        str, typer.Option("--arch", help="Architecture: rnatracker, nolstm, noattention, kmer-dnn or kmer-nn.")
    ] = "rnatracker",
    encoding: Annotated[
        str, typer.Option("--encoding", help="Input encoding: seq, seqxstruct or seq+struct (structure needs `rnatracker fold`).")
    ] = "seq",
    mode: Annotated[
        str, typer.Option("--mode", help="full: every nucleotide, length-batched; fixed: 5'-truncated/padded to --max-len.")
    ] = "full",
    max_len: Annotated[
        Optional[int], typer.Option("--max-len", help="Input length (fixed mode, default 4000); in full mode an optional 5' truncation.")
    ] = None,
    length_feature: Annotated[
        bool, typer.Option("--length-feature", help="Join log(transcript length) to the context vector (not in the paper).")
    ] = False,
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum number of epochs.")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Transcripts per batch (fixed mode; a cap in full mode).")] = 256,
    batch_nt: Annotated[
        int, typer.Option("--batch-nt", help="Full mode: padded nucleotides per batch (rows × longest row).")
    ] = 250_000,
    lr: Annotated[
        Optional[float], typer.Option("--lr", help="Learning rate (default 1e-3 in both modes; see docs/model.md).")
    ] = None,
    patience: Annotated[
        int, typer.Option("--patience", help="Stop after this many epochs without a lower validation loss (0 = never).")
    ] = 10,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of transcripts (whole genes) held out for validation.")
    ] = 0.1,
    seed: Seed = 0,
    device: Device = "auto",
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast (CUDA only).")] = False,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train one model; the weights of the epoch with the lowest validation loss are kept."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions, train_run
    from rnatracker_cli.utils.device import limit_kernel_cache

    con = console(quiet)
    limit_kernel_cache()
    with cli_errors(debug):
        model_options = ModelOptions(arch=arch, encoding=encoding, mode=mode, max_len=max_len, length_feature=length_feature)
        fit_options = FitOptions(epochs=epochs, batch_size=batch_size, batch_nt=batch_nt, lr=lr, patience=patience, seed=seed, bf16=bf16)
        progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=con, transient=True, disable=quiet)
        task = progress.add_task("train", total=None, epoch=1)
        state = {"epoch": 1}

        def on_batch(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, epoch=state["epoch"])

        def on_epoch(record, is_best: bool) -> None:
            rs = " ".join(f"{v:.3f}" for v in record.val_pearson)
            con.print(f"epoch {record.epoch:3d}  train {record.train_loss:.4f}  val {record.val_loss:.4f}  "
                      f"pearson {rs}  {record.seconds:.1f}s{'  *' if is_best else ''}", soft_wrap=True)
            state["epoch"] = record.epoch + 1
            progress.reset(task, total=None, epoch=state["epoch"])

        with progress:
            summary = train_run(cache, out, model_options, fit_options, val_fraction=val_fraction,
                                device=device, force=force, on_epoch=on_epoch, on_batch=on_batch)
        best = summary.result.best
        how = "early stop" if summary.result.stopped_early else "all epochs"
        con.print(f"{summary.config['arch']} ({summary.config['mode']} mode, lr {summary.result.lr:g}) on "
                  f"{summary.n_train} + {summary.n_val} transcripts, {summary.device}: best epoch "
                  f"{summary.result.best_epoch} of {len(summary.result.history)} ({how}), val loss {best.val_loss:.4f}", soft_wrap=True)
        con.print(f"wrote {summary.out}/model.pt, config.json, log.tsv, loss.png", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
