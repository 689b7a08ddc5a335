import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from rnatracker_cli.cli.app import app
from rnatracker_cli.workflows.cv import DEFAULT_MODELS, CVOptions, run_cv
from rnatracker_cli.metrics import roc_auc, one_vs_rest
from rnatracker_cli.io.cache import Cache, write_cache

FRACTIONS = ["cytosol", "nuclear", "membrane"]


def _make_cache(path, n=36, seed=0):
    """Random transcripts whose targets follow A/C/G content (learnable), two per gene."""
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, 4, size=int(rng.integers(120, 260))).astype(np.uint8) for _ in range(n)]
    comp = np.array([[np.mean(s == b) for b in range(3)] for s in seqs])
    logits = 12 * (comp - comp.mean(axis=0))
    targets = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    write_cache(path, ids=[f"t{i:03d}" for i in range(n)], sequences=seqs, targets=targets.astype(np.float32),
                fractions=FRACTIONS, genes=[f"g{i // 2}" for i in range(n)])
    return path


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    return _make_cache(tmp_path_factory.mktemp("cv") / "c.h5")


FAST = dict(epochs=2, patience=0, n_boot=100, batch_nt=20_000)


def _one_fold_cmd(cache, out):
    """`cv` of kmer-nn, fold 1 of 3, one epoch: a run dir in seconds (ends with "--fold", "1")."""
    return ["cv", str(cache), "--out", str(out), "--models", "kmer-nn", "--folds", "3", "--epochs", "1",
            "--bootstrap", "100", "--device", "cpu", "--fold", "1"]


def test_all_five_models_end_to_end(small_cache, tmp_path):
    out = tmp_path / "run"
    s = run_cv(small_cache, out, CVOptions(folds=3, **FAST), device="cpu")
    assert s.complete and len(s.trained) == 15 and not s.skipped
    cache = Cache(small_cache)
    folds = pd.read_csv(out / "folds.tsv", sep="\t")
    assert list(folds.columns) == ["id", "fold"] and list(folds["id"]) == list(cache.ids)
    assert set(folds["fold"]) == {1, 2, 3}
    genes = pd.Series(cache.genes)
    assert (folds.groupby(genes)["fold"].nunique() == 1).all()  # no gene on both sides
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(metrics.columns) == ["model", "fraction", "metric", "value"]
    for model in DEFAULT_MODELS:
        pred = pd.read_csv(out / "predictions" / f"{model}.tsv", sep="\t")
        assert list(pred.columns) == ["id", "fold", *FRACTIONS]
        assert list(pred["id"]) == list(cache.ids)  # every transcript exactly once
        assert (pred["fold"] == folds["fold"]).all()
        np.testing.assert_allclose(pred[FRACTIONS].sum(axis=1), 1, atol=1e-4)
        # metrics equal an independent computation from the written predictions
        values = pred[FRACTIONS].to_numpy()
        m = metrics[metrics.model == model].set_index(["fraction", "metric"])["value"]
        for f, name in enumerate(FRACTIONS):
            assert m[(name, "pearson")] == pytest.approx(pearsonr(values[:, f], cache.targets[:, f])[0], abs=1e-5)
        labels = one_vs_rest(cache.targets)
        assert m[("micro", "roc_auc")] == pytest.approx(roc_auc(labels.ravel(), values.ravel()), abs=1e-5)
    table = pd.read_csv(out / "table.tsv", sep="\t")
    assert list(table.columns) == ["fraction", *DEFAULT_MODELS, "best"]
    assert list(table["fraction"]) == FRACTIONS
    for _, row in table.iterrows():
        # the best model has the largest value (ties at the table's 4 decimals: any of them)
        assert row[row["best"]] == max(row[mm] for mm in DEFAULT_MODELS)
    comparisons = pd.read_csv(out / "comparisons.tsv", sep="\t")
    assert (comparisons.test == "delong_roc_auc").sum() == 10 * len(FRACTIONS)
    assert set(comparisons.loc[comparisons.test == "delong_roc_auc", "fraction"]) == set(FRACTIONS)
    assert (comparisons.test == "bootstrap_roc_auc").sum() == 10 * 2
    assert (comparisons.test == "bootstrap_pearson").sum() == 10 * len(FRACTIONS)
    assert comparisons.loc[comparisons.test == "delong_roc_auc", "p_value"].between(0, 1).all()
    assert {p.name for p in (out / "plots").iterdir()} >= {"roc_pr.png", "pearson_bars.png", "scatter_rnatracker.png"}
    config = json.loads((out / "config.json").read_text())
    assert config["data_sha256"] == cache.content_sha256 and config["options"]["folds"] == 3


def test_single_fold_then_resume_skips_finished_parts(small_cache, tmp_path):
    out = tmp_path / "run"
    opts = CVOptions(models=["kmer-nn", "nolstm"], folds=3, **FAST)
    first = run_cv(small_cache, out, opts, fold=2, device="cpu")
    assert first.trained == [("kmer-nn", 2), ("nolstm", 2)] and not first.complete
    assert not (out / "metrics.tsv").exists()
    done = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*") if p.is_file()}
    assert len(done) == 6  # tsv, json and checkpoint per part
    second = run_cv(small_cache, out, opts, device="cpu")
    assert sorted(second.skipped) == [("kmer-nn", 2), ("nolstm", 2)]
    assert sorted(second.trained) == [("kmer-nn", 1), ("kmer-nn", 3), ("nolstm", 1), ("nolstm", 3)]
    assert second.complete and (out / "metrics.tsv").exists()
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    third = run_cv(small_cache, out, opts, device="cpu")
    assert third.trained == [] and len(third.skipped) == 6 and third.complete


def test_a_run_can_gain_models_later(small_cache, tmp_path):
    """Re-running with more --models trains only the new ones on the same folds; the tables
    and tests then cover every model named; the finished parts stay untouched."""
    out = tmp_path / "run"
    run_cv(small_cache, out, CVOptions(models=["kmer-nn"], folds=3, **FAST), device="cpu")
    done = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*") if p.is_file()}
    before = (out / "predictions" / "kmer-nn.tsv").read_text()
    summary = run_cv(small_cache, out, CVOptions(models=["kmer-nn", "length"], folds=3, **FAST), device="cpu")
    assert sorted(summary.trained) == [("length", 1), ("length", 2), ("length", 3)]
    assert sorted(summary.skipped) == [("kmer-nn", 1), ("kmer-nn", 2), ("kmer-nn", 3)]
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert (out / "predictions" / "kmer-nn.tsv").read_text() == before
    table = pd.read_csv(out / "table.tsv", sep="\t")
    assert list(table.columns) == ["fraction", "kmer-nn", "length", "best"]
    pairs = pd.read_csv(out / "comparisons.tsv", sep="\t")
    assert {"kmer-nn", "length"} <= set(pairs.iloc[:, :2].to_numpy().ravel())
    assert json.loads((out / "config.json").read_text())["options"]["models"] == ["kmer-nn", "length"]


def test_same_seed_same_folds_and_predictions(small_cache, tmp_path):
    opts = CVOptions(models=["kmer-nn"], folds=3, **FAST)
    run_cv(small_cache, tmp_path / "a", opts, device="cpu")
    run_cv(small_cache, tmp_path / "b", opts, device="cpu")
    for name in ("folds.tsv", "predictions/kmer-nn.tsv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "rnatracker,transformer"], "unknown model 'transformer'"),
        (["--folds", "1"], "--folds must be at least 2"),
        (["--folds", "40"], "--folds 40 is more than the 36 transcripts"),
        (["--folds", "3", "--fold", "4"], "--fold must be between 1 and --folds (3)"),
        (["--replicates", "0"], "--replicates must be at least 1"),
        (["--mutation-rate", "0.9"], "--mutation-rate must be in [0, 0.5]"),
        (["--weight-decay", "-1"], "--weight-decay must be in [0, 100]"),
        (["--loss", "mse"], "unknown --loss 'mse' (expected one of auto, kl, clr, kl+clr)"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_options(runner, small_cache, tmp_path, args, message):
    res = runner.invoke(app, ["cv", str(small_cache), "--out", str(tmp_path / "run"), *args])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and message in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()


def test_run_dir_of_another_cache_or_other_options_is_refused(runner, small_cache, tmp_path):
    out = tmp_path / "run"
    base = _one_fold_cmd(small_cache, out)
    assert runner.invoke(app, base).exit_code == 0
    other = _make_cache(tmp_path / "other.h5", seed=1)
    res = runner.invoke(app, ["cv", str(other), *base[2:]])
    assert res.exit_code == 1 and "CV run on another cache" in res.stderr
    res = runner.invoke(app, [*base[:-2], "--epochs", "5"])
    assert res.exit_code == 1 and "other options (epochs: 1 → 5)" in res.stderr
    # a run made before --clip-norm existed (no clip_norm recorded) trained without clipping
    config = json.loads((out / "config.json").read_text())
    del config["options"]["clip_norm"]
    (out / "config.json").write_text(json.dumps(config))
    res = runner.invoke(app, [*base[:-1], "2"])
    assert res.exit_code == 1 and "other options (clip_norm: 0.0 → 1.0)" in res.stderr
    assert runner.invoke(app, [*base[:-1], "2", "--clip-norm", "0"]).exit_code == 0
    # nor batch normalisation (a network option since 2026-12-03)
    del config["options"]["batch_norm"]
    (out / "config.json").write_text(json.dumps(config))
    res = runner.invoke(app, [*base[:-1], "3", "--clip-norm", "0"])
    assert res.exit_code == 1 and "other options (batch_norm: False → True)" in res.stderr
    assert runner.invoke(app, [*base[:-1], "3", "--clip-norm", "0", "--no-batch-norm"]).exit_code == 0
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    res = runner.invoke(app, ["cv", str(small_cache), "--out", str(tmp_path / "busy"), "--models", "kmer-nn"])
    assert res.exit_code == 1 and "not empty and holds no CV run" in res.stderr


def test_replicates_make_each_network_part_an_ensemble_whose_first_member_is_the_single_run(small_cache, tmp_path):
    """`cv --replicates 2`: every network part is a 2-member ensemble; member 0 is exactly the
    part a run without --replicates trains (same seed and validation split), member 1 differs;
    the part's predictions are the members' mean; kmer-gbm (deterministic) stays one model."""
    import torch

    from rnatracker_cli.model.checkpoint import load_model

    single = run_cv(small_cache, tmp_path / "k1", CVOptions(models=["kmer-nn", "kmer-gbm"], folds=3, **FAST), device="cpu")
    double = run_cv(small_cache, tmp_path / "k2", CVOptions(models=["kmer-nn", "kmer-gbm"], folds=3, replicates=2, **FAST),
                    device="cpu")
    assert single.complete and double.complete
    assert (tmp_path / "k1" / "folds.tsv").read_text() == (tmp_path / "k2" / "folds.tsv").read_text()
    cache = Cache(small_cache)
    folds = pd.read_csv(tmp_path / "k1" / "folds.tsv", sep="\t")["fold"].to_numpy()
    for k in (1, 2, 3):
        one = load_model(tmp_path / "k1" / "parts" / "kmer-nn" / f"fold{k}.pt")
        ens = load_model(tmp_path / "k2" / "parts" / "kmer-nn" / f"fold{k}.pt")
        assert ens.config["replicates"] == 2 and len(ens.model.members) == 2
        first, second = ens.model.members[0].state_dict(), ens.model.members[1].state_dict()
        for name, tensor in one.model.state_dict().items():
            assert torch.equal(first[name], tensor), name
        assert any(not torch.equal(second[n], t) for n, t in one.model.state_dict().items())
        info = json.loads((tmp_path / "k2" / "parts" / "kmer-nn" / f"fold{k}.json").read_text())
        assert [m["seed"] for m in info["members"]] == [k - 1, k - 1 + 1_000_000]
        gbm = load_model(tmp_path / "k2" / "parts" / "kmer-gbm" / f"fold{k}.pt")
        assert gbm.config.get("replicates", 1) == 1
        # the written predictions are the mean of the members' predicted fractions
        from rnatracker_cli.inference import Predictor
        from rnatracker_cli.training.data import load_training_set
        from rnatracker_cli.encoding import get_encoding

        test = load_training_set(cache, get_encoding(one.config["encoding"])).subset(np.flatnonzero(folds == k))
        means = np.mean([Predictor(m, one.config, torch.device("cpu")).predict(test.sequences, test.structures,
                                                                              nt_lengths=test.nt_lengths)
                         for m in ens.model.members], axis=0)
        written = pd.read_csv(tmp_path / "k2" / "parts" / "kmer-nn" / f"fold{k}.tsv", sep="\t")[FRACTIONS].to_numpy()
        np.testing.assert_allclose(written, means, atol=2e-6)
    for name in ("predictions/kmer-gbm.tsv",):
        assert (tmp_path / "k1" / name).read_text() == (tmp_path / "k2" / name).read_text()


def test_replicates_are_checked_on_resume(runner, small_cache, tmp_path):
    out = tmp_path / "run"
    base = _one_fold_cmd(small_cache, out)
    assert runner.invoke(app, base).exit_code == 0
    res = runner.invoke(app, [*base, "--replicates", "3"])
    assert res.exit_code == 1 and "other options (replicates: 1 → 3)" in res.stderr
    # a run made before --replicates existed (none recorded) trained one model per part
    config = json.loads((out / "config.json").read_text())
    del config["options"]["replicates"]
    (out / "config.json").write_text(json.dumps(config))
    assert runner.invoke(app, [*base[:-1], "2"]).exit_code == 0


def test_a_corrupt_folds_table_is_refused_with_one_error_line(runner, small_cache, tmp_path):
    out = tmp_path / "run"
    base = _one_fold_cmd(small_cache, out)
    assert runner.invoke(app, base).exit_code == 0
    (out / "folds.tsv").write_text("id\tfold\nt000\tone\n")
    res = runner.invoke(app, base)
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "is not a folds table" in res.stderr
