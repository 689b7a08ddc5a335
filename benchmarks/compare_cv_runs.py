"""Compare models from several `rnatracker cv` run directories made on the same folds.

One `cv` run holds one input setting (mode, --input, …); comparing settings — e.g. `--input
seq`, `seqxstruct` and `seq+struct` in issue 5 — means comparing runs. Given run directories
made from the same cache with the same --seed and --folds (hence the same `folds.tsv`), this
prints, for every chosen model of every run, the pooled out-of-fold Pearson r per fraction,
ROC AUC per fraction and micro-averaged, and the paired tests of `cv` (DeLong on each
fraction's ROC AUC, transcript-level paired bootstrap of the micro/macro ROC AUC and of Pearson
r per fraction) between every pair, with the same code as `cv` itself
(`rnatracker_cli.evaluation.report`).

    python benchmarks/compare_cv_runs.py CACHE.h5 RUN_DIR[:MODEL[:LABEL]] ... [--bootstrap 1000]

MODEL defaults to every model in the run's predictions/; LABEL defaults to
``RUN_DIR_NAME/MODEL``. `--out FILE` also writes the comparisons as `comparisons.tsv` does.
`--folds 1,2,3` compares on the transcripts of those folds only, read from the runs'
finished parts (``parts/MODEL/foldK.tsv``): runs that are not complete (e.g. `cv --fold K`
jobs of an expensive setting) can be compared on the folds they have.
`--blend LABEL=NAME,NAME[,…]` (repeatable) adds a row whose fractions are the renormalised
geometric mean, with equal weights, of the listed rows' out-of-fold fractions (NAME = a row
label above): a post-hoc blend that fits nothing, so it is as out-of-fold as its parts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnatracker_cli.evaluation import report
from rnatracker_cli.evaluation.folds import read_folds
from rnatracker_cli.io.cache import Cache


def _read_predictions(paths: list[Path], ids: list[str], n_fractions: int, skip: int) -> np.ndarray:
    """Rows of ``ids`` from TSVs ``id [fold] fraction…`` (``skip``: columns before the fractions)."""
    position = {rid: i for i, rid in enumerate(ids)}
    out = np.full((len(ids), n_fractions), np.nan)
    for path in paths:
        if not path.exists():
            sys.exit(f"error: {path} does not exist (fold not finished?)")
        for line in path.read_text().splitlines()[1:]:
            fields = line.split("\t")
            if fields[0] in position:
                out[position[fields[0]]] = [float(v) for v in fields[skip:]]
    if np.isnan(out).any():
        sys.exit(f"error: {', '.join(map(str, paths))} do not cover every transcript compared")
    return out


def geometric_blend(parts: list[np.ndarray], floor: float = 1e-6) -> np.ndarray:
    """Row-wise renormalised geometric mean of fraction arrays (equal weights; fractions are
    floored at ``floor`` before the log)."""
    logs = np.mean([np.log(np.clip(p, floor, 1.0)) for p in parts], axis=0)
    out = np.exp(logs - logs.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("runs", nargs="+", help="RUN_DIR[:MODEL[:LABEL]]")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the paired tests here (TSV)")
    parser.add_argument("--folds", default=None, help="compare on these folds only (comma-separated, 1-based)")
    parser.add_argument("--blend", action="append", default=[], metavar="LABEL=NAME,NAME",
                        help="add the equal-weight geometric mean of these rows as LABEL (repeatable)")
    args = parser.parse_args()
    with Cache(args.cache) as cache:
        ids, fractions = list(cache.ids), list(cache.fractions)
        targets = np.asarray(cache.targets, dtype=np.float64)
    chosen = None
    if args.folds is not None:
        chosen = sorted({int(k) for k in args.folds.split(",")})
        fold_of = read_folds(Path(args.runs[0].split(":")[0]) / "folds.tsv")
        keep = [i for i, rid in enumerate(ids) if fold_of[rid] in chosen]
        ids, targets = [ids[i] for i in keep], targets[keep]
        print(f"folds {','.join(map(str, chosen))}: {len(ids)} transcripts")
    predictions: dict[str, np.ndarray] = {}
    folds_text = None
    for spec in args.runs:
        run, _, rest = spec.partition(":")
        model, _, label = rest.partition(":")
        run_dir = Path(run)
        text = (run_dir / "folds.tsv").read_text()
        if folds_text is not None and text != folds_text:
            sys.exit(f"error: {run_dir} has other folds than {args.runs[0].split(':')[0]} (use the same --seed and --folds)")
        folds_text = text
        if model:
            models = [model]
        elif chosen is None:
            models = sorted(p.stem for p in (run_dir / "predictions").glob("*.tsv"))
        else:
            models = sorted(p.name for p in (run_dir / "parts").iterdir() if p.is_dir())
        for m in models:
            name = label if (label and model) else f"{run_dir.name}/{m}"
            if chosen is None:
                predictions[name] = _read_predictions([run_dir / "predictions" / f"{m}.tsv"], ids, len(fractions), 2)
            else:
                parts = [run_dir / "parts" / m / f"fold{k}.tsv" for k in chosen]
                predictions[name] = _read_predictions(parts, ids, len(fractions), 1)
    for spec in args.blend:
        label, _, names = spec.partition("=")
        parts = [n.strip() for n in names.split(",") if n.strip()]
        missing = [n for n in parts if n not in predictions]
        if not label or len(parts) < 2 or missing:
            sys.exit(f"error: --blend {spec!r}: expected LABEL=NAME,NAME with names among {', '.join(predictions)}")
        if label in predictions:
            sys.exit(f"error: --blend {spec!r}: {label!r} already names a row (choose another LABEL)")
        predictions[label] = geometric_blend([predictions[n] for n in parts])
    rows = report.metric_rows(targets, predictions, fractions)
    value = {(m, f, name): v for m, f, name, v in rows}
    names = list(predictions)
    width = max(12, *(len(n) for n in names))
    header = f"{'model':{width}s} " + " ".join(f"{'r ' + f:>12s}" for f in fractions) + " " + \
        " ".join(f"{'AUROC ' + f:>14s}" for f in fractions) + f" {'AUROC micro':>12s} {'KL':>7s}"
    print(header)
    for m in names:
        print(f"{m:{width}s} " + " ".join(f"{value[(m, f, 'pearson')]:12.4f}" for f in fractions) + " "
              + " ".join(f"{value[(m, f, 'roc_auc')]:14.4f}" for f in fractions)
              + f" {value[(m, 'micro', 'roc_auc')]:12.4f} {value[(m, 'all', 'kl_mean')]:7.4f}")
    comparisons = report.comparison_rows(targets, predictions, fractions, n_boot=args.bootstrap, seed=args.seed)
    print("\npaired tests (a − b): DeLong on each fraction's ROC AUC; transcript bootstrap 95% CI of the "
          "micro/macro ROC AUC and Pearson r differences")
    for a, b, test, f, diff, low, high, _z, p in comparisons:
        print(f"  {a} vs {b}  {test:17s} {f:10s} diff {diff:+.4f}  [{low:+.4f}, {high:+.4f}]  p {p:.3g}")
    if args.out is not None:
        report.write_comparisons(args.out, comparisons)


if __name__ == "__main__":
    main()
