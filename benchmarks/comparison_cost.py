"""Time the paired tests `cv` writes to comparisons.tsv (per-fraction DeLong, transcript-level
bootstrap of the micro/macro ROC AUC and of Pearson r) on random data of a given size.

    python benchmarks/comparison_cost.py [--transcripts 10000] [--fractions 4] [--models 5] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rnatracker_cli.evaluation.report import comparison_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transcripts", type=int, default=10_000)
    parser.add_argument("--fractions", type=int, default=4)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    shape = (args.transcripts, args.fractions)
    targets = rng.dirichlet(np.ones(args.fractions), size=args.transcripts)
    predictions = {f"m{i}": rng.dirichlet(np.ones(shape[1]), size=shape[0]) for i in range(args.models)}
    started = time.perf_counter()
    rows = comparison_rows(targets, predictions, [f"f{i}" for i in range(args.fractions)],
                           n_boot=args.bootstrap, seed=args.seed)
    print(f"{len(rows)} comparison rows ({args.models} models, {args.transcripts:,} transcripts × "
          f"{args.fractions} fractions, {args.bootstrap} resamples) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
