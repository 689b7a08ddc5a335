"""Does default training learn every time? Default `train` on simulated sets and on lncATLAS mRNAs.

    python benchmarks/training_robustness.py --workdir DIR [--sim-seeds 0,1,2,3,4] [--n 2000]
        [--lnc-seeds 0,1,2,3,4] [--data DATA_DIR] [--train-args "…"] [--threads 1]

Every step is the real command (``python -m rnatracker_cli …``), as a user runs it:

* simulated: ``simulate --n N --seed S`` → ``prepare`` → ``train`` (defaults) and
  ``train --arch length`` with the same seed (hence the same validation split);
* lncATLAS (``DATA/lncatlas_mrna``): ``prepare --normalized`` → ``train --seed S`` (defaults)
  and ``train --arch length --seed S``; the model then predicts ``DATA/halo_mrna_dev``
  (another assay) and its nuclear ROC AUC there is printed next to log length's.

Per run it prints the best epoch, the validation loss and its ratio to the constant predictor's
(the training split's mean distribution) and to the ``length`` model's, and the targets:
validation loss ≥ 10 % below the constant predictor's (every run), below the length model's
(lncATLAS runs), nuclear AUROC on Halo-seq above log length alone's (lncATLAS runs).
Existing outputs in ``--workdir`` are reused, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.metrics import kl_divergence, roc_auc
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.training.data import load_training_set, split_validation


def _run(args: list[str], threads: int, skip_if: Path | None = None) -> None:
    if skip_if is not None and skip_if.exists():
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    print("$ rnatracker " + " ".join(shlex.quote(a) for a in args), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnatracker_cli", *args, "--threads", str(threads)] if args[0] in ("train",)
                   else [sys.executable, "-m", "rnatracker_cli", *args], check=True, env=env)
    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def _constant_val_loss(cache_path: Path, run: Path) -> float:
    config = json.loads((run / "config.json").read_text())["training"]
    with Cache(cache_path) as cache:
        train_idx, val_idx = split_validation(len(cache), config["val_fraction"], config["seed"], cache.genes)
        targets = np.asarray(cache.targets, dtype=np.float64)
    const = np.tile(targets[train_idx].mean(0), (len(val_idx), 1))
    return float(kl_divergence(targets[val_idx], const).mean())


def _val_loss(run: Path) -> tuple[float, int, int]:
    t = torch.load(run / "model.pt", weights_only=True)["training"]
    return float(t["metrics"]["val_loss"]), int(t["best_epoch"]), int(t["epochs"])


def _halo_auc(run: Path, halo: Path) -> tuple[float, float]:
    loaded = load_model(run)
    with Cache(halo) as cache:
        data = load_training_set(cache, get_encoding(loaded.config["encoding"]))
        pos = list(cache.fractions).index("nucleus")
    probs = Predictor(loaded.model, loaded.config).predict(data.sequences, nt_lengths=data.nt_lengths)
    labels = data.targets[:, pos] > 0.5
    return roc_auc(labels, probs[:, pos]), roc_auc(labels, np.log(data.nt_lengths))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--sim-seeds", default="0,1,2,3,4")
    ap.add_argument("--lnc-seeds", default="0,1,2,3,4")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--data", type=Path, required=True,
                    help="folder with lncatlas_mrna/ and halo_mrna_dev/ (FASTA + TSV each)")
    ap.add_argument("--train-args", default="")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    w = a.workdir
    w.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(a.train_args)
    rows = []
    for s in [int(x) for x in a.sim_seeds.split(",") if x]:
        sim = w / f"sim{s}"
        _run(["simulate", "--out", str(sim), "--n", str(a.n), "--seed", str(s), "-q"], a.threads, sim / "localization.tsv")
        cache = w / f"sim{s}.h5"
        _run(["prepare", "--fasta", str(sim / "transcripts.fa"), "-l", str(sim / "localization.tsv"), "-o", str(cache), "-q"],
             a.threads, cache)
        run, length = w / f"sim{s}_run", w / f"sim{s}_length"
        _run(["train", str(cache), "-o", str(run), "-q", *extra], a.threads, run / "model.pt")
        _run(["train", str(cache), "-o", str(length), "--arch", "length", "-q"], a.threads, length / "model.pt")
        rows.append((f"sim seed {s}", cache, run, length, None))
    if a.lnc_seeds:
        lnc = a.data / "lncatlas_mrna"
        cache = w / "lnc.h5"
        _run(["prepare", "--fasta", str(lnc / "lncatlas_mrna.fa"), "-l", str(lnc / "lncatlas_mrna.tsv"), "--normalized",
              "-o", str(cache), "-q"], a.threads, cache)
        halo_tsv, halo = w / "halo4.tsv", w / "halo.h5"
        if not halo_tsv.exists():
            lines = (a.data / "halo_mrna_dev" / "halo_mrna_dev.tsv").read_text().splitlines()
            halo_tsv.write_text("".join("\t".join(line.split("\t")[:4]) + "\n" for line in lines))
        _run(["prepare", "--fasta", str(a.data / "halo_mrna_dev" / "halo_mrna_dev.fa"), "-l", str(halo_tsv), "--normalized",
              "-o", str(halo), "-q"], a.threads, halo)
        for s in [int(x) for x in a.lnc_seeds.split(",") if x]:
            run, length = w / f"lnc_s{s}_run", w / f"lnc_s{s}_length"
            _run(["train", str(cache), "-o", str(run), "--seed", str(s), "-q", *extra], a.threads, run / "model.pt")
            _run(["train", str(cache), "-o", str(length), "--arch", "length", "--seed", str(s), "-q"], a.threads, length / "model.pt")
            rows.append((f"lncATLAS seed {s}", cache, run, length, halo))
    print()
    print(f"{'run':<18}{'best/ran':>10}{'val loss':>10}{'/const':>8}{'/length':>9}{'halo AUROC':>12}{'len AUROC':>11}  targets")
    met_all = True
    for name, cache, run, length, halo in rows:
        val, best, ran = _val_loss(run)
        const, len_val = _constant_val_loss(cache, run), _val_loss(length)[0]
        ok = val <= 0.9 * const
        cells = f"{name:<18}{best:>5}/{ran:<4}{val:>10.4f}{val / const:>8.3f}{val / len_val:>9.3f}"
        if halo is not None:
            auc, len_auc = _halo_auc(run, halo)
            ok = ok and val < len_val and auc > len_auc
            cells += f"{auc:>12.3f}{len_auc:>11.3f}"
        else:
            cells += f"{'':>12}{'':>11}"
        met_all &= ok
        print(cells + ("  met" if ok else "  MISSED"))
    print(f"\nall targets met: {met_all}")


if __name__ == "__main__":
    main()
