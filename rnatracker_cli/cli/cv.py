"""`rnatracker cv`: k-fold evaluation of several models on identical folds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rnatracker_cli.cli._common import cli_errors, console
from rnatracker_cli.cli._options import (
    BatchNt, BatchSize, CacheArg, ClipNorm, Debug, Device, Epochs, Input, LengthFeature, Lr, MaxLen, Mode, Patience, Quiet, Seed, ValFraction,
)
from rnatracker_cli.defaults import (
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EPOCHS, DEFAULT_PATIENCE, DEFAULT_VAL_FRACTION,
)
from rnatracker_cli.errors import RNATrackerError


def cv(
    cache: CacheArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created; an existing CV run there is resumed).")],
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated architectures to compare on the same folds.")
    ] = "rnatracker,nolstm,noattention,kmer-dnn,kmer-nn",
    folds: Annotated[int, typer.Option("--folds", help="Number of folds (stratified by predominant fraction, grouped by gene).")] = 10,
    fold: Annotated[
        Optional[int], typer.Option("--fold", help="Run only fold K (1-based), e.g. as one cluster job; metrics need a run without it.")
    ] = None,
    mode: Mode = "full",
    input_: Input = "seq",
    max_len: MaxLen = None,
    length_feature: LengthFeature = False,
    epochs: Epochs = DEFAULT_EPOCHS,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE,
    batch_nt: BatchNt = DEFAULT_BATCH_NT,
    lr: Lr = None,
    patience: Patience = DEFAULT_PATIENCE,
    clip_norm: ClipNorm = DEFAULT_CLIP_NORM,
    val_fraction: ValFraction = DEFAULT_VAL_FRACTION,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Paired bootstrap resamples for Pearson differences.")] = 1000,
    seed: Seed = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Cross-validate models on identical folds (metrics, Table 1, paired tests, plots); resumable.

    Writes out-of-fold predictions, metrics.tsv, the paper's Table 1 layout (table.tsv),
    paired tests (DeLong, bootstrap) in comparisons.tsv and plots/. Re-running resumes.
    """
    from rnatracker_cli.evaluation.cv import CVOptions, run_cv
    from rnatracker_cli.utils.device import limit_kernel_cache

    limit_kernel_cache()
    con = console(quiet)
    with cli_errors(debug, interrupted=f"finished model×fold parts are kept in {out}/parts; "
                    "run the same command again to resume"):
        if bootstrap < 100:
            raise RNATrackerError("--bootstrap must be at least 100")
        options = CVOptions(
            models=[m.strip() for m in models.split(",") if m.strip()], folds=folds, seed=seed, mode=mode,
            encoding=input_, max_len=max_len, length_feature=length_feature, val_fraction=val_fraction,
            epochs=epochs, batch_size=batch_size, batch_nt=batch_nt, lr=lr, patience=patience, clip_norm=clip_norm, n_boot=bootstrap,
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
        delong = [r for r in s.comparisons if r[2] == "delong_roc_auc"]
        if delong:
            con.print("DeLong test of micro-averaged ROC AUC (predominant fraction):")
            for a, b, _, _, diff, _, _, _, p in delong:
                con.print(f"  {a} − {b}: ΔAUC {diff:+.4f}, p = {p:.3g}")
        con.print(f"wrote {s.out} (predictions/, metrics.tsv, table.tsv, comparisons.tsv, plots/) in {s.seconds:.0f} s")


def register(app: typer.Typer) -> None:
    app.command("cv")(cv)
