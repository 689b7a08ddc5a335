"""`rnatracker cv`: k-fold evaluation of several models on identical folds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import (
    BatchNorm, BatchNt, BatchSize, CacheArg, ClipNorm, Debug, Device, Ema, Epochs, Input, LengthFeature, LengthPrior, Loss, Lr, MaxLen, MinEpochs,
    FineTune, Init, Mode, MutationRate, Patience, Preset, Quiet, Seed, SumPooling, Threads, ValFraction, Warmup, WeightDecay,
)
from rnatracker_cli.defaults import DEFAULT_VAL_FRACTION
from rnatracker_cli.errors import RNATrackerError


def cv(
    cache: CacheArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created; an existing CV run there is resumed).")],
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated architectures to compare on the same folds (any of train's --arch, e.g. kmer-gbm or length).")
    ] = "rnatracker,nolstm,noattention,kmer-dnn,kmer-nn",
    folds: Annotated[int, typer.Option("--folds", help="Number of folds (stratified by predominant fraction, grouped by gene).")] = 10,
    fold: Annotated[
        Optional[int], typer.Option("--fold", help="Run only fold K (1-based), e.g. as one cluster job; metrics need a run without it.")
    ] = None,
    preset: Preset = "default",
    mode: Mode = None,
    input_: Input = "seq",
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
    init: Init = None,
    fine_tune: FineTune = None,
    replicates: Annotated[
        int, typer.Option("--replicates", help="Train each network part as an ensemble of K members (member 0 is the "
                                               "part a run without it trains; kmer-gbm stays one model).")
    ] = 1,
    threads: Threads = None,
    val_fraction: ValFraction = DEFAULT_VAL_FRACTION,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Paired bootstrap resamples for Pearson differences.")] = 1000,
    seed: Seed = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Cross-validate models on identical folds (metrics, Table 1, paired tests, plots); resumable.

    Writes out-of-fold predictions, metrics.tsv, the paper's Table 1 layout (table.tsv),
    paired tests (per-fraction DeLong, transcript bootstrap) in comparisons.tsv and plots/. Re-running resumes.
    """
    from rnatracker_cli.presets import resolve_recipe
    from rnatracker_cli.utils.device import limit_kernel_cache, set_threads
    from rnatracker_cli.training.warmstart import resolve_fine_tune
    from rnatracker_cli.workflows.cv import CVOptions, run_cv

    limit_kernel_cache()
    con = console(quiet)
    with cli_errors(debug, interrupted=f"finished model×fold parts are kept in {out}/parts; "
                    "run the same command again to resume"):
        if bootstrap < 100:
            raise RNATrackerError("--bootstrap must be at least 100")
        set_threads(threads)
        r = resolve_recipe(preset, mode=mode, length_feature=length_feature, length_prior=length_prior,
                           batch_norm=batch_norm, sum_pooling=sum_pooling, epochs=epochs,
                           batch_size=batch_size, batch_nt=batch_nt, lr=lr, patience=patience, clip_norm=clip_norm,
                           ema=ema, warmup=warmup, min_epochs=min_epochs, mutation_rate=mutation_rate,
                           weight_decay=weight_decay, loss=loss)
        options = CVOptions(
            models=[m.strip() for m in models.split(",") if m.strip()], folds=folds, seed=seed, mode=r.mode,
            encoding=input_, max_len=max_len, length_feature=r.length_feature, length_prior=r.length_prior,
            batch_norm=r.batch_norm, sum_pooling=r.sum_pooling,
            val_fraction=val_fraction, epochs=r.epochs, batch_size=r.batch_size, batch_nt=r.batch_nt, lr=r.lr,
            patience=r.patience, clip_norm=r.clip_norm, ema=r.ema, warmup=r.warmup, min_epochs=r.min_epochs,
            mutation_rate=r.mutation_rate, weight_decay=r.weight_decay, loss=r.loss, n_boot=bootstrap,
            init=init, fine_tune=resolve_fine_tune(init, fine_tune), replicates=replicates,
        )

        def on_part(model: str, k: int, status: str, info: dict | None) -> None:
            if status == "skip":
                con.print(f"[dim]{model} fold {k}/{folds}: done earlier, skipped[/dim]")
            elif status == "start":
                con.print(f"{model} fold {k}/{folds}: training …")
            else:
                con.print(f"{model} fold {k}/{folds}: {info['epochs']} epochs (best {info['best_epoch']}), "
                          f"val loss {info['val_loss']:.4f}, {info['seconds']:.1f} s")

        s = run_cv(cache, out, options, fold=fold, device=device, on_part=on_part)
        if not s.complete:
            con.print(f"trained {len(s.trained)} part(s), skipped {len(s.skipped)}; "
                      f"run without --fold to finish the remaining folds and write the metrics")
            return
        table = Table(title=f"Pearson r of out-of-fold predictions ({folds}-fold CV)", title_justify="left")
        table.add_column("fraction")
        for m in s.models:
            table.add_column(m, justify="right")
        for fraction, *values, best in s.table:
            table.add_row(fraction, *(f"[bold]{v:.3f}[/bold]" if m == best else f"{v:.3f}" for m, v in zip(s.models, values)))
        con.print(table)
        micro = [r for r in s.comparisons if r[2] == "bootstrap_roc_auc" and r[3] == "micro"]
        if micro:
            con.print("micro-averaged ROC AUC (predominant fraction), transcript-level paired bootstrap:")
            for a, b, _, _, diff, low, high, _, p in micro:
                con.print(f"  {a} − {b}: ΔAUC {diff:+.4f} (95% CI {low:+.4f}…{high:+.4f}), p = {p:.3g}")
        con.print(f"wrote {s.out} (predictions/, metrics.tsv, table.tsv, comparisons.tsv, plots/) in {s.seconds:.0f} s")


def register(app: typer.Typer) -> None:
    app.command("cv")(cv)
