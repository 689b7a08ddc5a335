"""Which output head for which assay? Per-assay heads on shared networks, judged on both assays.

    python benchmarks/cross_assay_heads.py --lnc LNC.h5 --halo HALO.h5 --lnc-cv CV_DIR
        [--model human-mrna] [--halo-folds 5] [--seed 0]

Two assays measure mRNA nuclear vs cytoplasmic localization and disagree on what sequence
predicts it: lncATLAS (``LNC.h5``, fractionation) and Halo-seq (``HALO.h5``, proximity
labelling), both caches from ``prepare --normalized``. Three designs share the networks
(convolutions, BiLSTM, attention) and differ in the output head (length prior + dense layer):

* ``fractionation head``: the head trained with the network on lncATLAS;
* ``Halo-seq head``: the head refitted on Halo-seq (``train --init … --fine-tune head``);
* ``two-assay mean``: the mean of the two heads' predicted fractions (an ensemble of both).

Every figure is out of sample for the head *and* for the network:

* on lncATLAS, the networks are the fold models of a 10-fold ``rnatracker cv`` of the
  default recipe on ``LNC.h5`` (``--lnc-cv``, folder with ``parts/rnatracker/foldK.pt``):
  each predicts its own test fold with its own head, and with a head refitted on all of
  Halo-seq (which holds no lncATLAS gene);
* on Halo-seq, the networks are the members of ``--model`` (trained on all of lncATLAS, never
  on Halo-seq): the fractionation head as is, the Halo-seq head refitted on the training
  folds of a ``--halo-folds``-fold split (each member with its own validation split, as
  ``train --init --replicates K`` does) and tested on the held-out fold.

Per assay it prints the nuclear ROC AUC of each design and of log length alone, and DeLong's
paired test (one label per transcript) of each design against length. The design to prefer
for an assay nobody measured is the one whose worst difference from length over the two
assays is largest (printed last).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.evaluation.compare import delong_test
from rnatracker_cli.evaluation.folds import read_folds
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.metrics import roc_auc
from rnatracker_cli.model import build_model
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.training.data import TrainingSet, load_training_set, split_validation
from rnatracker_cli.training.loop import FitOptions, fit
from rnatracker_cli.training.warmstart import InitWeights, load_init

DESIGNS = ("fractionation head", "Halo-seq head", "two-assay mean")


def _load(path: Path) -> tuple[TrainingSet, list[str], list[str], list[str] | None]:
    with Cache(path) as cache:
        data = load_training_set(cache, get_encoding("seq"))
        return data, list(cache.ids), list(cache.fractions), (None if cache.genes is None else list(cache.genes))


def _predict(model, config: dict, data: TrainingSet) -> np.ndarray:
    return Predictor(model, config, "cpu").predict(data.sequences, nt_lengths=data.nt_lengths)


def _refit_head(weights: InitWeights, member: int, data: TrainingSet, genes, seed: int):
    """``train --init --fine-tune head`` of one member on ``data`` (its own validation split)."""
    model = build_model(weights.config)
    weights.apply(model, member)
    tr, va = split_validation(len(data), 0.1, seed, genes)
    fit(model, weights.config, data.subset(tr), data.subset(va), FitOptions(seed=seed, head_only=True), "cpu")
    return model


def _report(title: str, labels: np.ndarray, nt_lengths: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, float]:
    length = np.log(nt_lengths.astype(np.float64))
    base = roc_auc(labels, length)
    print(f"\n{title}: {len(labels)} transcripts, {int(labels.sum())} nuclear; log length alone {base:.3f}")
    gains = {}
    for name, s in scores.items():
        t = delong_test(labels, s, length)
        gains[name] = t["diff"]
        print(f"  {name:<20} {roc_auc(labels, s):.3f}   vs length {t['diff']:+.3f} (DeLong p {t['p']:.2g})")
    return gains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lnc", type=Path, required=True, help="lncATLAS mRNA cache (prepare --normalized)")
    ap.add_argument("--halo", type=Path, required=True, help="Halo-seq mRNA cache, same fractions")
    ap.add_argument("--lnc-cv", type=Path, required=True, help="rnatracker cv run on --lnc (default recipe)")
    ap.add_argument("--model", default="human-mrna", help="network(s) trained on all of --lnc")
    ap.add_argument("--halo-folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    lnc, lnc_ids, fractions, _ = _load(a.lnc)
    halo, _, halo_fractions, halo_genes = _load(a.halo)
    if fractions != halo_fractions or "nucleus" not in fractions:
        sys.exit("error: both caches need the same fractions, with 'nucleus'")
    nuc = fractions.index("nucleus")

    # lncATLAS: the CV's fold networks, each with its own head and a head refitted on Halo-seq.
    folds = read_folds(a.lnc_cv / "folds.tsv")
    fold_of = np.array([folds[t] for t in lnc_ids])
    own, other = np.zeros(len(lnc)), np.zeros(len(lnc))
    for k in sorted(set(fold_of)):
        test = np.flatnonzero(fold_of == k)
        ckpt = a.lnc_cv / "parts" / "rnatracker" / f"fold{k}.pt"
        loaded = load_model(ckpt)
        own[test] = _predict(loaded.model, loaded.config, lnc.subset(test))[:, nuc]
        weights = load_init(ckpt)
        refit = _refit_head(weights, 0, halo, halo_genes, a.seed)
        other[test] = _predict(refit, weights.config, lnc.subset(test))[:, nuc]
    lnc_labels = lnc.targets[:, nuc] > 0.5
    gains = {"lncATLAS": _report(f"lncATLAS ({len(set(fold_of))}-fold CV networks)", lnc_labels, lnc.nt_lengths,
                                 {DESIGNS[0]: own, DESIGNS[1]: other, DESIGNS[2]: (own + other) / 2})}

    # Halo-seq: the built-in networks (never trained on Halo-seq).
    loaded = load_model(a.model)
    as_is = _predict(loaded.model, loaded.config, halo)[:, nuc]
    weights = load_init(a.model)
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(halo))
    refit = np.zeros(len(halo))
    for k in range(a.halo_folds):
        test = np.sort(order[k :: a.halo_folds])
        train = np.setdiff1d(np.arange(len(halo)), test)
        genes = None if halo_genes is None else [halo_genes[i] for i in train]
        members = [_refit_head(weights, r, halo.subset(train), genes, a.seed + r) for r in range(len(weights.states))]
        refit[test] = np.mean([_predict(m, weights.config, halo.subset(test))[:, nuc] for m in members], axis=0)
    halo_labels = halo.targets[:, nuc] > 0.5
    gains["Halo-seq"] = _report(f"Halo-seq ({a.halo_folds}-fold CV of the Halo-seq head; networks from {a.model})",
                                halo_labels, halo.nt_lengths,
                                {DESIGNS[0]: as_is, DESIGNS[1]: refit, DESIGNS[2]: (as_is + refit) / 2})
    print("\nworst difference from length over the two assays:")
    for d in DESIGNS:
        print(f"  {d:<20} {min(g[d] for g in gains.values()):+.3f}")
    print(f"preferred for an unmeasured assay: {max(DESIGNS, key=lambda d: min(g[d] for g in gains.values()))}")


if __name__ == "__main__":
    main()
