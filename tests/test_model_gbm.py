"""`kmer-gbm`: 3–5-mer composition + log length → LightGBM (features, fitting, checkpoints, CLI)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.metrics import roc_auc
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model import checkpoint as ckpt
from rnatracker_cli.model.gbm import GBMNet
from rnatracker_cli.model.registry import SEQUENCE_FEATURE_ARCHS
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.loop import FitOptions, fit

CPU = torch.device("cpu")


def _gc_set(n: int, seed: int) -> TrainingSet:
    """2 fractions (cytosol, nuclear); the nuclear share rises with GC content (logistic,
    plus noise), lengths 200–1,200 nt carry no signal."""
    rng = np.random.default_rng(seed)
    gc = rng.uniform(0.3, 0.7, n)
    seqs = []
    for g in gc:
        length = int(rng.integers(200, 1200))
        p = np.array([(1 - g) / 2, g / 2, g / 2, (1 - g) / 2])  # A C G T
        seqs.append(rng.choice(4, size=length, p=p).astype(np.uint8))
    nuclear = 1 / (1 + np.exp(-(20 * (gc - 0.5) + rng.normal(0, 1, n))))
    targets = np.stack([1 - nuclear, nuclear], axis=1).astype(np.float32)
    return TrainingSet(np.array([f"t{i}" for i in range(n)], dtype=object), seqs, None,
                       np.array([len(s) for s in seqs], dtype=np.int64), targets)


@pytest.fixture(scope="module")
def gc_data():
    return _gc_set(240, seed=1)


@pytest.fixture(scope="module")
def fitted(gc_data):
    """A kmer-gbm model fitted on the first 160 transcripts (40 for early stopping)."""
    config = default_config("kmer-gbm", 2)
    model = build_model(config)
    result = fit(model, config, gc_data.subset(np.arange(160)), gc_data.subset(np.arange(160, 200)),
                 FitOptions(seed=3), CPU)
    return model, config, result


def test_registry_and_config():
    config = default_config("kmer-gbm", 2)
    assert "kmer-gbm" in SEQUENCE_FEATURE_ARCHS
    assert config["encoding"] == "seq" and config["length_feature"] is True
    assert {k: config[k] for k in ("k_min", "k_max", "n_estimators", "learning_rate", "num_leaves")} == {
        "k_min": 3, "k_max": 5, "n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15}
    assert config["early_stopping_rounds"] == 0
    with pytest.raises(RNATrackerError, match="--encoding seq"):
        default_config("kmer-gbm", 2, encoding="seqxstruct")
    with pytest.raises(RNATrackerError, match="unknown option"):
        default_config("kmer-gbm", 2, hidden_layers=2)
    model = build_model(config)
    assert isinstance(model, GBMNet) and model.n_features == 64 + 256 + 1024 + 1
    assert not model.has_attention and not model.needs_normalization and model.min_length == 1
    with pytest.raises(RNATrackerError, match="k_min"):
        build_model({**config, "k_min": 4, "k_max": 3})


def test_features_are_compositions_and_log_length():
    model = GBMNet(2, k_min=1, k_max=2)
    # "ACGTA" then an N, then padding: 1-mers A C G T A, 2-mers AC CG GT TA
    x = torch.zeros(1, 4, 8)
    for col, base in enumerate([0, 1, 2, 3, 0]):
        x[0, base, col] = 1
    f = model.features(x, torch.tensor([6]), torch.tensor([6]))
    assert f.shape == (1, 4 + 16 + 1)
    np.testing.assert_allclose(f[0, :4].numpy(), [0.4, 0.2, 0.2, 0.2])
    two = np.zeros(16)
    two[[0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 3, 3 * 4 + 0]] = 0.25
    np.testing.assert_allclose(f[0, 4:20].numpy(), two)
    assert f[0, -1].item() == pytest.approx(np.log(6))


def test_learns_gc_signal_and_is_deterministic(gc_data, fitted):
    model, config, result = fitted
    test = gc_data.subset(np.arange(200, 240))
    probs = Predictor(model, config).predict(test.sequences, nt_lengths=test.nt_lengths)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert roc_auc(test.targets[:, 1] > 0.5, probs[:, 1]) > 0.8
    # one record; validation better than the constant predictor's KL
    assert len(result.history) == 1 and result.best_epoch == 1
    const = test.targets.mean(axis=0)
    val = gc_data.subset(np.arange(160, 200))
    const_kl = float(np.mean(np.sum(val.targets * np.log(np.clip(val.targets, 1e-7, 1) / const), axis=1)))
    assert result.best.val_loss < 0.7 * const_kl
    # a second fit with the same seed gives identical predictions
    again = build_model(config)
    fit(again, config, gc_data.subset(np.arange(160)), gc_data.subset(np.arange(160, 200)), FitOptions(seed=3), CPU)
    np.testing.assert_array_equal(Predictor(again, config).predict(test.sequences, nt_lengths=test.nt_lengths), probs)


def test_checkpoint_round_trip(tmp_path, gc_data, fitted):
    model, config, _ = fitted
    test = gc_data.subset(np.arange(200, 240))
    path = ckpt.save_checkpoint(tmp_path / "model.pt", model, config, ["cytosol", "nuclear"], {"seed": 3})
    payload = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert payload["state_dict"]["booster_0"].dtype == torch.uint8 and payload["state_dict"]["booster_0"].numel() > 1000
    loaded = ckpt.load_model(path)
    np.testing.assert_array_equal(Predictor(loaded.model, loaded.config).predict(test.sequences, nt_lengths=test.nt_lengths),
                                  Predictor(model, config).predict(test.sequences, nt_lengths=test.nt_lengths))
    # a damaged booster is refused clearly
    payload["state_dict"]["booster_0"] = torch.tensor(list(b"not a model"), dtype=torch.uint8)
    broken = build_model(config)
    broken.load_state_dict(payload["state_dict"])
    with pytest.raises(RNATrackerError, match="damaged kmer-gbm"):
        Predictor(broken, config).predict(test.sequences[:2])


def test_early_stopping_on_the_validation_split(gc_data):
    config = default_config("kmer-gbm", 2, early_stopping_rounds=5, n_estimators=300, learning_rate=0.3)
    train, val = gc_data.subset(np.arange(160)), gc_data.subset(np.arange(160, 200))
    model = build_model(config)
    trees = model.fit_direct(train, val, seed=0, config=config)
    assert len(trees) == 1 and 1 <= trees[0] < 300  # stopped, best round kept
    assert model._get_boosters()[0].num_trees() == trees[0]
    assert build_model(config).fit_direct(train, None, seed=0, config=config) == [300]  # nothing to stop on


def test_unfitted_model_errors_clearly(gc_data):
    config = default_config("kmer-gbm", 2)
    with pytest.raises(RNATrackerError, match="not been fitted"):
        Predictor(build_model(config), config).predict(gc_data.sequences[:3])


def test_four_fractions(sim_data):
    n = len(sim_data.ids)
    data = TrainingSet(np.array(sim_data.ids, dtype=object), sim_data.sequences, None,
                       np.array([len(s) for s in sim_data.sequences], dtype=np.int64), sim_data.targets)
    config = default_config("kmer-gbm", 4, min_child_samples=5, n_estimators=50)
    model = build_model(config)
    result = fit(model, config, data.subset(np.arange(45)), data.subset(np.arange(45, n)), FitOptions(seed=0), CPU)
    assert model.n_boosters == 4 and model.is_fitted
    probs = Predictor(model, config).predict(data.sequences)
    assert probs.shape == (n, 4) and (probs > 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.isfinite(result.best.val_loss) and np.isfinite(result.best.val_pearson).all()
    # the training fit is better than the constant predictor's
    const = data.targets[:45].mean(axis=0)
    const_kl = float(np.mean(np.sum(data.targets[:45] * np.log(np.clip(data.targets[:45], 1e-7, 1) / const), axis=1)))
    assert result.best.train_loss < const_kl


@pytest.fixture(scope="module")
def gc_cache(tmp_path_factory):
    d = _gc_set(80, seed=2)
    path = tmp_path_factory.mktemp("gbm") / "gc.h5"
    write_cache(path, ids=list(d.ids), sequences=d.sequences, targets=d.targets, fractions=["cytosol", "nuclear"],
                genes=[f"g{i}" for i in range(len(d))])
    return path


def test_train_and_predict_cli(runner, gc_cache, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(gc_cache), "--out", str(out), "--arch", "kmer-gbm", "--seed", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["arch"] == "kmer-gbm" and config["model"]["n_estimators"] == 200
    log = (out / "log.tsv").read_text().splitlines()
    assert len(log) == 2 and log[1].startswith("1\t")
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["training"]["best_epoch"] == 1
    d = _gc_set(30, seed=9)
    fasta = tmp_path / "new.fa"
    fasta.write_text("".join(f">{i}\n" + "".join("ACGT"[c] for c in s) + "\n" for i, s in zip(d.ids, d.sequences)))
    res = runner.invoke(app, ["predict", str(out), str(fasta), "--out", str(tmp_path / "p.tsv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert list(pred["id"]) == list(d.ids)
    np.testing.assert_allclose(pred[["cytosol", "nuclear"]].sum(axis=1), 1, atol=1e-4)
    assert roc_auc(d.targets[:, 1] > 0.5, pred["nuclear"].to_numpy()) > 0.75


def test_cv_cli_with_length(runner, gc_cache, tmp_path):
    out = tmp_path / "cv"
    res = runner.invoke(app, ["cv", str(gc_cache), "--out", str(out), "--models", "kmer-gbm,length", "--folds", "3",
                              "--epochs", "1", "--bootstrap", "100", "--quiet"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "table.tsv", sep="\t")
    assert list(table.columns) == ["fraction", "kmer-gbm", "length", "best"]
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    auc = metrics[(metrics.fraction == "nuclear") & (metrics.metric == "roc_auc")].set_index("model")["value"]
    assert auc["kmer-gbm"] > 0.8 and auc["kmer-gbm"] > auc["length"] + 0.15  # length carries no signal here
    pred = pd.read_csv(out / "predictions" / "kmer-gbm.tsv", sep="\t")
    assert len(pred) == 80
    np.testing.assert_allclose(pred[["cytosol", "nuclear"]].sum(axis=1), 1, atol=1e-4)
