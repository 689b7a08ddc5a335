"""`cv` over a run directory: k-fold cross-validation of several models on identical folds, resumable.

Run directory::

    config.json             the cache identity and every option that shapes the results
                            (and every model ever run here: a run can gain models later)
    folds.tsv               id  fold            (1-based folds, shared by all models)
    parts/MODEL/foldK.pt    checkpoint trained without fold K
    parts/MODEL/foldK.json  its training summary
    parts/MODEL/foldK.tsv   its predictions on fold K (written last: marks the part done)
    predictions/MODEL.tsv   id  fold  <fraction…>   out-of-fold, every transcript once
    metrics.tsv  table.tsv  comparisons.tsv  plots/*.png   (see evaluation.report)

Each (model, fold) is trained with its own seed (``seed·1000 + fold``), so results do not
depend on the order parts are run in, and a re-run skips every part already on disk. With
``replicates`` K > 1 every network part is an ensemble of K members (member r: seed
``seed·1000 + fold + 1,000,000·r`` and the validation split of that seed, so member 0 is the
part a K = 1 run trains); ``kmer-gbm`` (fitted in one deterministic call) stays one model. A
re-run may name other ``--models`` (all other options must match): the new models are
trained on the same folds, and the tables and tests cover the models named in that run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.defaults import (
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EMA, DEFAULT_EPOCHS, DEFAULT_LOSS, DEFAULT_MIN_EPOCHS, DEFAULT_MUTATION_RATE, DEFAULT_PATIENCE,
    DEFAULT_VAL_FRACTION, DEFAULT_WARMUP, DEFAULT_WEIGHT_DECAY,
)
from rnatracker_cli.encoding import check_input_width, get_encoding
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.evaluation import report
from rnatracker_cli.evaluation.folds import assign_folds, read_folds
from rnatracker_cli.io.atomic import atomic_path, fsync_dir, fsync_file, new_file_mode
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.ensemble import Ensemble
from rnatracker_cli.model.registry import ARCHITECTURES, SEQUENCE_FEATURE_ARCHS
from rnatracker_cli.model.checkpoint import data_metadata, save_checkpoint
from rnatracker_cli.training.data import load_training_set, split_validation
from rnatracker_cli.training.loop import FitOptions, fit
from rnatracker_cli.training.metrics import resolve_loss
from rnatracker_cli.training.warmstart import InitWeights, load_init
from rnatracker_cli.inference import Predictor
from rnatracker_cli.utils.device import resolve_device
from rnatracker_cli.utils.seed import seed_everything

DEFAULT_MODELS = ("rnatracker", "nolstm", "noattention", "kmer-dnn", "kmer-nn")
#: Models fitted in one deterministic call: ``--replicates`` does not apply to them.
DIRECT_FIT_ARCHS = ("kmer-gbm",)
#: Member r of a part trains with the part's seed + r × this (never another fold's seed).
REPLICATE_SEED_STRIDE = 1_000_000


@dataclass
class CVOptions:
    """Everything that shapes CV results (stored in config.json and checked on resume)."""

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    folds: int = 10
    seed: int = 0
    mode: str = "full"
    encoding: str = "seq"
    max_len: int | None = None
    length_feature: bool = False
    length_prior: bool = True
    batch_norm: bool = True
    sum_pooling: bool = True
    val_fraction: float = DEFAULT_VAL_FRACTION
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_nt: int = DEFAULT_BATCH_NT
    lr: float | None = None
    patience: int = DEFAULT_PATIENCE
    clip_norm: float = DEFAULT_CLIP_NORM
    ema: float = DEFAULT_EMA
    warmup: int = DEFAULT_WARMUP
    min_epochs: int = DEFAULT_MIN_EPOCHS
    mutation_rate: float = DEFAULT_MUTATION_RATE
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    loss: str = DEFAULT_LOSS
    n_boot: int = 1000
    #: ``--init``: the model (as given) whose weights the part of its architecture starts
    #: from, and that file's sha256 (set by :func:`run_cv`; checked on resume).
    init: str | None = None
    init_sha256: str | None = None
    #: ``--fine-tune``: head or all (None without ``--init``).
    fine_tune: str | None = None
    #: ``--replicates``: members per network part (an ensemble when > 1).
    replicates: int = 1


@dataclass
class CVSummary:
    out: Path
    trained: list[tuple[str, int]]
    skipped: list[tuple[str, int]]
    complete: bool
    table: list[list] | None = None
    models: list[str] = field(default_factory=list)
    fractions: list[str] = field(default_factory=list)
    comparisons: list[tuple] | None = None
    seconds: float = 0.0


def _check(options: CVOptions) -> None:
    unknown = [m for m in options.models if m not in ARCHITECTURES]
    if unknown:
        raise RNATrackerError(f"unknown model {unknown[0]!r} (expected some of {', '.join(ARCHITECTURES)})")
    if not options.models:
        raise RNATrackerError("--models is empty")
    if len(set(options.models)) != len(options.models):
        raise RNATrackerError("--models lists a model twice")
    if options.folds < 2:
        raise RNATrackerError("--folds must be at least 2")
    if not 0.0 <= options.val_fraction < 1.0:
        raise RNATrackerError("--val-fraction must be in [0, 1)")
    if options.replicates < 1:
        raise RNATrackerError("--replicates must be at least 1")
    FitOptions(epochs=options.epochs, batch_size=options.batch_size, batch_nt=options.batch_nt, lr=options.lr,
               patience=options.patience, clip_norm=options.clip_norm, ema=options.ema, warmup=options.warmup,
               min_epochs=options.min_epochs, mutation_rate=options.mutation_rate,
               weight_decay=options.weight_decay, loss=options.loss).check()


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(text)


def _fingerprint(cache: Cache, options: CVOptions) -> dict:
    return {**cache.identity, "fractions": list(cache.fractions), "options": asdict(options)}


def _open_run(out: Path, cache: Cache, options: CVOptions) -> None:
    """Create the run dir, or check that an existing one was made from the same data and options.

    Safe when several ``--fold K`` jobs start on a new run dir at the same time (a workflow
    engine starts them together): exactly one creates config.json (:func:`_create_config`),
    the others find it and check it like any existing run.
    """
    config_path = out / "config.json"
    wanted = _fingerprint(cache, options)
    if not config_path.exists() and _create_config(out, config_path, cache, wanted):
        return
    if config_path.exists():
        try:
            have = json.loads(config_path.read_text())
        except json.JSONDecodeError:
            raise RNATrackerError(f"{config_path} is not a CV config (corrupt?)") from None
        if have.get("data_sha256") != wanted["data_sha256"]:
            raise RNATrackerError(f"{out} holds a CV run on another cache ({have.get('cache')}); use another --out")
        if "structure_sha256" in have and have["structure_sha256"] != wanted["structure_sha256"]:
            raise RNATrackerError(f"{out} holds a CV run on this cache as it was folded before (its structure "
                                  "has changed since: folded again?); use another --out")
        # Options added later, with the value that reproduces the runs made before them.
        old = {"clip_norm": 0.0, "length_prior": False, "batch_norm": False, "sum_pooling": False, "ema": 0.0, "warmup": 0, "min_epochs": 0, "mutation_rate": 0.0,
               "weight_decay": 0.0, "loss": "kl",
               "init": None,
               "init_sha256": None, "fine_tune": None, "replicates": 1, **have.get("options", {})}
        new = wanted["options"]
        # Models are independent parts on shared folds: a run can be extended with more.
        changed = sorted(k for k in new if k != "models" and old.get(k) != new[k])
        if changed:
            diffs = ", ".join(f"{k}: {old.get(k)!r} → {new[k]!r}" for k in changed)
            raise RNATrackerError(f"{out} holds a CV run made with other options ({diffs}); use another --out")
        known = list(old.get("models", []))
        added = [m for m in new["models"] if m not in known]
        if added:
            have["options"]["models"] = known + added
            # Concurrent jobs adding different models may each rewrite the list (the last
            # rename wins); it only records what was run: parts and reports follow --models.
            _write_text(config_path, json.dumps(have, indent=2) + "\n")


def _create_config(out: Path, config_path: Path, cache: Cache, wanted: dict) -> bool:
    """Start a new run in ``out`` (created if missing): write config.json unless it exists.

    Returns False when another process created config.json first. The file is written to a
    temporary name and hard-linked into place, which fails if the name exists, so two
    jobs starting together never both create a run (a rename would silently replace).
    """
    if out.exists() and not out.is_dir():
        raise RNATrackerError(f"{out} exists and is not a directory")
    if not out.parent.is_dir():
        raise RNATrackerError(f"output folder {out.parent} does not exist")
    # Another job's temporary config file does not make the folder someone else's.
    if out.exists() and any(not p.name.startswith(".config.json.") for p in out.iterdir()):
        if config_path.exists():
            return False  # created by another job since we looked
        raise RNATrackerError(f"{out} is not empty and holds no CV run; use another --out")
    out.mkdir(exist_ok=True)
    text = json.dumps({**wanted, "cache": str(cache.path.resolve()), "rnatracker_version": __version__}, indent=2) + "\n"
    fd, name = tempfile.mkstemp(prefix=".config.json.", suffix=".tmp", dir=out)
    staged = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(staged, new_file_mode())
        fsync_file(staged)
        try:
            os.link(staged, config_path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: a rename, exclusive only in practice
            if config_path.exists():
                return False
            os.replace(staged, config_path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    fsync_dir(out)
    return True


def _folds(out: Path, cache: Cache, options: CVOptions) -> np.ndarray:
    """0-based fold per transcript: computed once, then read back from folds.tsv."""
    path = out / "folds.tsv"
    if path.exists():
        folds = read_folds(path)
        if list(folds) != list(cache.ids):
            raise RNATrackerError(f"{path} does not list the cache's transcripts; use another --out")
        return np.array(list(folds.values()), dtype=np.int64) - 1
    folds = assign_folds(cache.targets.argmax(axis=1), options.folds, cache.groups, seed=options.seed)
    _write_text(path, "id\tfold\n" + "".join(f"{i}\t{k + 1}\n" for i, k in zip(cache.ids, folds)))
    return folds


def _part_paths(out: Path, model: str, fold: int) -> tuple[Path, Path, Path]:
    base = out / "parts" / model / f"fold{fold + 1}"
    return base.with_suffix(".tsv"), base.with_suffix(".json"), base.with_suffix(".pt")


def _read_part(path: Path, n_fractions: int) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()[1:]
    ids = [line.split("\t", 1)[0] for line in lines]
    values = np.array([[float(v) for v in line.split("\t")[1:]] for line in lines], dtype=np.float64)
    return ids, values.reshape(len(ids), n_fractions)


@dataclass
class _CVData:
    """What every part of a run needs, read once from the cache."""

    configs: dict[str, dict]
    provenance: dict
    folds: np.ndarray
    fractions: list[str]
    groups: np.ndarray | None
    data: dict
    ids: list[str]
    targets: np.ndarray
    init: InitWeights | None = None
    #: The training loss, ``--loss auto`` resolved from the cache's targets.
    loss: str = "kl"


def run_cv(
    cache_path: str | os.PathLike,
    out: str | os.PathLike,
    options: CVOptions,
    fold: int | None = None,
    device: str = "auto",
    on_part: Callable[[str, int, str, dict | None], None] | None = None,
) -> CVSummary:
    """Train and evaluate every (model, fold) part not yet on disk, then (unless ``fold`` is
    given, 1-based) write predictions, metrics, tables, comparisons and plots.

    on_part(model, fold (1-based), status, info): status is "skip", "start" or "done".
    """
    _check(options)
    started = time.perf_counter()
    out = Path(out)
    dev = resolve_device(device)
    init = None
    if options.init is not None:
        init = load_init(options.init)
        if init.arch not in options.models:
            raise RNATrackerError(f"--init: the model is a {init.arch} network, which is not among --models "
                                  f"({', '.join(options.models)})")
        options = replace(options, init_sha256=init.source["sha256"])
    setup = _load(cache_path, out, options, fold, init)
    summary = CVSummary(out, [], [], False, models=list(options.models), fractions=setup.fractions)
    for k in range(options.folds) if fold is None else [fold - 1]:
        for model_name in options.models:
            if _part_paths(out, model_name, k)[0].exists():
                summary.skipped.append((model_name, k + 1))
                if on_part:
                    on_part(model_name, k + 1, "skip", None)
                continue
            if on_part:
                on_part(model_name, k + 1, "start", None)
            info = _run_part(out, setup, options, model_name, k, dev)
            summary.trained.append((model_name, k + 1))
            if on_part:
                on_part(model_name, k + 1, "done", info)
    missing = [(m, k + 1) for m in options.models for k in range(options.folds) if not _part_paths(out, m, k)[0].exists()]
    if fold is None and not missing:
        predictions = _collect_predictions(out, setup, options)
        _write_reports(out, setup, options, predictions, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _load(cache_path: str | os.PathLike, out: Path, options: CVOptions, fold: int | None,
          init: InitWeights | None = None) -> _CVData:
    """Check the options against the cache, open (or resume) the run dir, read the data."""
    with Cache(cache_path) as cache:
        if fold is not None and not 1 <= fold <= options.folds:
            raise RNATrackerError(f"--fold must be between 1 and --folds ({options.folds})")
        n = len(cache)
        if n < options.folds:
            raise RNATrackerError(f"--folds {options.folds} is more than the {n} transcripts in the cache")
        configs, provenance = {}, {}
        if init is not None:
            init.check_fractions(list(cache.fractions), str(cache.path))
        for m in options.models:
            if init is not None and m == init.arch:
                configs[m], provenance[m] = data_metadata(cache, dict(init.config))
                provenance[m]["init"] = init.source
                continue
            config = default_config(m, len(cache.fractions),
                                    encoding="seq" if m in SEQUENCE_FEATURE_ARCHS else options.encoding,
                                    mode=options.mode, max_len=options.max_len, length_feature=options.length_feature,
                                    length_prior=options.length_prior, batch_norm=options.batch_norm,
                                    sum_pooling=options.sum_pooling)
            check_input_width(config["mode"], config["max_len"], build_model(config).min_length)
            configs[m], provenance[m] = data_metadata(cache, config)
        encodings = {c["encoding"]: get_encoding(c["encoding"]) for c in configs.values()}
        loss = resolve_loss(options.loss, np.asarray(cache.targets), str(cache.path))
        # The run records the loss it trains with, so a run made before --loss (KL) resumes
        # under the default (auto) on label caches, where auto is KL.
        _open_run(out, cache, replace(options, loss=loss))
        return _CVData(
            configs=configs, provenance=provenance, folds=_folds(out, cache, options), fractions=list(cache.fractions),
            groups=cache.groups, data={name: load_training_set(cache, e) for name, e in encodings.items()},
            ids=list(cache.ids), targets=np.asarray(cache.targets, dtype=np.float64), init=init, loss=loss,
        )


def _run_part(out: Path, setup: _CVData, options: CVOptions, model_name: str, k: int, dev) -> dict:
    """Train ``model_name`` without fold ``k`` (0-based), predict fold ``k``, write the part
    (checkpoint, summary, then the predictions that mark it done). Returns the summary."""
    tsv, info_path, ckpt = _part_paths(out, model_name, k)
    seed = options.seed * 1000 + k
    test_idx = np.flatnonzero(setup.folds == k)
    train_all = np.flatnonzero(setup.folds != k)
    config = setup.configs[model_name]
    full = setup.data[config["encoding"]]
    test = full.subset(test_idx)
    fine_tune_head = setup.init is not None and model_name == setup.init.arch and options.fine_tune == "head"
    t0 = time.perf_counter()
    members, results, member_info = [], [], []
    for r in range(1 if model_name in DIRECT_FIT_ARCHS else options.replicates):
        member_seed = seed + REPLICATE_SEED_STRIDE * r
        rel_train, rel_val = split_validation(len(train_all), options.val_fraction, member_seed,
                                              None if setup.groups is None else setup.groups[train_all])
        train = full.subset(train_all[rel_train])
        val = full.subset(train_all[rel_val]) if len(rel_val) else None
        fit_options = FitOptions(epochs=options.epochs, batch_size=options.batch_size, batch_nt=options.batch_nt,
                                 lr=options.lr, patience=options.patience, seed=member_seed, clip_norm=options.clip_norm,
                                 ema=options.ema, warmup=options.warmup, min_epochs=options.min_epochs,
                                 mutation_rate=options.mutation_rate, weight_decay=options.weight_decay, loss=setup.loss,
                                 head_only=fine_tune_head)
        seed_everything(member_seed)
        model = build_model(config)
        if setup.init is not None and model_name == setup.init.arch:
            setup.init.apply(model, r)
        result = fit(model, config, train, val, fit_options, dev)
        members.append(model)
        results.append(result)
        member_info.append({"seed": member_seed, "n_train": len(train), "n_val": 0 if val is None else len(val),
                            "epochs": len(result.history), "best_epoch": result.best_epoch,
                            "val_loss": result.best.val_loss})
    if len(members) > 1:
        model, config = Ensemble(members), {**config, "replicates": len(members)}
    result = results[0]
    probs = Predictor(model, config, dev, batch_nt=max(options.batch_nt, 1)).predict(
        test.sequences, test.structures, nt_lengths=test.nt_lengths)
    info = {"model": model_name, "fold": k + 1, "seed": seed, "n_train": member_info[0]["n_train"],
            "n_val": member_info[0]["n_val"], "n_test": len(test), "epochs": len(result.history),
            "best_epoch": result.best_epoch, "stopped_early": result.stopped_early, "lr": result.lr,
            "val_loss": result.best.val_loss, "seconds": round(time.perf_counter() - t0, 2)}
    if len(members) > 1:
        info["members"] = member_info
    info_path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, model, config, setup.fractions, {**setup.provenance[model_name], **info}, force=True)
    _write_text(info_path, json.dumps(info, indent=2) + "\n")
    _write_text(tsv, "\t".join(["id", *setup.fractions]) + "\n" + "".join(
        f"{setup.ids[i]}\t" + "\t".join(f"{v:.6f}" for v in p) + "\n" for i, p in zip(test_idx, probs)))
    return info


def _collect_predictions(out: Path, setup: _CVData, options: CVOptions) -> dict[str, np.ndarray]:
    """Out-of-fold predictions per model (float64 (N, F), cache order); writes predictions/."""
    predictions: dict[str, np.ndarray] = {}
    ids, fractions = setup.ids, setup.fractions
    position = {rid: i for i, rid in enumerate(ids)}
    (out / "predictions").mkdir(exist_ok=True)
    for model_name in options.models:
        pred = np.full((len(ids), len(fractions)), np.nan)
        for k in range(options.folds):
            part_ids, values = _read_part(_part_paths(out, model_name, k)[0], len(fractions))
            pred[[position[i] for i in part_ids]] = values
        if np.isnan(pred).any():
            raise RNATrackerError(f"out-of-fold predictions of {model_name} do not cover every transcript (run dir damaged?)")
        predictions[model_name] = pred
        _write_text(out / "predictions" / f"{model_name}.tsv", "\t".join(["id", "fold", *fractions]) + "\n" + "".join(
            f"{rid}\t{setup.folds[i] + 1}\t" + "\t".join(f"{v:.6f}" for v in pred[i]) + "\n" for i, rid in enumerate(ids)))
    return predictions


def _write_reports(out: Path, setup: _CVData, options: CVOptions, predictions: dict[str, np.ndarray],
                   summary: CVSummary) -> None:
    """metrics.tsv, table.tsv, comparisons.tsv and plots/; fills the summary's tables."""
    targets, fractions, models = setup.targets, setup.fractions, list(options.models)
    rows = report.metric_rows(targets, predictions, fractions)
    table = report.pearson_table(rows, fractions, models)
    comparisons = report.comparison_rows(targets, predictions, fractions, n_boot=options.n_boot, seed=options.seed)
    for name, writer, payload in (("metrics.tsv", report.write_metrics, rows),
                                  ("comparisons.tsv", report.write_comparisons, comparisons)):
        with atomic_path(out / name, force=True) as tmp:
            writer(tmp, payload)
    with atomic_path(out / "table.tsv", force=True) as tmp:
        report.write_table(tmp, table, models)
    report.write_plots(out / "plots", targets, predictions, fractions, table)
    summary.complete = True
    summary.table = table
    summary.comparisons = comparisons
