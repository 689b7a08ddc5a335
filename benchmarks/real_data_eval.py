"""Validation-split accuracy of trained runs on a real two-compartment data set.

    python benchmarks/real_data_eval.py CACHE.h5 RUN_DIR [RUN_DIR …] [--positive nucleus]

For each run directory written by `rnatracker train` on CACHE.h5, the validation split is
rebuilt from the run's seed and --val-fraction (the same seeded, gene-grouped split the
training used), the model predicts it, and the script prints:

* Pearson r per fraction between predicted and target values;
* AUROC of the predicted ``--positive`` fraction against the label "target > 0.5"
  (Mann–Whitney U via scipy's rankdata; no scikit-learn needed);
* the AUROC of transcript length alone (longer = more ``--positive``) on the same split,
  so that what the model adds beyond length is visible.

Intended for a two-compartment indicator table such as the lncATLAS mRNA labels of the RNAlight
study (1/0 indicators, fractions cytosol / nucleus), whose paths are given as arguments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.training.data import load_training_set, split_validation
from rnatracker_cli.metrics import pearson, roc_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--positive", default="nucleus", help="fraction scored by AUROC")
    args = parser.parse_args()
    with Cache(args.cache) as cache:
        pos = cache.fractions.index(args.positive)
        print(f"{'run':<14}{'arch':<12}{'len.feat':>9}{'lr':>8}{'best/ran':>10}{'n_val':>7}"
              + "".join(f"{'r_' + f:>11}" for f in cache.fractions) + f"{'AUROC':>8}{'len-only':>10}")
        for run in args.runs:
            config = json.loads((Path(run) / "config.json").read_text())
            training = config["training"]
            if training.get("data_sha256") != cache.content_sha256:
                raise SystemExit(f"{run} was trained on another cache")
            _, val = split_validation(len(cache), training["val_fraction"], training["seed"], cache.genes)
            loaded = load_model(run)
            data = load_training_set(cache, get_encoding(loaded.config["encoding"]), val)
            probs = Predictor(loaded.model, loaded.config).predict(data.sequences, nt_lengths=data.nt_lengths)
            r = pearson(probs, data.targets, axis=0)
            labels = data.targets[:, pos] > 0.5
            model_auc = roc_auc(labels, probs[:, pos])
            length_auc = roc_auc(labels, np.log(data.nt_lengths))
            ckpt = loaded.training
            print(f"{Path(run).name:<14}{loaded.config['arch']:<12}{str(loaded.config.get('length_feature')):>9}"
                  f"{ckpt['lr']:>8g}{ckpt['best_epoch']:>5}/{ckpt['epochs']:<4}{len(val):>7}"
                  + "".join(f"{v:>11.3f}" for v in r) + f"{model_auc:>8.3f}{length_auc:>10.3f}")


if __name__ == "__main__":
    main()
