"""`train`: fit one model on a cache and write its run directory.

Run directory (docs/formats.md)::

    config.json   model config + training options + data provenance
    log.tsv       one row per epoch (columns: :func:`log_columns`)
    model.pt      checkpoint of the best epoch (rnatracker_cli.model.checkpoint)
    loss.png      train/validation loss per epoch, best epoch marked

The run is written to a sibling ``OUT.partial`` directory (:func:`partial_dir`): config.json
first, log.tsv after every epoch, model.pt whenever an epoch is the best so far. Only when
training has finished is it moved to ``OUT`` (:func:`publish_run`), so a previous run in
``OUT`` (replaced with ``force``) survives a failed or interrupted one. An interrupted run's
``OUT.partial`` keeps the best checkpoint so far and the log; ``train`` does not resume from
it (a new run needs ``force`` to discard it).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.defaults import DEFAULT_VAL_FRACTION
from rnatracker_cli.encoding import check_input_width, get_encoding
from rnatracker_cli.errors import OutputExistsError, RNATrackerError
from rnatracker_cli.io.atomic import atomic_path, fsync_dir
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import MODEL_FILE, data_metadata, save_checkpoint
from rnatracker_cli.model.ensemble import Ensemble
from rnatracker_cli.presets import Recipe
from rnatracker_cli.training.data import load_training_set, split_validation
from rnatracker_cli.training.loop import EpochRecord, FitOptions, FitResult, fit
from rnatracker_cli.training.metrics import resolve_loss
from rnatracker_cli.training.warmstart import InitWeights
from rnatracker_cli.utils.device import resolve_device
from rnatracker_cli.utils.seed import seed_everything
from rnatracker_cli.utils.signals import deferred_signals

RUN_FILES = ("config.json", "log.tsv", MODEL_FILE, "loss.png")


@dataclass
class ModelOptions:
    """What to build: architecture, input encoding and mode (see docs/model.md)."""

    arch: str = "rnatracker"
    encoding: str = "seq"
    mode: str = "full"
    max_len: int | None = None
    length_feature: bool = False
    length_prior: bool = False
    batch_norm: bool = False
    sum_pooling: bool = False


def options_from_recipe(recipe: Recipe, arch: str = "rnatracker", encoding: str = "seq", max_len: int | None = None,
                        seed: int = 0, bf16: bool = False) -> tuple[ModelOptions, FitOptions]:
    """Split a resolved :class:`~rnatracker_cli.presets.Recipe` into model and fit options."""
    model = ModelOptions(arch=arch, encoding=encoding, mode=recipe.mode, max_len=max_len,
                         length_feature=recipe.length_feature, length_prior=recipe.length_prior,
                         batch_norm=recipe.batch_norm, sum_pooling=recipe.sum_pooling)
    fit_options = FitOptions(epochs=recipe.epochs, batch_size=recipe.batch_size, batch_nt=recipe.batch_nt, lr=recipe.lr,
                             patience=recipe.patience, seed=seed, clip_norm=recipe.clip_norm, bf16=bf16, ema=recipe.ema,
                             warmup=recipe.warmup, min_epochs=recipe.min_epochs,
                             mutation_rate=recipe.mutation_rate, weight_decay=recipe.weight_decay, loss=recipe.loss)
    return model, fit_options


@dataclass
class TrainSummary:
    out: Path
    config: dict
    fractions: list[str]
    n_train: int
    n_val: int
    result: FitResult
    device: str
    #: One result per replicate (``result`` is the first's).
    results: list[FitResult] | None = None


def log_columns(fractions: list[str]) -> list[str]:
    """Header of ``log.tsv`` (``replicate``: 1..K with ``--replicates K``)."""
    return (["replicate", "epoch", "train_loss", "val_loss"] + [f"val_pearson_{f}" for f in fractions]
            + ["val_pearson_mean", "seconds"])


def _fmt(value: float, digits: int) -> str:
    return "NA" if not math.isfinite(value) else f"{value:.{digits}f}"


def format_log(history: list[EpochRecord] | list[tuple[int, EpochRecord]], fractions: list[str]) -> str:
    """``log.tsv`` text; ``history`` holds records, or ``(replicate, record)`` pairs."""
    lines = ["\t".join(log_columns(fractions))]
    for item in history:
        replicate, r = item if isinstance(item, tuple) else (1, item)
        mean_r = float(np.mean(r.val_pearson)) if np.isfinite(r.val_pearson).all() else float("nan")
        cells = [str(replicate), str(r.epoch), _fmt(r.train_loss, 6), _fmt(r.val_loss, 6)]
        cells += [_fmt(float(v), 4) for v in r.val_pearson] + [_fmt(mean_r, 4), f"{r.seconds:.2f}"]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def plot_loss(path: Path, history: list[EpochRecord], best_epoch: int) -> None:
    """Train/validation loss per epoch as PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r.epoch for r in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r.train_loss for r in history], label="train", marker="o", ms=3)
    val = [r.val_loss for r in history]
    if any(math.isfinite(v) for v in val):
        ax.plot(epochs, val, label="validation", marker="o", ms=3)
    ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch ({best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("KL(target ‖ prediction)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, force=True) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(text)


def partial_dir(out: str | os.PathLike) -> Path:
    """``OUT.partial``: where a run is written until it has finished."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def check_run_dir(out: str | os.PathLike, force: bool) -> list[str]:
    """Refuse to overwrite a run (or an interrupted one's ``OUT.partial``) without ``force``;
    returns the run outputs present in ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory")
    present = [name for name in RUN_FILES if (out / name).exists()]
    if present and not force:
        raise OutputExistsError(f"{out} already holds a run ({', '.join(present)}); use --force to overwrite it")
    partial = partial_dir(out)
    if partial.exists() and not force:
        raise OutputExistsError(f"{partial} holds an interrupted run (its best checkpoint so far); "
                                "move it away, or use --force to discard it")
    if not out.parent.is_dir():
        raise RNATrackerError(f"output folder {out.parent} does not exist")
    return present


def make_run_dir(out: str | os.PathLike, force: bool) -> Path:
    """Create an empty ``OUT.partial`` to write the run into (an older one is discarded,
    which :func:`check_run_dir` allows only with ``force``); ``out`` itself is not touched."""
    check_run_dir(out, force)
    partial = partial_dir(out)
    if partial.is_dir() and not partial.is_symlink():
        shutil.rmtree(partial)
    elif partial.exists() or partial.is_symlink():
        partial.unlink()
    partial.mkdir()
    return partial


def publish_run(partial: Path, out: str | os.PathLike) -> Path:
    """Move a finished run from ``partial`` to ``out``; a previous run there is removed only
    now, after the new one is complete.

    ``out`` missing, or holding nothing but run files: directory swap (``out`` → a hidden
    ``.OUT.old-PID``, ``partial`` → ``out``, then the old one is deleted), each step an
    atomic rename. ``out`` holding other files too (or a symbolic link to a folder): they
    stay, and each run file is renamed into place (or an old one without a new counterpart
    removed). Stop signals are held back meanwhile, so an interruption cannot leave ``out``
    half swapped.
    """
    out = Path(out)
    with deferred_signals():
        if not out.exists():
            os.replace(partial, out)
        elif not out.is_symlink() and all(entry.name in RUN_FILES for entry in out.iterdir()):
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(partial, out)
            shutil.rmtree(old)
        else:
            for name in RUN_FILES:
                if (partial / name).exists():
                    os.replace(partial / name, out / name)
                else:
                    (out / name).unlink(missing_ok=True)
            shutil.rmtree(partial)
        fsync_dir(out.parent if str(out.parent) else ".")
    return out


def train_run(cache_path: str | os.PathLike, out: str | os.PathLike, model_options: ModelOptions,
              fit_options: FitOptions, val_fraction: float = DEFAULT_VAL_FRACTION, device: str = "auto", force: bool = False,
              on_epoch: Callable[[EpochRecord, bool], None] | None = None,
              on_batch: Callable[[int, int], None] | None = None, replicates: int = 1,
              init: InitWeights | None = None) -> TrainSummary:
    """Train one model on ``cache_path`` and write the run directory ``out``.

    ``replicates`` K > 1: K members with seeds ``seed``..``seed+K-1``, each with the validation
    split of its own seed, saved as one ensemble checkpoint (config ``"replicates": K``).
    The run is written to ``OUT.partial`` (the best checkpoint so far saved as training goes)
    and moved into ``OUT`` only at the end (:func:`publish_run`).
    ``init``: fine-tune from these weights (:mod:`rnatracker_cli.training.warmstart`); the
    architecture is then the initial model's and ``model_options`` are not used.
    """
    fit_options.check()
    if replicates < 1:
        raise RNATrackerError("--replicates must be at least 1")
    dev = resolve_device(device)
    with Cache(cache_path) as cache:
        if init is not None:
            init.check_fractions(list(cache.fractions), str(cache.path))
            config = dict(init.config)
        else:
            config = default_config(model_options.arch, len(cache.fractions), encoding=model_options.encoding,
                                    mode=model_options.mode, max_len=model_options.max_len,
                                    length_feature=model_options.length_feature,
                                    length_prior=model_options.length_prior,
                                    batch_norm=model_options.batch_norm,
                                    sum_pooling=model_options.sum_pooling)
        encoding = get_encoding(config["encoding"])
        check_input_width(config["mode"], config["max_len"], build_model(config).min_length)
        if len(cache) < 2:
            raise RNATrackerError(f"{cache.path} holds {len(cache)} transcript(s); training needs at least 2")
        fit_options = replace(fit_options, loss=resolve_loss(fit_options.loss, np.asarray(cache.targets), str(cache.path)))
        check_run_dir(out, force)  # fail before reading the data
        data = load_training_set(cache, encoding)
        splits = [split_validation(len(cache), val_fraction, fit_options.seed + r, cache.groups) for r in range(replicates)]
        fractions = list(cache.fractions)
        config, provenance = data_metadata(cache, config)
    if init is not None:
        provenance = {**provenance, "init": init.source}
    work = make_run_dir(out, force)
    options = asdict(fit_options)
    n_train, n_val = len(splits[0][0]), len(splits[0][1])
    run_config = {
        "rnatracker_version": __version__, "model": config, "fractions": fractions,
        "training": {**options, "val_fraction": val_fraction, "device": str(dev), **provenance,
                     "n_train": n_train, "n_val": n_val, "replicates": replicates},
    }
    _write_text(work / "config.json", json.dumps(run_config, indent=2) + "\n")
    history: list[tuple[int, EpochRecord]] = []
    members, results = [], []
    try:
        for r, (train_idx, val_idx) in enumerate(splits):
            train, val = data.subset(train_idx), (data.subset(val_idx) if len(val_idx) else None)

            def epoch_done(record: EpochRecord, is_best: bool, replicate: int = r + 1) -> None:
                history.append((replicate, record))
                _write_text(work / "log.tsv", format_log(history, fractions))
                if on_epoch is not None:
                    on_epoch(record, is_best)

            def best_so_far(net, epoch: int, replicate: int = r + 1) -> None:
                # Saved as training goes, so that a crash or a time limit keeps the best weights
                # (of the first replicate: an interrupted ensemble keeps one usable model).
                if replicate > 1:
                    return
                training = {**provenance, "seed": fit_options.seed + replicate - 1, "epochs": epoch, "best_epoch": epoch,
                            "val_fraction": val_fraction, "n_train": n_train, "n_val": n_val, "complete": False}
                save_checkpoint(work / MODEL_FILE, net, config, fractions, training, force=True)

            member_options = replace(fit_options, seed=fit_options.seed + r)
            seed_everything(member_options.seed)
            model = build_model(config)
            if init is not None:
                init.apply(model, r)
            results.append(fit(model, config, train, val, member_options, dev, on_epoch=epoch_done, on_batch=on_batch,
                               on_best=best_so_far))
            members.append(model)
    except BaseException:
        if not (work / MODEL_FILE).exists():  # nothing worth keeping: no epoch finished
            shutil.rmtree(work, ignore_errors=True)
        raise
    result = results[0]
    run_config["training"]["lr"] = result.lr
    _write_text(work / "config.json", json.dumps(run_config, indent=2) + "\n")
    best = result.best
    metrics = {"train_loss": best.train_loss, "val_loss": best.val_loss,
               "val_pearson": {f: float(v) for f, v in zip(fractions, best.val_pearson)}}
    training = {**provenance, "seed": fit_options.seed, "epochs": len(result.history), "best_epoch": result.best_epoch,
                "stopped_early": result.stopped_early, "lr": result.lr, "val_fraction": val_fraction,
                "n_train": n_train, "n_val": n_val, "metrics": metrics, "replicates": replicates,
                "options": {k: v for k, v in options.items() if k != "seed"},
                "members": [{"seed": fit_options.seed + i, "epochs": len(res.history), "best_epoch": res.best_epoch,
                             "val_loss": res.best.val_loss, "residual_scale": res.residual_scale}
                            for i, res in enumerate(results)]}
    if replicates > 1:
        final, final_config = Ensemble(members), {**config, "replicates": replicates}
    else:
        final, final_config = members[0], config
    save_checkpoint(work / MODEL_FILE, final, final_config, fractions, training, force=True)
    plot_loss(work / "loss.png", result.history, result.best_epoch)
    out_dir = publish_run(work, out)
    return TrainSummary(out_dir, final_config, fractions, n_train, n_val, result, str(dev), results)
