"""Cross-validation reports: metric tables, paired comparisons and plots from OOF predictions.

Tables (tab-separated, fixed headers, see docs/formats.md):
``metrics.tsv``  model  fraction  metric  value
``table.tsv``    fraction  <model…>  best          (Pearson of the pooled folds; paper Table 1)
``comparisons.tsv``  model_a  model_b  test  fraction  estimate  ci_low  ci_high  z  p_value

Every test of comparisons.tsv takes the transcript as its unit (see
:mod:`rnatracker_cli.evaluation.compare`): per fraction, DeLong's test on that fraction's
one-vs-rest labels (``delong_roc_auc``); for the micro/macro averages, a transcript-level
paired bootstrap (``bootstrap_roc_auc``); per fraction, a paired bootstrap of Pearson r
(``bootstrap_pearson``). Pooling the transcript × fraction entries into one DeLong test, as
versions before 0.2 did, treats each transcript as F independent samples and overstates
significance.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from rnatracker_cli.evaluation.compare import bootstrap_auc, delong_test, paired_auc_difference, paired_bootstrap_pearson
from rnatracker_cli.metrics import evaluate, one_vs_rest

METRICS_COLUMNS = ("model", "fraction", "metric", "value")
COMPARISON_COLUMNS = ("model_a", "model_b", "test", "fraction", "estimate", "ci_low", "ci_high", "z", "p_value")


def _fmt(value: float) -> str:
    return "NA" if value is None or not np.isfinite(value) else f"{value:.6g}"


def metric_rows(targets: np.ndarray, predictions: dict[str, np.ndarray], fractions: list[str]) -> list[tuple]:
    """``(model, fraction, metric, value)`` for every model, in the given model order."""
    return [(m, f, name, v) for m, pred in predictions.items() for f, name, v in evaluate(targets, pred, fractions)]


def comparison_rows(targets: np.ndarray, predictions: dict[str, np.ndarray], fractions: list[str],
                    n_boot: int = 1000, seed: int = 0) -> list[tuple]:
    """Paired tests for every pair of models ``(a, b)``, estimates ``a − b``, in this order:
    DeLong on each fraction's one-vs-rest ROC AUC (``delong_roc_auc``, fraction = its name);
    the transcript-level bootstrap of the micro and macro ROC AUC (``bootstrap_roc_auc``,
    fraction ``micro``/``macro``); the bootstrap of Pearson r per fraction
    (``bootstrap_pearson``). Rows are ``(model_a, model_b, test, fraction, estimate, ci_low,
    ci_high, z, p_value)``; z is NaN for bootstrap rows. Bootstraps use ``seed``."""
    labels = one_vs_rest(targets)
    boot = bootstrap_auc(labels, predictions, n_boot=n_boot, seed=seed)
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        pa, pb = predictions[a], predictions[b]
        for f, name in enumerate(fractions):
            if labels[:, f].all() or not labels[:, f].any():
                rows.append((a, b, "delong_roc_auc", name, *([float("nan")] * 5)))
                continue
            d = delong_test(labels[:, f], pa[:, f], pb[:, f])
            rows.append((a, b, "delong_roc_auc", name, d["diff"], d["diff"] - 1.96 * d["se"],
                         d["diff"] + 1.96 * d["se"], d["z"], d["p"]))
        for summary in ("micro", "macro"):
            bs = paired_auc_difference(boot, a, b, summary)
            rows.append((a, b, "bootstrap_roc_auc", summary, bs["diff"], bs["ci_low"], bs["ci_high"], float("nan"), bs["p"]))
        for f, name in enumerate(fractions):
            bs = paired_bootstrap_pearson(targets[:, f], pa[:, f], pb[:, f], n_boot=n_boot, seed=seed)
            rows.append((a, b, "bootstrap_pearson", name, bs["diff"], bs["ci_low"], bs["ci_high"], float("nan"), bs["p"]))
    return rows


def write_metrics(path: str | os.PathLike, rows: list[tuple]) -> None:
    with open(path, "w", newline="\n") as out:
        out.write("\t".join(METRICS_COLUMNS) + "\n")
        for m, f, name, v in rows:
            out.write(f"{m}\t{f}\t{name}\t{_fmt(v)}\n")


def pearson_table(rows: list[tuple], fractions: list[str], models: list[str]) -> list[list]:
    """Rows ``[fraction, r(model)…, best]`` from metric rows (Pearson per fraction)."""
    lookup = {(m, f): v for m, f, name, v in rows if name == "pearson"}
    table = []
    for f in fractions:
        values = [lookup.get((m, f), float("nan")) for m in models]
        finite = [v if np.isfinite(v) else -np.inf for v in values]
        best = models[int(np.argmax(finite))] if np.isfinite(max(finite)) else "NA"
        table.append([f, *values, best])
    return table


def write_table(path: str | os.PathLike, table: list[list], models: list[str]) -> None:
    with open(path, "w", newline="\n") as out:
        out.write("\t".join(["fraction", *models, "best"]) + "\n")
        for f, *values, best in table:
            out.write("\t".join([f, *(f"{v:.4f}" if np.isfinite(v) else "NA" for v in values), best]) + "\n")


def write_comparisons(path: str | os.PathLike, rows: list[tuple]) -> None:
    with open(path, "w", newline="\n") as out:
        out.write("\t".join(COMPARISON_COLUMNS) + "\n")
        for a, b, test, f, *numbers in rows:
            out.write("\t".join([a, b, test, f, *(_fmt(v) for v in numbers)]) + "\n")


def write_plots(folder: str | os.PathLike, targets: np.ndarray, predictions: dict[str, np.ndarray],
                fractions: list[str], table: list[list]) -> list[Path]:
    """Scatter per model (true vs predicted per fraction, r in titles; paper Fig. 4), ROC and PR
    curves of the micro-averaged predominant-fraction task per model (Fig. S6), and a grouped
    bar chart of the Pearson table. Returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnatracker_cli.metrics import (average_precision, pearson, precision_recall_curve,
                                                    roc_auc, roc_curve)

    from rnatracker_cli.io.atomic import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def save(fig, name: str) -> None:
        paths.append(folder / name)
        with atomic_path(paths[-1], force=True) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)

    n_f = len(fractions)
    for model, pred in predictions.items():
        fig, axes = plt.subplots(1, n_f, figsize=(3.2 * n_f, 3.3), squeeze=False)
        for f, ax in enumerate(axes[0]):
            ax.scatter(targets[:, f], pred[:, f], s=4, alpha=0.4, color="tab:blue", rasterized=True)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="true", ylabel="predicted" if f == 0 else None,
                   title=f"{fractions[f]}  r = {pearson(pred[:, f], targets[:, f]):.3f}")
        fig.suptitle(f"{model}: out-of-fold predictions")
        fig.tight_layout()
        save(fig, f"scatter_{model}.png")

    labels = one_vs_rest(targets).ravel()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(9, 4))
    for model, pred in predictions.items():
        fpr, tpr = roc_curve(labels, pred.ravel())
        ax_roc.plot(fpr, tpr, label=f"{model} (AUC {roc_auc(labels, pred.ravel()):.3f})")
        precision, recall = precision_recall_curve(labels, pred.ravel())
        ax_pr.step(np.r_[0, recall], np.r_[precision[0], precision], where="post",
                   label=f"{model} (AP {average_precision(labels, pred.ravel()):.3f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, predominant fraction (micro)")
    ax_pr.axhline(labels.mean(), color="grey", lw=0.8, ls="--")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall (micro)", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "upper right")
    fig.tight_layout()
    save(fig, "roc_pr.png")

    models = list(predictions)
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * n_f * len(models) / 2), 3.8))
    width = 0.8 / len(models)
    x = np.arange(n_f)
    for k, model in enumerate(models):
        ax.bar(x + (k - (len(models) - 1) / 2) * width, [row[1 + k] for row in table], width, label=model)
    ax.set_xticks(x, fractions)
    ax.set(ylabel="Pearson r (out-of-fold)", title="Pearson correlation per fraction")
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=7, ncol=min(len(models), 5))
    fig.tight_layout()
    save(fig, "pearson_bars.png")
    return paths
