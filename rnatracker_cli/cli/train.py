"""`rnatracker train`: fit one model on a dataset cache and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import (
    BatchNorm, BatchNt, BatchSize, Bf16, CacheArg, ClipNorm, Debug, Device, Ema, Epochs, FineTune, Force, Init, Input, LengthFeature, LengthPrior, Loss, Lr, MaxLen,
    MinEpochs, Mode, MutationRate, Patience, Preset, Quiet, Replicates, Seed, SumPooling, Threads, ValFraction, Warmup, WeightDecay,
)
from rnatracker_cli.defaults import DEFAULT_VAL_FRACTION


def train(
    cache: CacheArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (config.json, log.tsv, model.pt, loss.png).")],
    arch: Annotated[
        Optional[str], typer.Option("--arch", help="Architecture: rnatracker (default), nolstm, noattention, kmer-dnn, kmer-nn, kmer-gbm (LightGBM on 3–5-mers) or length (log length alone).")
    ] = None,
    encoding: Input = "seq",
    init: Init = None,
    fine_tune: FineTune = None,
    preset: Preset = "default",
    mode: Mode = None,
    max_len: MaxLen = None,
    length_feature: LengthFeature = None,
    length_prior: LengthPrior = None,
    batch_norm: BatchNorm = None,
    sum_pooling: SumPooling = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    batch_nt: BatchNt = None,
    lr: Lr = None,
    patience: Patience = None,
    clip_norm: ClipNorm = None,
    ema: Ema = None,
    warmup: Warmup = None,
    min_epochs: MinEpochs = None,
    mutation_rate: MutationRate = None,
    weight_decay: WeightDecay = None,
    loss: Loss = None,
    replicates: Replicates = 1,
    val_fraction: ValFraction = DEFAULT_VAL_FRACTION,
    seed: Seed = 0,
    threads: Threads = None,
    device: Device = "auto",
    bf16: Bf16 = False,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train one model; the weights of the epoch with the lowest validation loss are kept."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rnatracker_cli.presets import resolve_recipe
    from rnatracker_cli.training.run import options_from_recipe, train_run
    from rnatracker_cli.utils.device import limit_kernel_cache, set_threads

    con = console(quiet)
    limit_kernel_cache()
    kept = (f"{out}.partial keeps the best checkpoint so far and log.tsv ({out} is untouched); "
            "train does not resume: run again with --force to start over")
    with cli_errors(debug, interrupted=kept):
        set_threads(threads)
        from rnatracker_cli.training.warmstart import check_no_architecture_options, load_init, resolve_fine_tune

        tune = resolve_fine_tune(init, fine_tune)
        init_weights = None
        if init is not None:
            check_no_architecture_options(arch=arch, input=None if encoding == "seq" else encoding, mode=mode,
                                          max_len=max_len, length_feature=length_feature, length_prior=length_prior,
                                          batch_norm=batch_norm, sum_pooling=sum_pooling)
            init_weights = load_init(init)
        recipe = resolve_recipe(preset, mode=mode, length_feature=length_feature, length_prior=length_prior,
                                batch_norm=batch_norm, sum_pooling=sum_pooling, epochs=epochs,
                                batch_size=batch_size, batch_nt=batch_nt, lr=lr, patience=patience, clip_norm=clip_norm,
                                ema=ema, warmup=warmup, min_epochs=min_epochs, mutation_rate=mutation_rate,
                                weight_decay=weight_decay, loss=loss)
        model_options, fit_options = options_from_recipe(recipe, arch=arch or "rnatracker", encoding=encoding, max_len=max_len, seed=seed, bf16=bf16)
        fit_options.head_only = tune == "head"
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
                                device=device, force=force, on_epoch=on_epoch, on_batch=on_batch, replicates=replicates,
                                  init=init_weights)
        best = summary.result.best
        how = "early stop" if summary.result.stopped_early else "all epochs"
        if fit_options.head_only:
            con.print(f"{summary.config['arch']} from {init}: output head refitted on {summary.n_train} + {summary.n_val} "
                      f"transcripts (network frozen, no epochs), {summary.device}: val loss {best.val_loss:.4f}", soft_wrap=True)
        else:
            con.print(f"{summary.config['arch']} ({summary.config['mode']} mode, lr {summary.result.lr:g}) on "
                      f"{summary.n_train} + {summary.n_val} transcripts, {summary.device}: best epoch "
                      f"{summary.result.best_epoch} of {len(summary.result.history)} ({how}), val loss {best.val_loss:.4f}", soft_wrap=True)
        con.print(f"wrote {summary.out}/model.pt, config.json, log.tsv, loss.png", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
