#!/usr/bin/env python
"""Rebuild rnatracker's built-in models from the reference data, with fixed seeds.

    python scripts/build_models.py DATA_DIR [--out rnatracker_cli/pretrained] [--only NAME]
                                   [--cv-figures FIGURES.json] [--recipe JSON] [--work DIR]
    python scripts/build_models.py [DATA_DIR] --figures-only [--cv-run CV_DIR --only NAME] [--cv-figures FIGURES.json]

DATA_DIR holds the data sets named in :data:`DATASETS` (``lncatlas_mrna/lncatlas_mrna.fa`` …,
the layout of the project's shared reference data). For each model in :data:`MODELS` the
script prepares a cache (``--normalized``: the tables hold 1/0 compartment labels), trains
the ensemble members of :data:`RECIPE` (:func:`train_member`, one per seed, on CPU), writes
their weights into the package folder (``--out``) in a byte-reproducible way, updates
``index.json`` there (weights and data SHA-256, counts, recipe, the exact command) and
regenerates the model card ``docs/models/NAME.md`` (``--docs``).

Transfer to the model's other-assay data set (``transfer_to``: ROC AUC against length alone
with DeLong's paired test) and calibration are measured on the built weights when DATA_DIR
holds that data set (:func:`evaluate_transfer`; ``--no-evaluate`` skips it). The 10-fold CV
against baselines is measured separately (``rnatracker cv`` …) and given as
``--cv-figures FIGURES.json`` (schema in docs/models/README.md), whose sections take
precedence; without it the figures already in the index are kept. ``--figures-only``
updates figures and cards without training.
See docs/models/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import io
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from rnatracker_cli import __version__  # noqa: E402
from rnatracker_cli.defaults import (  # noqa: E402
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EMA, DEFAULT_EPOCHS, DEFAULT_MIN_EPOCHS,
    DEFAULT_PATIENCE, DEFAULT_VAL_FRACTION, DEFAULT_WARMUP,
)
from rnatracker_cli.errors import RNATrackerError  # noqa: E402
from rnatracker_cli.pretrained import INDEX_FILE, INDEX_SCHEMA, file_sha256, read_index  # noqa: E402

# -- what to build --------------------------------------------------------------------------

#: Training recipe of every built-in model (keys of ModelOptions and FitOptions of
#: rnatracker_cli.training, plus ``seeds`` = one ensemble member per seed and
#: ``val_fraction``): the default recipe (`--preset default`, docs/model.md) of
#: 2026-12-02, i.e. without batch normalisation, 3 members.
RECIPE: dict = {
    "arch": "rnatracker",
    "encoding": "seq",
    "mode": "full",
    "max_len": None,
    "length_feature": False,
    "length_prior": True,
    # The shipped networks were trained before batch normalisation became the default
    # (2026-12-03); this keeps a rebuild identical to them. Set True to build with it.
    "batch_norm": False,
    "sum_pooling": False,
    "seeds": [0, 1, 2],
    "epochs": DEFAULT_EPOCHS,
    "patience": DEFAULT_PATIENCE,
    "lr": None,
    "batch_nt": DEFAULT_BATCH_NT,
    "batch_size": DEFAULT_BATCH_SIZE,
    "clip_norm": DEFAULT_CLIP_NORM,
    "ema": DEFAULT_EMA,
    "warmup": DEFAULT_WARMUP,
    "min_epochs": DEFAULT_MIN_EPOCHS,
    "mutation_rate": 0.0,
    "weight_decay": 0.0,
    "loss": "kl",
    "val_fraction": DEFAULT_VAL_FRACTION,
}

#: Data sets, relative to DATA_DIR, with what a model card says about them.
DATASETS: dict[str, dict] = {
    "lncatlas_mrna": {
        "fasta": "lncatlas_mrna/lncatlas_mrna.fa",
        "table": "lncatlas_mrna/lncatlas_mrna.tsv",
        "title": "lncATLAS mRNAs (RNAlight split)",
        "assay": "ENCODE subcellular fractionation RNA-seq (nuclear vs cytoplasmic), summarised by lncATLAS",
        "source": (
            "Human mRNAs (cDNA, one transcript per gene) of the RNAlight study (Yuan et al., 2023), file "
            "`Other_Evaluation_methods_for_models/DataSet_Split_Ratio/mRNA/mRNA_sublocation_TestSet_8_2.tsv` "
            "of the MIT-licensed repository YangLab/RNAlight; localization from lncATLAS "
            "(Mas-Ponte et al., RNA 2017), which summarises ENCODE fractionation RNA-seq of human cell lines."
        ),
        "licence": "MIT (YangLab/RNAlight); lncATLAS and ENCODE data are public",
        "label": (
            "Binary: `nucleus` = 1 for mRNAs that RNAlight labelled nuclear from the lncATLAS relative "
            "concentration indices (RCI = log2 of cytoplasmic over nuclear expression), `cytosol` = 1 "
            "for cytoplasmic ones; used as a degenerate two-compartment distribution (`prepare --normalized`)."
        ),
        "citation": [
            "Yuan G-H, Wang Y, Wang G-Z, Yang L. RNAlight: a machine learning model to identify nucleotide "
            "features determining RNA subcellular localization. Briefings in Bioinformatics 24(1), bbac509 (2023).",
            "Mas-Ponte D, Carlevaro-Fita J, Palumbo E, Hermoso Pulido T, Guigó R, Johnson R. LncATLAS database "
            "for subcellular localization of long noncoding RNAs. RNA 23(7):1080-1087 (2017).",
            "ENCODE Project Consortium. An integrated encyclopedia of DNA elements in the human genome. "
            "Nature 489:57-74 (2012).",
        ],
    },
    "lncatlas_lncrna": {
        "fasta": "lncatlas_lncrna/lncatlas_lncrna.fa",
        "table": "lncatlas_lncrna/lncatlas_lncrna.tsv",
        "title": "lncATLAS lncRNAs (RNAlight set)",
        "assay": "ENCODE subcellular fractionation RNA-seq (nuclear vs cytoplasmic), summarised by lncATLAS",
        "source": (
            "Human lncRNAs (one transcript per gene) of the RNAlight study (Yuan et al., 2023), files "
            "`lncRNA/02_Dataset/02_lncRNA_info_{cyto,nuc}_transcript.tsv` of the MIT-licensed repository "
            "YangLab/RNAlight; localization from lncATLAS (Mas-Ponte et al., RNA 2017). No gene is shared "
            "with the lncATLAS mRNAs."
        ),
        "licence": "MIT (YangLab/RNAlight); lncATLAS and ENCODE data are public",
        "label": (
            "Binary: `nucleus` = 1 for lncRNAs that RNAlight labelled nuclear by their mean lncATLAS "
            "cytoplasmic/nuclear relative concentration index, `cytosol` = 1 for cytoplasmic ones; used as a "
            "degenerate two-compartment distribution (`prepare --normalized`)."
        ),
        "citation": [
            "Yuan G-H, Wang Y, Wang G-Z, Yang L. RNAlight: a machine learning model to identify nucleotide "
            "features determining RNA subcellular localization. Briefings in Bioinformatics 24(1), bbac509 (2023).",
            "Mas-Ponte D, Carlevaro-Fita J, Palumbo E, Hermoso Pulido T, Guigó R, Johnson R. LncATLAS database "
            "for subcellular localization of long noncoding RNAs. RNA 23(7):1080-1087 (2017).",
        ],
    },
    "halo_mrna_dev": {
        "fasta": "halo_mrna_dev/halo_mrna_dev.fa",
        "table": "halo_mrna_dev/halo_mrna_dev.tsv",
        "title": "Halo-seq mRNAs (development half)",
        "assay": "Halo-seq RNA proximity labelling (H2B-Halo nuclear vs p65-Halo cytoplasmic)",
        "source": (
            "Human mRNAs of Engel et al. (Nucleic Acids Res. 2022) with RNAlight's labels (`tag`), file "
            "`Other_Evaluation_methods_for_models/Halo-seq_data/05_Halo_seq_mRNA_independent.txt` of "
            "YangLab/RNAlight (MIT); the development half (the other half is held back as a final test)."
        ),
        "licence": "MIT (YangLab/RNAlight)",
        "label": "Binary nuclear/cytoplasmic from Halo-seq enrichment (RNAlight's `tag`).",
        "citation": [
            "Engel KL, Lo H-YG, Goering R, Li Y, Spitale RC, Taliaferro JM. Analysis of subcellular transcriptomes "
            "by RNA proximity labeling with Halo-seq. Nucleic Acids Research 50(4):e24 (2022).",
        ],
    },
}

#: The built-in models: name -> what it is trained on and what its card says.
MODELS: dict[str, dict] = {
    "human-mrna": {
        "description": "Human mRNA nuclear vs cytoplasmic localization (ensemble; ENCODE cell lines via lncATLAS)",
        "default": False,
        "species": "human",
        "molecule": "mRNA",
        "fractions": ["cytosol", "nucleus"],
        "train_on": ["lncatlas_mrna"],
        "transfer_to": "halo_mrna_dev",
    },
    # The same networks with their output head refitted on Halo-seq (``train --init
    # human-mrna --replicates K``, ``--fine-tune head``): built from human-mrna's weights.
    "human-mrna-halo": {
        "description": ("Human mRNA nuclear vs cytoplasmic localization as Halo-seq proximity labelling "
                        "measures it (human-mrna's networks, output head refitted on Halo-seq)"),
        "default": False,
        "species": "human",
        "molecule": "mRNA",
        "fractions": ["cytosol", "nucleus"],
        "train_on": ["halo_mrna_dev"],
        "init": "human-mrna",
        "transfer_to": "lncatlas_mrna",
    },
    # Both assays' members in one ensemble: the mean over two assays. The default: the only
    # design not worse than length alone on either assay (benchmarks/cross_assay_heads.py;
    # docs/model.md, "Which built-in model").
    "human-mrna-2assay": {
        "description": ("Human mRNA nuclear vs cytoplasmic localization averaged over two assays "
                        "(ensemble of human-mrna and human-mrna-halo: fractionation + proximity labelling)"),
        "default": True,
        "species": "human",
        "molecule": "mRNA",
        "fractions": ["cytosol", "nucleus"],
        "train_on": ["lncatlas_mrna", "halo_mrna_dev"],
        "combine": ["human-mrna", "human-mrna-halo"],
    },
    # lncRNAs of the same assay: a predictor for lncRNAs, and the starting weights that make
    # mRNA training better (`train --init human-lncrna --fine-tune all`; docs/model.md,
    # "Pretraining on lncRNAs"). Trained with the current default recipe (``recipe`` below
    # overrides RECIPE), unlike the mRNA models.
    "human-lncrna": {
        "description": ("Human lncRNA nuclear vs cytoplasmic localization (ensemble; ENCODE cell lines via "
                        "lncATLAS); also the starting weights for training on mRNAs"),
        "default": False,
        "species": "human",
        "molecule": "lncRNA",
        "fractions": ["cytosol", "nucleus"],
        "train_on": ["lncatlas_lncrna"],
        "recipe": {"batch_norm": True, "sum_pooling": True},
    },
}

#: Fields of a figures object (``--cv-figures``), by section, with their types.
_FIGURE_FIELDS = {
    "cv": {"metric": str, "folds": int, "model": str, "scores": dict},
    "transfer": {"data": str, "metric": str, "model": str, "scores": dict},
    "calibration": {"data": str},
}


# -- training -------------------------------------------------------------------------------

def train_member(cache: Path, seed: int, recipe: dict, out: Path, log=print) -> Path:
    """Train one ensemble member on ``cache`` with ``seed``; returns its ``model.pt``.

    ``recipe`` keys that are fields of ``ModelOptions`` or ``FitOptions`` are passed on;
    ``val_fraction`` goes to ``train_run``. Always on CPU with one thread (what a rebuild
    reproduces). ``out`` is the run directory to write (overwritten); ``log`` gets one line
    per epoch.
    """
    import torch

    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions, train_run

    torch.set_num_threads(1)
    model_keys = {f.name for f in dataclasses.fields(ModelOptions)}
    fit_keys = {f.name for f in dataclasses.fields(FitOptions)} - {"seed"}
    model_options = ModelOptions(**{k: v for k, v in recipe.items() if k in model_keys})
    fit_options = FitOptions(seed=seed, **{k: v for k, v in recipe.items() if k in fit_keys})

    def on_epoch(record, is_best: bool) -> None:
        log(f"  seed {seed} epoch {record.epoch}: train {record.train_loss:.4f} val {record.val_loss:.4f} "
            f"({record.seconds:.1f} s){' *' if is_best else ''}")

    summary = train_run(cache, out, model_options, fit_options,
                        val_fraction=recipe.get("val_fraction", DEFAULT_VAL_FRACTION), device="cpu", force=True,
                        on_epoch=on_epoch)
    log(f"  seed {seed}: best epoch {summary.result.best_epoch} of {len(summary.result.history)}, "
        f"val loss {summary.result.best.val_loss:.4f}")
    return summary.out / "model.pt"


def train_members(cache: Path, recipe: dict, work: Path, name: str, log=print) -> list[Path]:
    """Train the ensemble and return ``[path]`` of its one checkpoint: one member per seed of
    ``recipe["seeds"]`` (:func:`train_member`, in seed order; a member whose run directory in
    ``work`` already holds a finished checkpoint of this recipe, seed and data is reused, so an
    interrupted build resumes and members can be trained as separate jobs), combined with
    :func:`rnatracker_cli.model.ensemble.combine_checkpoints` — the same ensemble as
    ``train --replicates K`` with seeds ``seeds[0] … seeds[0]+K−1``."""
    from rnatracker_cli.model.checkpoint import save_checkpoint
    from rnatracker_cli.model.ensemble import combine_checkpoints

    seeds = list(recipe["seeds"])
    paths = []
    for member, seed in enumerate(seeds):
        run = work / f"{name}-seed{seed}"
        if _finished_member(run / "model.pt", cache, seed, recipe):
            log(f"{name}: member {member + 1}/{len(seeds)} (seed {seed}) already trained in {run}, reused")
            paths.append(run / "model.pt")
            continue
        log(f"{name}: training member {member + 1}/{len(seeds)} (seed {seed}) …")
        paths.append(train_member(cache, seed, recipe, run, log))
    if len(paths) == 1:
        return paths
    model, config, fractions, training = combine_checkpoints(paths)
    out = work / f"{name}-ensemble.pt"
    save_checkpoint(out, model, config, fractions, training, force=True)
    return [out]


def fine_tune_head(cache: Path, init: Path, recipe: dict, out: Path, log=print) -> Path:
    """``train CACHE --init INIT --replicates K --seed SEEDS[0]`` (``--fine-tune head``): the
    networks of ``init`` (a built-in's weights) with their output head refitted on ``cache``,
    one member per member of ``init``; returns the run's ``model.pt``."""
    import torch

    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions, train_run
    from rnatracker_cli.training.warmstart import load_init

    torch.set_num_threads(1)
    weights = load_init(init)
    seeds = list(recipe["seeds"])
    summary = train_run(cache, out, ModelOptions(), FitOptions(seed=seeds[0], head_only=True),
                        val_fraction=recipe.get("val_fraction", DEFAULT_VAL_FRACTION), device="cpu", force=True,
                        replicates=len(weights.states), init=weights)
    log(f"  output head refitted from {init.name} on {summary.n_train} + {summary.n_val} transcripts")
    return summary.out / "model.pt"


def stack_builtins(names: list[str], out: Path, dst: Path) -> Path:
    """One ensemble of every member of the built-in models ``names`` (their packaged files in
    ``out``, which must share architecture and fractions): the mean of their predictions."""
    from rnatracker_cli.model.checkpoint import load_model, save_checkpoint
    from rnatracker_cli.model.ensemble import Ensemble
    from rnatracker_cli.training.warmstart import DATA_KEYS

    loaded = [load_model(out / f"{n}.pt") for n in names]
    strip = lambda c: {k: v for k, v in c.items() if k not in DATA_KEYS}  # noqa: E731
    for n, m in zip(names[1:], loaded[1:]):
        if strip(m.config) != strip(loaded[0].config) or m.fractions != loaded[0].fractions:
            raise RNATrackerError(f"{n} and {names[0]} differ in architecture or fractions: cannot be stacked")
    members = []
    for m in loaded:
        members += list(m.model.members) if isinstance(m.model, Ensemble) else [m.model]
    sources = [{"name": n, "sha256": file_sha256(out / f"{n}.pt"), "data_sha256": m.training.get("data_sha256"),
                "replicates": int(m.config.get("replicates", 1))} for n, m in zip(names, loaded)]
    training = {"stacked": sources, "replicates": len(members), "data_sha256": None, "seed": None,
                "metrics": {}, "complete": True}
    config = {**loaded[0].config, "replicates": len(members)}
    save_checkpoint(dst, Ensemble(members), config, list(loaded[0].fractions), training, force=True)
    return dst


def _finished_member(path: Path, cache: Path, seed: int, recipe: dict) -> bool:
    """True when ``path`` is a complete checkpoint trained on ``cache`` with ``seed`` and
    every option of ``recipe``."""
    if not path.is_file():
        return False
    from rnatracker_cli.io.cache import Cache
    from rnatracker_cli.model.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    training, config = payload["training"], payload["config"]
    with Cache(cache) as c:
        data_sha = c.content_sha256
    if training.get("complete") is False or training.get("seed") != seed or training.get("data_sha256") != data_sha:
        return False
    options = training.get("options", {})
    for key, value in recipe.items():
        if key in ("seeds",):
            continue
        have = config[key] if key in config else options.get(key, training.get(key, _ADDED_LATER.get(key)))
        if have != value:
            return False
    return True


#: Recipe keys added after the shipped networks were trained, with the value a checkpoint
#: without them was trained with.
_ADDED_LATER = {"batch_norm": False, "sum_pooling": False, "mutation_rate": 0.0, "weight_decay": 0.0, "loss": "kl"}


def check_recipe(recipe: dict) -> None:
    """Refuse recipe keys that no training option takes (they would be silently ignored)."""
    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions

    known = ({f.name for f in dataclasses.fields(ModelOptions)} | {f.name for f in dataclasses.fields(FitOptions)}
             | {"seeds", "val_fraction"}) - {"seed"}
    unknown = sorted(set(recipe) - known)
    if unknown:
        raise RNATrackerError(f"recipe keys not understood by this rnatracker: {', '.join(unknown)}")
    seeds = recipe.get("seeds")
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds)):
        raise RNATrackerError("recipe 'seeds' must be a non-empty list of integers")
    if len(set(seeds)) != len(seeds):
        raise RNATrackerError("recipe 'seeds' must be distinct")


def pack_checkpoint(src: Path, dst: Path, name: str, member: int, seeds: list[int], cache_name: str) -> None:
    """Copy a trained checkpoint into the package, byte-reproducibly.

    The run's absolute cache path is replaced by ``cache_name`` and the built-in model's
    name and member are recorded under ``training["builtin"]``. The file is serialised in
    memory (``torch.save`` names the archive after the file it writes to, so saving to a
    temporary file name would change the bytes) and then written atomically.
    """
    import torch

    from rnatracker_cli.io.atomic import atomic_path
    from rnatracker_cli.model.checkpoint import read_checkpoint

    payload = read_checkpoint(src)
    training = dict(payload["training"])
    training["cache"] = cache_name
    if isinstance(training.get("init"), dict):  # the build machine's path of the initial weights
        training["init"] = {**training["init"], "model": Path(str(training["init"]["model"])).name}
    training["builtin"] = {"name": name, "member": member, "seeds": list(seeds)}
    payload["training"] = training
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(dst, force=True) as tmp:
        tmp.write_bytes(buffer.getvalue())
    _readable(dst)


# -- data -----------------------------------------------------------------------------------

def data_paths(data_dir: Path, dataset: str) -> tuple[Path, Path]:
    """FASTA and table of ``dataset`` under ``data_dir`` (missing files are an error)."""
    spec = DATASETS[dataset]
    fasta, table = data_dir / spec["fasta"], data_dir / spec["table"]
    for p in (fasta, table):
        if not p.is_file():
            raise RNATrackerError(f"{p} not found (DATA_DIR must hold {spec['fasta']} and {spec['table']})")
    return fasta, table


def combined_inputs(data_dir: Path, datasets: list[str], fractions: list[str], work: Path) -> tuple[Path, Path]:
    """One FASTA + one table for ``prepare`` (the files themselves for a single data set;
    concatenated, with only the id, gene and fraction columns, for several)."""
    if len(datasets) == 1:
        return data_paths(data_dir, datasets[0])
    import pandas as pd

    fasta_out, table_out = work / "train.fa", work / "train.tsv"
    tables = []
    with open(fasta_out, "wb") as out:
        for ds in datasets:
            fasta, table = data_paths(data_dir, ds)
            text = fasta.read_bytes()
            out.write(text if text.endswith(b"\n") else text + b"\n")
            tables.append(pd.read_csv(table, sep="\t")[["transcript_id", "gene", *fractions]])
    pd.concat(tables).to_csv(table_out, sep="\t", index=False)
    return fasta_out, table_out


def label_counts(cache_path: Path) -> dict:
    """Transcripts, and transcripts per predominant compartment, in a prepared cache."""
    import numpy as np

    from rnatracker_cli.io.cache import Cache

    with Cache(cache_path) as cache:
        top = np.argmax(cache.targets, axis=1)
        counts = {"transcripts": int(len(cache))}
        counts.update({f: int((top == i).sum()) for i, f in enumerate(cache.fractions)})
        counts["median_length"] = int(np.median(cache.full_lengths))
    return counts


# -- figures, index, card -------------------------------------------------------------------

# -- figures of the shipped weights ---------------------------------------------------------

def ensemble_predict(paths: list[Path], sequences: list) -> "np.ndarray":
    """Mean predicted distribution float64 (n, F) of the member checkpoints ``paths`` over
    ``sequences`` (uint8 code arrays), on CPU."""
    import numpy as np

    from rnatracker_cli.inference import Predictor
    from rnatracker_cli.model.checkpoint import load_model

    total = None
    for path in paths:
        loaded = load_model(path, device="cpu")
        probs = Predictor(loaded.model, loaded.config, device="cpu").predict(sequences).astype(np.float64)
        total = probs if total is None else total + probs
    return total / len(paths)


def calibration_bins(labels: "np.ndarray", predicted: "np.ndarray", n_bins: int = 10) -> dict:
    """Reliability of ``predicted`` (probability of the positive label) against bool ``labels``.

    Transcripts sorted by prediction are cut into ``n_bins`` groups of (nearly) equal size;
    per group the mean prediction, the observed share of positives and the count. ECE =
    Σ_b n_b/N · |mean predicted_b − observed_b|; Brier = mean (p − y)².
    """
    import numpy as np

    labels = np.asarray(labels, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    order = np.argsort(predicted, kind="stable")
    bins = []
    ece = 0.0
    for group in np.array_split(order, min(n_bins, len(order))):
        mean_p, observed = float(predicted[group].mean()), float(labels[group].mean())
        bins.append({"predicted": mean_p, "observed": observed, "n": int(len(group))})
        ece += len(group) / len(order) * abs(mean_p - observed)
    return {"bins": bins, "ece": float(ece), "brier": float(np.mean((predicted - labels) ** 2))}


def evaluate_transfer(name: str, paths: list[Path], data_dir: Path, fractions: list[str], command: str = "",
                      log=print) -> dict:
    """Figures of the shipped ensemble on the model's other-assay data set (``transfer_to``):
    ``{"transfer": …, "calibration": …}`` in the ``--cv-figures`` schema, or ``{}`` when
    the data set is not in ``data_dir``.

    The positive class is the second compartment of binary models (``nucleus`` for
    ``["cytosol", "nucleus"]``): its ROC AUC against the labels, compared with transcript
    length alone by DeLong's paired test (one label per transcript, so the test's unit is the
    transcript), and the reliability of its predicted fraction.
    """
    import numpy as np
    import pandas as pd

    from rnatracker_cli.evaluation.compare import delong_test
    from rnatracker_cli.io.fasta import read_fasta
    from rnatracker_cli.io.tables import strip_version
    from rnatracker_cli.metrics import roc_auc

    dataset = MODELS[name].get("transfer_to")
    if not dataset or len(fractions) != 2:
        return {}
    spec = DATASETS[dataset]
    fasta, table = data_dir / spec["fasta"], data_dir / spec["table"]
    if not (fasta.is_file() and table.is_file()):
        log(f"{name}: {spec['fasta']} not in DATA_DIR: transfer and calibration not measured")
        return {}
    labels_by_id = pd.read_csv(table, sep="\t")
    positive = fractions[1]
    lookup = {strip_version(str(i)): int(v) for i, v in zip(labels_by_id["transcript_id"], labels_by_id[positive])}
    records = [r for r in read_fasta(fasta) if strip_version(r.id) in lookup]
    if not records:
        raise RNATrackerError(f"{fasta}: no record matches an id of {table}")
    labels = np.array([lookup[strip_version(r.id)] for r in records], dtype=bool)
    lengths = np.array([len(r.codes) for r in records], dtype=np.float64)
    score = ensemble_predict(paths, [r.codes for r in records])[:, 1]
    test = {k: (v if np.isfinite(v) else None) for k, v in delong_test(labels, score, np.log(lengths)).items()}
    metric = f"{positive} ROC AUC"
    today = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    how = command or "scripts/build_models.py (from the shipped weights, ensemble mean)"
    transfer = {
        "data": dataset, "n": int(len(records)), "metric": metric, "model": name,
        "scores": {name: float(roc_auc(labels, score)), "length": float(roc_auc(labels, lengths))},
        "tests": [{"against": "length", "test": f"DeLong, paired, on the {len(records)} transcripts' labels",
                   "difference": test["diff"], "p": test["p"]}],
        "command": how, "date": today,
    }
    calibration = {"data": dataset, "metric": f"predicted {positive} fraction", **calibration_bins(labels, score),
                   "command": how, "date": today}
    log(f"{name}: on {dataset} {metric} {transfer['scores'][name]:.3f} (length {transfer['scores']['length']:.3f}, "
        f"DeLong p {_fmt(test['p'])}); ECE {calibration['ece']:.3f}")
    return {"transfer": transfer, "calibration": calibration}


def cv_figures_from_runs(runs: list[Path], name: str, data_dir: Path, own_model: str) -> dict:
    """The ``cv`` figures section from ``rnatracker cv`` run directories on identical folds.

    Reads ``folds.tsv``, ``config.json`` and ``predictions/MODEL.tsv`` (out-of-fold) of each
    run, the labels from the model's training table in ``data_dir``, and computes per model
    the ROC AUC of the predicted positive fraction (the second compartment, ``nucleus``)
    and DeLong's paired test of ``own_model`` against every other model on those labels — one
    label per transcript, so the test's unit is the transcript (not the pooled
    transcript × fraction pairs of ``comparisons.tsv``).
    """
    import numpy as np
    import pandas as pd

    from rnatracker_cli.evaluation.compare import delong_test
    from rnatracker_cli.io.tables import strip_version
    from rnatracker_cli.metrics import roc_auc

    spec = MODELS[name]
    if len(spec["train_on"]) != 1 or len(spec["fractions"]) != 2:
        raise RNATrackerError(f"--cv-run: {name} is not a two-compartment model of one data set")
    positive = spec["fractions"][1]
    folds = None
    sha = None
    predictions: dict[str, pd.Series] = {}
    described = []
    for run in runs:
        try:
            config = json.loads((run / "config.json").read_text())
            run_folds = pd.read_csv(run / "folds.tsv", sep="\t", dtype={"id": str})
        except (FileNotFoundError, json.JSONDecodeError, pd.errors.ParserError) as exc:
            raise RNATrackerError(f"--cv-run {run}: not a cv run directory ({exc})") from None
        if sha is not None and config.get("data_sha256") != sha:
            raise RNATrackerError(f"--cv-run {run}: made from another cache than {runs[0]}")
        if folds is not None and not run_folds.equals(folds):
            raise RNATrackerError(f"--cv-run {run}: its folds differ from those of {runs[0]} (use one seed and fold count)")
        sha, folds = config.get("data_sha256"), run_folds
        if list(config.get("fractions", [])) != spec["fractions"]:
            raise RNATrackerError(f"--cv-run {run}: fractions {config.get('fractions')} are not {spec['fractions']}")
        for path in sorted((run / "predictions").glob("*.tsv")):
            table = pd.read_csv(path, sep="\t", dtype={"id": str})
            if path.stem in predictions:
                raise RNATrackerError(f"--cv-run: model {path.stem} is in more than one run")
            predictions[path.stem] = pd.Series(table[positive].to_numpy(dtype=float),
                                               index=[strip_version(i) for i in table["id"]])
        options = config.get("options", {})
        described.append(f"rnatracker cv run {run}: models {','.join(options.get('models', []))}, "
                         f"{options.get('folds', '?')} folds, seed {options.get('seed', '?')}")
    if own_model not in predictions:
        raise RNATrackerError(f"--cv-run: no out-of-fold predictions of {own_model!r} "
                              f"(found: {', '.join(sorted(predictions)) or 'none'}); choose it with --cv-model")
    _, table_path = data_paths(data_dir, spec["train_on"][0])
    labels_table = pd.read_csv(table_path, sep="\t")
    lookup = dict(zip((strip_version(str(i)) for i in labels_table["transcript_id"]), labels_table[positive]))
    ids = [strip_version(i) for i in folds["id"]]
    missing = [i for i in ids if i not in lookup]
    if missing:
        raise RNATrackerError(f"--cv-run: {len(missing)} transcript(s) of the run are not in {table_path} "
                              f"(e.g. {missing[0]}): another data set?")
    labels = np.array([lookup[i] for i in ids]) > 0.5
    scores = {m: p.reindex(ids).to_numpy() for m, p in predictions.items()}
    for m, v in scores.items():
        if np.isnan(v).any():
            raise RNATrackerError(f"--cv-run: predictions of {m} do not cover every transcript of the folds")
    order = [own_model] + sorted(m for m in scores if m != own_model)
    tests = []
    for other in order[1:]:
        t = delong_test(labels, scores[own_model], scores[other])
        tests.append({"against": other, "test": f"DeLong, paired, on the {len(ids)} transcripts' {positive} labels",
                      "difference": t["diff"], "p": t["p"] if np.isfinite(t["p"]) else None})
    return {"metric": f"{positive} ROC AUC", "folds": int(folds["fold"].max()), "model": own_model, "n": len(ids),
            "scores": {m: float(roc_auc(labels, scores[m])) for m in order}, "tests": tests,
            "command": "; ".join(described), "date": _dt.datetime.now(_dt.timezone.utc).date().isoformat()}


def _readable(path: Path) -> None:
    """Give a written file the mode ``open()`` would (0666 minus the umask): the atomic writer's
    temporary files are private (0600), but weights in a wheel must be readable by all users."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def load_figures(path: Path | None) -> dict:
    """Read and check ``--cv-figures`` (``{model name: {"cv": …, "transfer": …, "calibration": …,
    "notes": str}}``)."""
    if path is None:
        return {}
    try:
        figures = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RNATrackerError(f"{path} not found") from None
    except json.JSONDecodeError as exc:
        raise RNATrackerError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(figures, dict):
        raise RNATrackerError(f"{path}: expected an object keyed by model name")
    for name, sections in figures.items():
        if name not in MODELS:
            raise RNATrackerError(f"{path}: unknown model {name!r} (models: {', '.join(MODELS)})")
        if not isinstance(sections, dict):
            raise RNATrackerError(f"{path}: {name}: expected an object")
        for section, value in sections.items():
            if section == "notes":
                if not isinstance(value, str):
                    raise RNATrackerError(f"{path}: {name}.notes must be a string (Markdown)")
                continue
            if section not in _FIGURE_FIELDS:
                raise RNATrackerError(f"{path}: {name}: unknown section {section!r} "
                                      f"(expected {', '.join(_FIGURE_FIELDS)} or notes)")
            for key, kind in _FIGURE_FIELDS[section].items():
                if not isinstance(value.get(key), kind):
                    raise RNATrackerError(f"{path}: {name}.{section}.{key} missing or not a {kind.__name__}")
            scores = value.get("scores")
            if scores is not None:
                if value["model"] not in scores:
                    raise RNATrackerError(f"{path}: {name}.{section}.scores has no entry for model {value['model']!r}")
                if not all(isinstance(v, (int, float)) for v in scores.values()):
                    raise RNATrackerError(f"{path}: {name}.{section}.scores must map names to numbers")
    return figures


def read_index_json(out: Path) -> dict:
    """The raw index in ``out`` (validated through the package reader), or an empty one."""
    if not (out / INDEX_FILE).exists():
        return {"schema": INDEX_SCHEMA, "models": []}
    read_index(out)  # refuse to build on a damaged index
    return json.loads((out / INDEX_FILE).read_text())


def write_index(out: Path, index: dict, check: bool = True) -> None:
    """Write ``index.json`` atomically (models in :data:`MODELS` order, then any others), then
    (``check``) make sure that the package reader accepts it."""
    from rnatracker_cli.io.atomic import atomic_path

    order = {name: i for i, name in enumerate(MODELS)}
    index["models"].sort(key=lambda e: order.get(e["name"], len(order)))
    with atomic_path(out / INDEX_FILE, force=True) as tmp:
        tmp.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    _readable(out / INDEX_FILE)
    if check:
        read_index(out)


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "NA"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def _scores_table(figures: dict) -> list[str]:
    own = figures["model"]
    lines = [f"| model | {figures['metric']} |", "|---|---|"]
    for key, value in figures["scores"].items():
        label = f"**{key}** (this recipe)" if key == own else key
        lines.append(f"| {label} | {_fmt(value)} |")
    return lines


def _tests_table(tests: list) -> list[str]:
    if not tests:
        return []
    lines = ["", "| against | test | difference | p |", "|---|---|---|---|"]
    for t in tests:
        lines.append(f"| {t.get('against', '?')} | {t.get('test', '?')} | {_fmt(t.get('difference', 'NA'))} | "
                     f"{_fmt(t.get('p', 'NA'))} |")
    return lines


def _provenance(figures: dict) -> list[str]:
    lines = []
    if figures.get("command"):
        lines += ["", "Measured with:", "", "```", figures["command"], "```"]
    if figures.get("date"):
        lines += ["", f"Date: {figures['date']}."]
    if figures.get("notes"):
        lines += ["", figures["notes"]]
    return lines


def _not_measured(what: str) -> list[str]:
    return [f"Not measured for this build: {what}. Add the figures with "
            "`scripts/build_models.py … --figures-only --cv-figures FIGURES.json` (docs/models/README.md)."]


def render_card(entry: dict, notes: str = "") -> str:
    """The model card (Markdown) of one index entry; every figure comes from the entry."""
    name = entry["name"]
    spec = MODELS.get(name, {})
    datasets = [DATASETS[d] for d in spec.get("train_on", []) if d in DATASETS]
    transfer_ds = DATASETS.get(spec.get("transfer_to", ""), {})
    counts = entry.get("counts", {})
    out = [f"# Built-in model `{name}`", "", entry["description"] + ".", "",
           f"Compartments (output order): {', '.join(entry['compartments'])}. "
           f"{'The default model: used when `--model` is not given. ' if entry['default'] else ''}"
           f"Use it with `--model {name}`; `rnatracker models {name}` shows this entry of the index.", ""]

    out += ["## Files and provenance", "",
            "| file | bytes | sha256 |", "|---|---|---|"]
    out += [f"| `rnatracker_cli/pretrained/{f['path']}` | {f['bytes']} | `{f['sha256']}` |" for f in entry["files"]]
    out += ["", f"Built with rnatracker {entry.get('rnatracker_version', '?')} and torch "
            f"{entry.get('torch_version', '?')} on CPU, one thread ({entry.get('built', 'date not recorded')}) by:", "",
            "```", entry["command"], "```", "",
            "Training data files (paths relative to DATA_DIR):", "", "| file | sha256 |", "|---|---|"]
    out += [f"| `{d['path']}` | `{d['sha256']}` |" for d in entry.get("data_files", [])]
    out += ["", "Weights are serialised in memory and written as they are, so the same command on CPU "
            "with the same rnatracker and torch versions gives the same bytes (the sha256 above); see "
            "docs/models/README.md for what was checked.", ""]

    out += ["## Training data", ""]
    for ds in datasets:
        out += [f"**{ds['title']}.** {ds['source']}", "",
                f"- Assay: {ds['assay']}.", f"- Licence: {ds['licence']}.", f"- Labels: {ds['label']}"]
    if counts:
        per = ", ".join(f"{counts[f]} {f}" for f in entry["compartments"] if f in counts)
        out += [f"- Counts after `prepare`: {counts.get('transcripts', '?')} transcripts ({per} by the "
                f"predominant compartment); median length {counts.get('median_length', '?')} nt."]
    out += [""]

    out += ["## Recipe", "", "| setting | value |", "|---|---|"]
    out += [f"| {k} | `{json.dumps(v)}` |" for k, v in entry["recipe"].items()]
    n_members = len(entry["recipe"].get("seeds", [])) or 1
    built_from = entry.get("built_from") or {}
    if built_from.get("combine"):
        names = " and ".join(f"`{n}`" for n in built_from["combine"])
        out += ["", f"Not trained by itself: one ensemble of every member of {names} (their weights as "
                "shipped; the recipe above is theirs). It predicts the mean of its members' predictions; "
                "their standard deviation is the spread.", ""]
    elif built_from.get("init"):
        out += ["", f"The networks of `{built_from['init']}` (its {n_members} members, trained with the recipe "
                "above), each with its output head (length prior + dense layer) refitted on this model's "
                "training data (`train --init " + built_from["init"] + " --fine-tune head`: a softmax "
                "regression on the frozen networks' pooled features, no epochs). The ensemble predicts the "
                "mean of its members' predictions; their standard deviation is the spread.", ""]
    else:
        out += ["", f"An ensemble of {n_members} member(s), one per seed (different initialisation and "
                "validation split); each member keeps the weights of its epoch with the lowest validation loss. "
                "The ensemble predicts the mean of its members' predictions; their standard deviation is the "
                "spread. Transfer and calibration below are of that mean.", ""]

    cv = entry.get("cv")
    out += ["## Cross-validation against baselines", ""]
    if cv:
        out += [f"{cv['folds']}-fold cross-validation on the training data (identical folds for every model, "
                "whole genes per fold), out-of-fold predictions:", ""]
        out += _scores_table(cv) + _tests_table(cv.get("tests", [])) + _provenance(cv)
    else:
        out += _not_measured("10-fold CV against `length`, `kmer-gbm` and `kmer-dnn` with a paired test")
    out += [""]

    transfer = entry.get("transfer")
    out += ["## Transfer to another assay", ""]
    if transfer_ds:
        trained_on = " + ".join(ds["title"] for ds in datasets) or "its training data"
        out += [f"Trained on {trained_on}, tested on **{transfer_ds['title']}**: "
                f"{transfer_ds['assay']}; {transfer_ds['source']} The ensemble's mean prediction of the "
                "weights as shipped, compared with transcript length alone.", ""]
    if transfer:
        n = f" ({transfer['n']} transcripts)" if "n" in transfer else ""
        out += [f"Test data: {transfer['data']}{n}.", ""] + _scores_table(transfer)
        out += _tests_table(transfer.get("tests", [])) + _provenance(transfer)
    else:
        out += _not_measured("transfer from the training data to the other assay")
    out += [""]

    calibration = entry.get("calibration")
    out += ["## Calibration", ""]
    if calibration:
        out += [f"Reliability of the predicted nuclear fraction on {calibration['data']}: transcripts binned by "
                "prediction; observed share of nuclear labels per bin.", ""]
        bins = calibration.get("bins", [])
        if bins:
            out += ["| mean predicted | observed | transcripts |", "|---|---|---|"]
            out += [f"| {_fmt(b.get('predicted', 'NA'))} | {_fmt(b.get('observed', 'NA'))} | {b.get('n', '?')} |"
                    for b in bins]
        summary = [f"{label} {_fmt(calibration[k])}" for k, label in (("ece", "ECE"), ("brier", "Brier score"))
                   if k in calibration]
        if summary:
            out += ["", "Summary: " + ", ".join(summary) + " (ECE: expected calibration error)."]
        out += _provenance(calibration)
    else:
        out += _not_measured("reliability of the predicted nuclear fraction")
    out += [""]

    if notes:
        out += ["## Notes", "", notes, ""]

    out += ["## Intended use and limits", "",
            f"- Ranks human {entry.get('molecule', 'mRNA')}s by how nuclear or cytoplasmic they are at steady "
            "state, from sequence alone; "
            "use it to prioritise transcripts and candidate zipcodes (`scan-zipcodes`) for experiments.",
            "- Two compartments only (nucleus, cytosol): it says nothing about ER, mitochondria, neurites or "
            "other sub-cytoplasmic locations.",
            "- Trained on labels from ENCODE cell lines (lncATLAS): localization is cell-type and "
            "condition dependent; transfer to another assay is reported above and is the better guide to "
            "what to expect on new data.",
            "- Human transcripts; other species are untested.",
            "- Binary training labels: the predicted fractions rank transcripts and are calibrated only as far "
            "as the Calibration section shows; they are not measured concentrations.",
            f"- Transcript length alone explains part of this label (nuclear {entry.get('molecule', 'mRNA')}s are "
            "longer); compare "
            "with the `length` row above to see what the sequence adds. A zipcode found by masking is a "
            "region the model relies on, not proof of a localization element.",
            "- Not for clinical use.", ""]

    out += ["## Citation", "", "If you use this model, cite the data:", ""]
    cited: list[str] = []
    for ds in [*datasets, transfer_ds]:
        for c in ds.get("citation", []):
            if c not in cited:
                cited.append(c)
    out += [f"- {c}" for c in cited]
    out += ["", "and the method: Yan Z, Lécuyer E, Blanchette M. Prediction of mRNA subcellular localization "
            "using deep recurrent neural networks. Bioinformatics 35(14):i333-i342 (2019).", ""]
    return "\n".join(out)


def write_card(docs: Path, entry: dict, notes: str = "") -> Path:
    from rnatracker_cli.io.atomic import atomic_path

    docs.mkdir(parents=True, exist_ok=True)
    path = docs / f"{entry['name']}.md"
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(render_card(entry, notes))
    _readable(path)
    return path


# -- one model ------------------------------------------------------------------------------

def member_file(name: str, seed: int, n_members: int) -> str:
    """File name of a member's weights in the package folder."""
    return f"{name}.pt" if n_members == 1 else f"{name}.seed{seed}.pt"


def build_model(name: str, data_dir: Path, out: Path, work: Path, recipe: dict, command: str,
                log=print) -> dict:
    """Prepare, train every member, pack the weights into ``out``; returns the new index entry
    (without figures)."""
    import torch

    from rnatracker_cli.dataset import prepare_dataset

    spec = MODELS[name]
    check_recipe(recipe)
    fractions = list(spec["fractions"])
    data_files = []
    for ds in spec["train_on"]:
        for p in data_paths(data_dir, ds):
            data_files.append({"path": p.relative_to(data_dir).as_posix(), "sha256": file_sha256(p)})
    fasta, table = combined_inputs(data_dir, spec["train_on"], fractions, work)
    cache = work / f"{name}.h5"
    summary = prepare_dataset(cache, table, fasta=fasta, fractions=fractions, normalized=True, force=True)
    log(f"{name}: prepared {summary.written} transcripts from {', '.join(spec['train_on'])}")
    seeds = list(recipe["seeds"])
    files = []
    if spec.get("combine"):
        trained = [stack_builtins(spec["combine"], out, work / f"{name}-ensemble.pt")]
    elif spec.get("init"):
        trained = [fine_tune_head(cache, out / f"{spec['init']}.pt", recipe, work / name, log)]
    else:
        trained = train_members(cache, recipe, work, name, log)
    for member, (seed, path) in enumerate(zip(seeds, trained)):
        dst = out / member_file(name, seed, len(trained))
        pack_checkpoint(path, dst, name, member, seeds, cache.name)
        files.append({"path": dst.name, "sha256": file_sha256(dst), "bytes": dst.stat().st_size})
    titles = " + ".join(DATASETS[d]["title"] for d in spec["train_on"])
    return {
        "name": name,
        "description": spec["description"],
        "default": bool(spec.get("default", False)),
        "compartments": fractions,
        "species": spec["species"],
        "molecule": spec["molecule"],
        "training_data": f"{titles}, {summary.written} transcripts",
        "files": files,
        "data_files": data_files,
        "counts": label_counts(cache),
        "recipe": recipe,
        "command": command,
        "rnatracker_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "built": _dt.datetime.now(_dt.timezone.utc).date().isoformat(),
        "cv": None, "transfer": None, "calibration": None,
        "card": f"docs/models/{name}.md",
        **({"built_from": {k: spec[k] for k in ("init", "combine") if spec.get(k)}}
           if spec.get("init") or spec.get("combine") else {}),
    }


def model_recipe(name: str, recipe: dict, override: dict) -> dict:
    """The recipe that builds ``name``: ``recipe`` (RECIPE with ``--recipe`` applied), then the
    model's own ``recipe`` keys in :data:`MODELS`, then ``override`` (``--recipe``) again, so
    that a quick check given on the command line wins over everything."""
    return {**recipe, **MODELS[name].get("recipe", {}), **override}


def _remove_stale(out: Path, old: dict | None, new: dict) -> None:
    """Delete weights files of the previous build of this model that the new one does not use."""
    if not old:
        return
    keep = {f["path"] for f in new["files"]}
    for f in old.get("files", []):
        p = out / f["path"]
        if f["path"] not in keep and p.is_file() and p.parent == out:
            p.unlink()


# -- command line ---------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, nargs="?", default=None,
                        help="folder with the data sets (e.g. ../shared/data); not needed with --figures-only")
    parser.add_argument("--out", type=Path, default=REPO / "rnatracker_cli" / "pretrained",
                        help="package folder for the weights and index.json (default: this checkout's)")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "models",
                        help="folder for the model cards (default: this checkout's docs/models)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"build only this model (repeatable); models: {', '.join(MODELS)}")
    parser.add_argument("--cv-figures", type=Path, metavar="JSON",
                        help="measured figures per model (schema in docs/models/README.md)")
    parser.add_argument("--figures-only", action="store_true",
                        help="do not train: update the figures and cards of models already in the index")
    parser.add_argument("--recipe", metavar="JSON", default=None,
                        help="JSON object of recipe keys overriding RECIPE (recorded in the index), "
                             "e.g. '{\"epochs\": 2, \"seeds\": [0]}' for a quick check")
    parser.add_argument("--cv-run", type=Path, action="append", metavar="DIR",
                        help="`rnatracker cv` run directory (repeatable; identical folds) whose out-of-fold "
                             "predictions give the CV figures (needs DATA_DIR for the labels)")
    parser.add_argument("--cv-model", default=None, metavar="NAME",
                        help="the model of the --cv-run predictions that is this recipe (default: the recipe's arch)")
    parser.add_argument("--no-evaluate", action="store_true",
                        help="do not measure transfer and calibration of the built weights on the "
                             "model's other-assay data set (measured by default when DATA_DIR holds it)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the caches and run directories here (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = shlex.join(["python", "scripts/build_models.py", *argv])
    try:
        names = args.only or list(MODELS)
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            raise RNATrackerError(f"unknown model(s) {', '.join(unknown)} (models: {', '.join(MODELS)})")
        if not args.out.is_dir():
            raise RNATrackerError(f"--out {args.out} is not a folder")
        recipe, override = dict(RECIPE), {}
        if args.recipe:
            try:
                override = json.loads(args.recipe)
            except json.JSONDecodeError as exc:
                raise RNATrackerError(f"--recipe is not JSON: {exc.msg}") from None
            if not isinstance(override, dict):
                raise RNATrackerError("--recipe must be a JSON object")
            recipe.update(override)
        check_recipe(recipe)
        figures = load_figures(args.cv_figures)
        index = read_index_json(args.out)
        entries = {e["name"]: e for e in index["models"]}
        log = lambda m: print(m, file=sys.stderr)  # noqa: E731
        data_dir = args.data_dir
        if data_dir is not None and not data_dir.is_dir():
            raise RNATrackerError(f"DATA_DIR {data_dir} is not a folder")
        if args.figures_only:
            missing = [n for n in names if n not in entries]
            if missing:
                raise RNATrackerError(f"--figures-only: {', '.join(missing)} not in {args.out / INDEX_FILE}; build first")
        else:
            if data_dir is None:
                raise RNATrackerError("give DATA_DIR, the folder with the data sets (or --figures-only)")
            with tempfile.TemporaryDirectory(prefix="rnatracker-build-") as tmp:
                work = Path(tmp) if args.work is None else args.work
                work.mkdir(parents=True, exist_ok=True)
                for name in names:
                    new = build_model(name, data_dir, args.out, work, model_recipe(name, recipe, override),
                                      command, log=log)
                    old = entries.get(name)
                    for section in ("cv", "transfer", "calibration"):  # figures describe the recipe
                        new[section] = (old or {}).get(section)
                    _remove_stale(args.out, old, new)
                    entries[name] = new
                    # at once, so that the index matches the weights even if a later model fails
                    # (checked once the default model is in it: a fresh build lists it last)
                    index["models"] = list(entries.values())
                    write_index(args.out, index, check=any(e.get("default") for e in index["models"]))
        if data_dir is not None and not args.no_evaluate:
            for name in names:  # transfer and calibration of the weights as shipped
                entry = entries[name]
                entry.update(evaluate_transfer(name, [args.out / f["path"] for f in entry["files"]], data_dir,
                                               entry["compartments"], command=command, log=log))
        if args.cv_run:
            if data_dir is None:
                raise RNATrackerError("--cv-run needs DATA_DIR (the labels)")
            if len(names) != 1:
                raise RNATrackerError("--cv-run: say which model it measured with --only NAME")
            entries[names[0]]["cv"] = cv_figures_from_runs(args.cv_run, names[0], data_dir,
                                                           args.cv_model or recipe["arch"])
        for name in names:  # measured figures given explicitly take precedence
            entry = entries[name]
            for section in ("cv", "transfer", "calibration"):
                if section in figures.get(name, {}):
                    entry[section] = figures[name][section]
            if "notes" in figures.get(name, {}):
                entry["notes"] = figures[name]["notes"]
        index["models"] = list(entries.values())
        complete = any(e.get("default") for e in index["models"])
        write_index(args.out, index, check=complete)
        if not complete:
            default = next(n for n, spec in MODELS.items() if spec.get("default"))
            print(f"note: {args.out / INDEX_FILE} has no default model yet: build {default} too before "
                  "installing this folder", file=sys.stderr)
        for name in names:
            card = write_card(args.docs, entries[name], entries[name].get("notes", ""))
            print(f"{name}: {', '.join(f['path'] for f in entries[name]['files'])} → {args.out}; card {card}",
                  file=sys.stderr)
    except RNATrackerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
