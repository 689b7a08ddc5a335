"""`train --init` / `cv --init`: fine-tuning a trained network on another data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnatracker_cli.cli.app import app
from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.model import build_model
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.simulate import simulate_dataset
from rnatracker_cli.training.data import load_training_set, split_validation
from rnatracker_cli.training.head import context_features, fit_dense
from rnatracker_cli.training.loop import FitOptions, prepare_model
from rnatracker_cli.training.metrics import loss_rows
from rnatracker_cli.training.warmstart import check_no_architecture_options, load_init

runner = CliRunner()


def _cache(path, n, seed, two_fractions=False):
    d = simulate_dataset(n=n, seed=seed, max_length=700)
    targets, fractions = d.targets, d.fractions
    if two_fractions:
        targets = np.stack([targets[:, 0], 1 - targets[:, 0]], axis=1)
        fractions = ["cytosol", "nucleus"]
    write_cache(path, ids=d.ids, sequences=d.sequences, targets=targets, fractions=fractions, genes=d.genes)
    return path


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("warm")
    a, b = _cache(tmp / "a.h5", 30, 1), _cache(tmp / "b.h5", 30, 2)
    res = runner.invoke(app, ["train", str(a), "-o", str(tmp / "base"), "--epochs", "2", "--replicates", "2", "-q"])
    assert res.exit_code == 0, res.output
    return tmp, a, b


def _predict(model, config, cache):
    with Cache(cache) as c:
        data = load_training_set(c, get_encoding(config["encoding"]))
    return Predictor(model, config).predict(data.sequences, nt_lengths=data.nt_lengths)


def test_member_weights_are_loaded_and_the_shrinkage_folded_in(setting):
    tmp, a, _ = setting
    init = load_init(tmp / "base")
    loaded = load_model(tmp / "base")
    assert "replicates" not in init.config and len(init.states) == 2
    for r in range(3):  # replicate r starts from member r % 2
        member = loaded.model.members[r % 2]
        member.set_residual_scale(0.4)  # a shrunk member: folding s into the dense layer keeps its function
        init.states[r % 2] = {k: v.clone() for k, v in member.state_dict().items()}
        model = build_model(init.config)
        init.apply(model, r)
        assert model.residual_scale == 1.0
        np.testing.assert_allclose(_predict(model, init.config, a), _predict(member, init.config, a), atol=1e-6)


def test_train_init_starts_from_the_weights_and_records_them(setting):
    tmp, _, b = setting
    res = runner.invoke(app, ["train", str(b), "-o", str(tmp / "ft"), "--init", str(tmp / "base"),
                              "--fine-tune", "all", "--epochs", "1", "--lr", "1e-12", "--ema", "0", "-q"])
    assert res.exit_code == 0, res.output
    ft = load_model(tmp / "ft")
    base = load_init(tmp / "base")
    assert ft.training["init"]["model"] == str(tmp / "base")
    assert ft.training["init"]["sha256"] == base.source["sha256"]
    assert ft.config["arch"] == base.config["arch"]
    # lr 1e-12: the convolutions are member 1's to float precision (a fresh network's are not)
    name = next(k for k in base.states[0] if k.startswith("convs.0") and k.endswith("weight"))
    got = ft.model.state_dict()[name]
    assert torch.allclose(got, base.states[0][name], atol=1e-6)
    fresh = build_model(base.config).state_dict()[name]
    assert not torch.allclose(fresh, base.states[0][name], atol=1e-3)
    # the length prior is the new data's own: refitted on b, not a's
    assert not torch.allclose(ft.model.prior.bias, torch.as_tensor(base.states[0]["prior.bias"]))


def test_architecture_options_with_init_are_refused(setting):
    tmp, _, b = setting
    res = runner.invoke(app, ["train", str(b), "-o", str(tmp / "x"), "--init", str(tmp / "base"), "--mode", "fixed"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        "error: --init: --mode cannot be combined with --init (the architecture is the initial model's)")
    assert not (tmp / "x").exists()
    with pytest.raises(RNATrackerError, match="--arch, --length-prior"):
        check_no_architecture_options(arch="nolstm", mode=None, length_prior=False)
    check_no_architecture_options(arch=None, mode=None)
    res = runner.invoke(app, ["train", str(b), "-o", str(tmp / "x"), "--init", str(tmp / "base"), "--no-batch-norm"])
    assert res.exit_code == 1 and "error: --init: --batch-norm cannot be combined" in res.output


def test_init_needs_a_network_with_the_same_fractions(setting, tmp_path):
    tmp, a, _ = setting
    res = runner.invoke(app, ["train", str(a), "-o", str(tmp_path / "gbm"), "--arch", "kmer-gbm", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", str(a), "-o", str(tmp_path / "x"), "--init", str(tmp_path / "gbm")])
    assert res.exit_code == 1 and "is a kmer-gbm model, which is not trained by gradient steps" in res.output
    two = _cache(tmp_path / "two.h5", 20, 3, two_fractions=True)
    res = runner.invoke(app, ["train", str(two), "-o", str(tmp_path / "x"), "--init", str(tmp / "base")])
    assert res.exit_code == 1
    assert "error: --init: the model predicts cytosol, nuclear, membrane, insoluble but" in res.output
    assert "has cytosol, nucleus" in res.output


def test_cv_init_fine_tunes_its_architecture_only_and_is_part_of_the_run(setting, tmp_path):
    tmp, _, b = setting
    out = tmp_path / "cv"
    args = ["cv", str(b), "--out", str(out), "--models", "rnatracker,length", "--folds", "2", "--epochs", "1", "-q"]
    res = runner.invoke(app, [*args, "--init", str(tmp / "base")])
    assert res.exit_code == 0, res.output
    base = load_init(tmp / "base")
    part = torch.load(out / "parts" / "rnatracker" / "fold1.pt", weights_only=True)["training"]
    assert part["init"]["sha256"] == base.source["sha256"]
    options = json.loads((out / "config.json").read_text())["options"]
    assert options["init_sha256"] == base.source["sha256"] and options["fine_tune"] == "head"
    assert json.loads((out / "parts" / "rnatracker" / "fold1.json").read_text())["epochs"] == 1
    res = runner.invoke(app, args)  # resuming without --init: other options
    assert res.exit_code == 1 and "made with other options (fine_tune: 'head' → None, init:" in res.output
    res = runner.invoke(app, ["cv", str(b), "--out", str(tmp_path / "cv2"), "--models", "length", "--folds", "2",
                              "--init", str(tmp / "base")])
    assert res.exit_code == 1
    assert "error: --init: the model is a rnatracker network, which is not among --models (length)" in res.output


def test_head_fit_recovers_a_softmax_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(4000, 5))
    w_true = rng.normal(size=(3, 5)) * 0.5
    offset = torch.from_numpy(rng.normal(size=(4000, 3)))
    logits = offset.numpy() + x @ w_true.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    w, b, loss = fit_dense(x, p, offset, l2=0.0)
    got = offset.numpy() + x @ w.T + b
    q = np.exp(got - got.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    np.testing.assert_allclose(q, p, atol=1e-3)
    assert abs(loss) < 1e-5  # KL of the exact fit
    w2, _, _ = fit_dense(x, p, offset, l2=1.0)  # the penalty shrinks the weights
    assert np.abs(w2).sum() < 0.5 * np.abs(w).sum()


def test_head_fit_follows_the_training_loss():
    """--fine-tune head fits the run's --loss: on noisy fractions the clr fit and the KL fit
    differ, each is the better one under its own loss, and the reported loss is KL."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 4))
    offset = torch.zeros((3000, 3), dtype=torch.float64)
    logits = x @ (rng.normal(size=(3, 4)) * 0.8).T + rng.normal(scale=1.0, size=(3000, 3))  # noise on logits
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    fits = {name: fit_dense(x, p, offset, l2=0.0, loss=name) for name in ("kl", "clr")}
    pt = torch.from_numpy(p)

    def mean_loss(name, fit):
        w, b, _ = fit
        log_q = torch.log_softmax(torch.from_numpy(x @ w.T + b), dim=1)
        return float(loss_rows(name, log_q, pt).mean())

    assert np.abs(fits["kl"][0] - fits["clr"][0]).max() > 0.02
    assert mean_loss("clr", fits["clr"]) < mean_loss("clr", fits["kl"]) - 1e-4
    assert mean_loss("kl", fits["kl"]) < mean_loss("kl", fits["clr"]) - 1e-4
    # the third value is the KL of the fit, whatever the loss
    assert fits["clr"][2] == pytest.approx(mean_loss("kl", fits["clr"]), abs=1e-9)


def test_fine_tune_head_keeps_the_trunk_and_is_deterministic(setting):
    tmp, _, b = setting
    outs = []
    for name in ("h1", "h2"):
        res = runner.invoke(app, ["train", str(b), "-o", str(tmp / name), "--init", str(tmp / "base")])
        assert res.exit_code == 0, res.output
        assert f"rnatracker from {tmp / 'base'}: output head refitted on" in " ".join(res.output.split())
        outs.append(load_model(tmp / name))
    base = load_init(tmp / "base")
    h1, h2 = outs
    state = h1.model.state_dict()
    assert all(torch.equal(v, h2.model.state_dict()[k]) for k, v in state.items())  # deterministic
    trunk = [k for k in base.states[0] if not k.startswith(("dense.", "prior."))]
    assert trunk and all(torch.equal(state[k], base.states[0][k]) for k in trunk)
    assert not torch.allclose(state["dense.weight"], base.states[0]["dense.weight"])
    assert h1.training["epochs"] == 1 and h1.training["lr"] == 0.0
    # the dense layer is the softmax regression on the trunk's features (training split),
    # with the refitted prior's logits as offset, fitted on the run's loss (fractions: kl+clr)
    assert json.loads((tmp / "h1" / "config.json").read_text())["training"]["loss"] == "kl+clr"
    with Cache(b) as c:
        data = load_training_set(c, get_encoding(h1.config["encoding"]))
        train_idx, _ = split_validation(len(c), 0.1, 0, c.groups)
    train = data.subset(train_idx)
    model = build_model(base.config)
    base.apply(model)
    prepare_model(model, base.config, train, FitOptions(), torch.device("cpu"))
    feats = context_features(model, base.config, train, torch.device("cpu"), 50_000)
    offset = model.prior(torch.from_numpy(train.nt_lengths)).double().detach()
    w, bias, _ = fit_dense(feats, train.targets, offset, loss="kl+clr")
    np.testing.assert_allclose(h1.model.dense.weight.detach().numpy(), w, atol=1e-4)
    np.testing.assert_allclose(h1.model.dense.bias.detach().numpy(), bias, atol=1e-4)
    assert torch.allclose(h1.model.prior.bias, model.prior.bias)
    assert 0.0 <= h1.model.residual_scale <= 1.0


def test_fine_tune_values_are_checked(setting):
    tmp, a, _ = setting
    res = runner.invoke(app, ["train", str(a), "-o", str(tmp / "y"), "--fine-tune", "head"])
    assert res.exit_code == 1 and res.output.strip().endswith("error: --fine-tune needs --init (the model to start from)")
    res = runner.invoke(app, ["train", str(a), "-o", str(tmp / "y"), "--init", str(tmp / "base"), "--fine-tune", "most"])
    assert res.exit_code == 1 and "error: --fine-tune must be one of head, all (got 'most')" in res.output
    res = runner.invoke(app, ["cv", str(a), "--out", str(tmp / "y"), "--fine-tune", "all"])
    assert res.exit_code == 1 and "error: --fine-tune needs --init" in res.output
