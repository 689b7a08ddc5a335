"""Ensemble size in CV: the out-of-fold predictions of the first k members of a `cv --replicates K` run.

`rnatracker cv … --replicates K` saves every network part as a K-member ensemble
(``parts/MODEL/foldF.pt``, members trained with seeds ``S, S+1e6, …``, member 0 being exactly
the part a run without --replicates trains). This script predicts each part's test fold with
its first k members (the mean of their predicted distributions, as `predict` does) for every
k of ``--sizes``, so the gain of 2, 3, … K members over one is measured on the same folds and
the same networks without training anything:

    python benchmarks/ensemble_size.py CACHE.h5 RUN_DIR --out DIR [--model rnatracker] [--sizes 1,2,3,5]

It writes ``DIR/folds.tsv`` (the run's) and ``DIR/predictions/kN.tsv`` (``id fold fraction…``,
the layout of a cv run's predictions), prints the nuclear-style metrics of every size and the
paired tests of the largest size against k = 1, and so ``compare_cv_runs.py CACHE DIR:k1
DIR:k5 RUN_DIR:length`` compares them with any other model of the run. Only folds whose part
is finished are used (a run of `cv --fold F` jobs can be read while it goes on); the folds
used are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.evaluation import report
from rnatracker_cli.evaluation.folds import read_folds
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.model.ensemble import Ensemble
from rnatracker_cli.training.data import load_training_set


def member_subset_predictions(cache_path: Path, run_dir: Path, model: str, sizes: list[int]
                              ) -> tuple[list[int], np.ndarray, dict[int, np.ndarray]]:
    """``(folds_used, index, {k: probs})``: the cache rows of the finished folds (cache order
    within each fold, folds ascending) and, per size k, float64 (len(index), F) predictions of
    the first k members of each fold's part."""
    fold_of = read_folds(run_dir / "folds.tsv")
    parts = run_dir / "parts" / model
    with Cache(cache_path) as cache:
        ids = list(cache.ids)
        folds = np.array([fold_of[i] for i in ids])
        done = sorted(int(p.stem[4:]) for p in parts.glob("fold*.tsv"))
        if not done:
            raise SystemExit(f"error: {parts} holds no finished part")
        index, out = [], {k: [] for k in sizes}
        data = {}
        for f in done:
            loaded = load_model(parts / f"fold{f}.pt")
            members = list(loaded.model.members) if isinstance(loaded.model, Ensemble) else [loaded.model]
            if max(sizes) > len(members):
                raise SystemExit(f"error: fold {f} of {model} has {len(members)} members, fewer than {max(sizes)}")
            encoding = loaded.config["encoding"]
            if encoding not in data:
                data[encoding] = load_training_set(cache, get_encoding(encoding))
            rows = np.flatnonzero(folds == f)
            test = data[encoding].subset(rows)
            member_probs = [Predictor(m, loaded.config, torch.device("cpu")).predict(
                test.sequences, test.structures, nt_lengths=test.nt_lengths).astype(np.float64) for m in members]
            index.extend(rows.tolist())
            for k in sizes:
                out[k].append(np.mean(member_probs[:k], axis=0))
    return done, np.asarray(index), {k: np.concatenate(v) for k, v in out.items()}


def _write_predictions(path: Path, ids: list[str], folds: list[int], probs: np.ndarray, fractions: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(["id", "fold", *fractions])]
    lines += [f"{i}\t{f}\t" + "\t".join(f"{v:.6f}" for v in p) for i, f, p in zip(ids, folds, probs)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("run", type=Path, help="a `cv --replicates K` run directory")
    parser.add_argument("--out", type=Path, required=True, help="directory for folds.tsv and predictions/kN.tsv")
    parser.add_argument("--model", default="rnatracker")
    parser.add_argument("--sizes", default="1,2,3,4,5", help="ensemble sizes (comma-separated)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    try:
        sizes = sorted({int(k) for k in args.sizes.split(",")})
    except ValueError:
        sys.exit(f"error: --sizes {args.sizes!r}: expected comma-separated integers")
    if not sizes or sizes[0] < 1:
        sys.exit("error: --sizes must be positive integers")
    done, index, probs = member_subset_predictions(args.cache, args.run, args.model, sizes)
    with Cache(args.cache) as cache:
        ids, fractions = list(cache.ids), list(cache.fractions)
        targets = np.asarray(cache.targets, dtype=np.float64)[index]
    fold_of = read_folds(args.run / "folds.tsv")
    sub_ids = [ids[i] for i in index]
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "folds.tsv").write_text((args.run / "folds.tsv").read_text())
    for k, p in probs.items():
        _write_predictions(args.out / "predictions" / f"k{k}.tsv", sub_ids, [fold_of[i] for i in sub_ids], p, fractions)
    print(f"{args.model}, folds {','.join(map(str, done))}: {len(index)} transcripts")
    named = {f"k{k}": p for k, p in probs.items()}
    value = {(m, f, name): v for m, f, name, v in report.metric_rows(targets, named, fractions)}
    print("size " + " ".join(f"{'AUROC ' + f:>16s}" for f in fractions) + f" {'Pearson mean':>13s} {'KL':>7s}")
    for name in named:
        r = np.mean([value[(name, f, 'pearson')] for f in fractions])
        print(f"{name:4s} " + " ".join(f"{value[(name, f, 'roc_auc')]:16.4f}" for f in fractions)
              + f" {r:13.4f} {value[(name, 'all', 'kl_mean')]:7.4f}")
    if len(sizes) > 1:
        largest, one = f"k{sizes[-1]}", f"k{sizes[0]}"
        pair = {largest: named[largest], one: named[one]}
        print(f"\npaired tests {largest} − {one}:")
        for a, b, test, f, diff, low, high, _z, p in report.comparison_rows(targets, pair, fractions,
                                                                           n_boot=args.bootstrap, seed=0):
            print(f"  {test:17s} {f:10s} diff {diff:+.4f}  [{low:+.4f}, {high:+.4f}]  p {p:.3g}")


if __name__ == "__main__":
    main()
