"""Training recipe: presets, the length prior and its shrinkage, weight averaging, warm-up,
replicate ensembles, threads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnatracker_cli.cli.app import app
from rnatracker_cli.defaults import AUTO_FRACTIONS_LOSS, CLR_FLOOR
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model import checkpoint as ckpt
from rnatracker_cli.model.ensemble import Ensemble
from rnatracker_cli.presets import PRESETS, Recipe, resolve_recipe
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.loop import FitOptions, _WeightAverage, fit, fit_residual_scale
from rnatracker_cli.utils.device import set_threads


def _length_set(n: int = 80, seed: int = 0, informative_sequence: bool = False) -> TrainingSet:
    """Two fractions; long transcripts are mostly 'nuclear'. With ``informative_sequence``, a
    poly-A block also pushes towards 'nuclear'."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(80), np.log(600), n)).astype(int)
    seqs, targets = [], []
    for i, length in enumerate(lengths):
        s = rng.integers(0, 4, length).astype(np.uint8)
        logit = 2.0 * (np.log(length) - np.log(220))
        if informative_sequence and i % 2 == 0:
            s[10:40] = 0
            logit += 2.0
        p = 1 / (1 + np.exp(-logit))
        seqs.append(s)
        targets.append([1 - p, p])
    return TrainingSet(np.array([f"t{i}" for i in range(n)], dtype=object), seqs, None, lengths.astype(np.int64),
                       np.array(targets, np.float32))


def test_presets_resolve_and_explicit_options_win():
    assert PRESETS == ("default", "paper")
    default = resolve_recipe("default")
    assert default.length_prior and default.batch_norm and default.sum_pooling and default.ema == 0.99 and default.clip_norm == 1.0
    assert default.min_epochs == 10 and default.loss == "auto" and AUTO_FRACTIONS_LOSS == "kl+clr"
    paper = resolve_recipe("paper")
    assert (paper.length_prior, paper.batch_norm, paper.sum_pooling, paper.length_feature, paper.clip_norm, paper.ema,
            paper.warmup, paper.min_epochs, paper.mutation_rate, paper.weight_decay, paper.loss) == (
        False, False, False, False, 0.0, 0.0, 0, 0, 0.0, 0.0, "kl")
    assert paper.lr == 1e-4 and paper.batch_size == 1 and paper.patience == 10 and paper.mode == "full"
    fixed = resolve_recipe("paper", mode="fixed")
    assert fixed.lr == 1e-3 and fixed.batch_size == Recipe().batch_size
    assert resolve_recipe("paper", lr=3e-3, patience=None).lr == 3e-3  # given wins, None = not given
    with pytest.raises(RNATrackerError, match="unknown preset 'fast'"):
        resolve_recipe("fast")


def test_paper_preset_reaches_the_checkpoint(runner, tmp_path):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 4, int(n)).astype(np.uint8) for n in rng.integers(60, 300, 12)]
    targets = rng.dirichlet([1, 1], 12).astype(np.float32)
    cache = write_cache(tmp_path / "c.h5", ids=[f"t{i}" for i in range(12)], sequences=seqs, targets=targets, fractions=["a", "b"])
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "paper"), "--preset", "paper", "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "paper" / "config.json").read_text())
    assert config["model"]["length_prior"] is False and config["model"]["batch_norm"] is False
    assert (config["training"]["lr"], config["training"]["batch_size"], config["training"]["clip_norm"], config["training"]["ema"]) == (
        1e-4, 1, 0.0, 0.0)
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "d"), "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    model = json.loads((tmp_path / "d" / "config.json").read_text())["model"]
    assert model["length_prior"] is True and model["batch_norm"] is True
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "nobn"), "--epochs", "1", "-q", "--no-batch-norm"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "nobn" / "config.json").read_text())["model"]["batch_norm"] is False
    assert model["sum_pooling"] is True and config["model"]["sum_pooling"] is False
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "nosum"), "--epochs", "1", "-q", "--no-sum-pooling"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "nosum" / "config.json").read_text())["model"]["sum_pooling"] is False
    res = runner.invoke(app, ["predict", "--model", str(tmp_path / "d"), "-"], input=">x\n" + "ACGU" * 40 + "\n")
    assert res.exit_code == 0 and res.stdout.splitlines()[1].startswith("x\t160\t"), res.output
    for bad, message in ((["--preset", "fast"], "unknown preset 'fast'"), (["--replicates", "0"], "--replicates must be at least 1"),
                         (["--ema", "1.5"], "--ema must be in [0, 1)"), (["--threads", "0"], "--threads must be at least 1")):
        res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "bad"), "--epochs", "1", *bad])
        assert res.exit_code == 1 and f"error: {message}" in res.output and "Traceback" not in res.output, (bad, res.output)
    assert not (tmp_path / "bad").exists()
    res = runner.invoke(app, ["cv", str(cache), "-o", str(tmp_path / "cvbad"), "--preset", "fast"])
    assert res.exit_code == 1 and "error: unknown preset 'fast'" in res.output


def test_length_prior_starts_at_the_length_model_and_matches_its_fit():
    data = _length_set()
    config = default_config("rnatracker", 2, length_prior=True)
    model = build_model(config)
    model.fit_prior(torch.from_numpy(data.nt_lengths), torch.from_numpy(data.targets))
    # Maximum likelihood of a 2-class softmax on standardised log length: compare with a direct fit.
    z = (np.log(data.nt_lengths) - np.log(data.nt_lengths).mean()) / np.log(data.nt_lengths).std(ddof=1)
    w, b = 0.0, 0.0
    for _ in range(3000):  # gradient descent on the (convex) logistic loss
        p = 1 / (1 + np.exp(-(w * z + b)))
        w -= 0.5 * np.mean((p - data.targets[:, 1]) * z)
        b -= 0.5 * np.mean(p - data.targets[:, 1])
    weight, bias = model.prior.weight.numpy(), model.prior.bias.numpy()
    assert weight[1] - weight[0] == pytest.approx(w, abs=2e-2) and bias[1] - bias[0] == pytest.approx(b, abs=2e-2)
    # The dense layer starts at zero: the untrained network predicts exactly the prior.
    probs = Predictor(model, config).predict(data.sequences, nt_lengths=data.nt_lengths)
    expected = 1 / (1 + np.exp(-(weight[1] - weight[0]) * z - (bias[1] - bias[0])))
    np.testing.assert_allclose(probs[:, 1], expected, atol=1e-5)


def test_residual_scale_is_fitted_on_held_out_data():
    data = _length_set(60, seed=2)
    config = default_config("rnatracker", 2, length_prior=True)
    model = build_model(config)
    model.fit_prior(torch.from_numpy(data.nt_lengths), torch.from_numpy(data.targets))
    with torch.no_grad():  # a sequence part that is pure noise: shrinkage must turn it (nearly) off
        model.dense.weight.normal_(0, 3.0)
        model.dense.bias.normal_(0, 3.0)
    model.eval()
    s = fit_residual_scale(model, config, data, torch.device("cpu"))
    assert 0.0 <= s <= 0.2 and model.residual_scale == s
    with torch.no_grad():  # a part that is exactly right is kept
        model.dense.weight.zero_()
        model.dense.bias.zero_()
    assert fit_residual_scale(model, config, data, torch.device("cpu")) == 0.0  # zero part: tie → smallest s


def test_training_with_the_prior_never_ends_above_the_length_model():
    train, val = _length_set(120, seed=3, informative_sequence=True), _length_set(40, seed=4, informative_sequence=True)
    config = default_config("rnatracker", 2, length_prior=True)
    torch.manual_seed(0)
    model = build_model(config)
    result = fit(model, config, train, val, FitOptions(epochs=4, seed=0, batch_nt=20_000, min_epochs=0), torch.device("cpu"))
    length_only = build_model(config)
    length_only.fit_prior(torch.from_numpy(train.nt_lengths), torch.from_numpy(train.targets))
    from rnatracker_cli.training.loop import evaluate

    prior_loss = evaluate(length_only.eval(), config, val, "cpu")[0]
    final_loss = evaluate(model, config, val, "cpu")[0]
    assert result.residual_scale is not None and 0.0 <= result.residual_scale <= 1.0
    assert final_loss <= prior_loss + 1e-6


def test_weight_average_tracks_the_mean_of_recent_weights():
    model = torch.nn.Linear(1, 1, bias=False)
    avg = _WeightAverage(model, decay=0.5)
    for v in (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
        model.weight.data.fill_(v)
        avg.update(model)
    assert avg.state(model)["weight"].item() == pytest.approx(1.0, abs=0.01)  # start bias corrected away
    model.weight.data.fill_(3.0)
    avg.update(model)
    assert avg.state(model)["weight"].item() == pytest.approx(2.0, abs=1e-3)  # 0.5·1 + 0.5·3
    with avg.applied(model):
        assert model.weight.item() == pytest.approx(2.0, abs=1e-3)
    assert model.weight.item() == 3.0  # live weights restored
    assert _WeightAverage(model, 0.0).state(model)["weight"].item() == 3.0


def test_warmup_ramps_the_learning_rate():
    data = _length_set(40, seed=5)
    config = default_config("kmer-nn", 2)
    model = build_model(config)
    seen = []
    original = torch.optim.NAdam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.NAdam.step = spy
    try:
        fit(model, config, data, None, FitOptions(epochs=2, lr=1e-2, batch_size=10, warmup=1, seed=0), torch.device("cpu"))
    finally:
        torch.optim.NAdam.step = original
    steps = len(seen) // 2
    np.testing.assert_allclose(seen[:steps], [1e-2 * (i + 1) / steps for i in range(steps)])
    assert seen[steps:] == [1e-2] * steps


def test_mutate_sequences_redraws_bases_at_the_given_rate():
    from rnatracker_cli.training.data import mutate_sequences

    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, n).astype(np.uint8) for n in (5_000, 20_000, 1)]
    before = [s.copy() for s in seqs]
    gen = np.random.default_rng(7)
    state = gen.bit_generator.state
    assert mutate_sequences(seqs, 0.0, gen) is seqs and gen.bit_generator.state == state  # off: nothing drawn
    out = mutate_sequences(seqs, 0.2, np.random.default_rng(7))
    for s, b in zip(seqs, before):
        np.testing.assert_array_equal(s, b)  # inputs untouched
    assert [o.dtype for o in out] == [np.uint8] * 3 and [len(o) for o in out] == [5_000, 20_000, 1]
    changed = np.concatenate([o != b for o, b in zip(out, before)])
    # A redrawn base differs from an A/C/G/T with probability 3/4, from an N always: ≈ 0.2·(0.8·3/4 + 0.2).
    assert changed.mean() == pytest.approx(0.2 * (0.8 * 0.75 + 0.2), abs=0.01)
    assert np.concatenate([o[c] for o, c in zip(out, [o != b for o, b in zip(out, before)])]).max() <= 3  # bases, never N
    again = mutate_sequences(before, 0.2, np.random.default_rng(7))
    for a, o in zip(again, out):
        np.testing.assert_array_equal(a, o)  # same generator state, same mutations


def _tiny_cache(tmp_path):
    """16 random transcripts of 60–300 nt with random 3-fraction targets (seeded)."""
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 4, int(n)).astype(np.uint8) for n in rng.integers(60, 300, 16)]
    targets = rng.dirichlet([1, 1, 1], 16).astype(np.float32)
    return write_cache(tmp_path / "c.h5", ids=[f"t{i}" for i in range(16)], sequences=seqs, targets=targets,
                       fractions=["a", "b", "c"])


def test_mutation_rate_is_validated_recorded_and_changes_training(runner, tmp_path):
    cache = _tiny_cache(tmp_path)
    for bad in ("0.7", "-0.1"):
        res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "bad"), "--mutation-rate", bad, "-q"])
        assert res.exit_code == 1 and res.output.strip().splitlines() == [
            "error: --mutation-rate must be in [0, 0.5] (0 = no mutations)"], res.output
    weights = {}
    for rate in ("0", "0.1"):
        out = tmp_path / f"m{rate}"
        res = runner.invoke(app, ["train", str(cache), "-o", str(out), "--epochs", "2", "--mutation-rate", rate, "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "config.json").read_text())["training"]["mutation_rate"] == float(rate)
        weights[rate] = ckpt.load_model(out).model.state_dict()
    assert not all(torch.equal(weights["0"][k], weights["0.1"][k]) for k in weights["0"])


def test_weight_decay_is_validated_recorded_and_shrinks_weights_not_the_prior(runner, tmp_path):
    cache = _tiny_cache(tmp_path)
    for bad in ("-0.1", "nan", "1000"):
        res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "bad"), "--weight-decay", bad, "-q"])
        assert res.exit_code == 1 and res.output.strip().splitlines() == [
            "error: --weight-decay must be in [0, 100] (0 = no weight decay)"], res.output
    assert not (tmp_path / "bad").exists()
    states = {}
    for wd in ("0", "20"):
        out = tmp_path / f"wd{wd}"
        res = runner.invoke(app, ["train", str(cache), "-o", str(out), "--epochs", "3", "--ema", "0", "--weight-decay", wd,
                                  "--val-fraction", "0", "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "config.json").read_text())["training"]["weight_decay"] == float(wd)
        states[wd] = ckpt.load_model(out).model.state_dict()
    matrices = [k for k, v in states["0"].items() if v.ndim >= 2]
    # Decay shrinks every weight matrix and kernel; the length prior (a buffer) is untouched.
    for k in matrices:
        assert states["20"][k].norm() < states["0"][k].norm(), k
    for k in (k for k in states["0"] if k.startswith("prior.")):
        assert torch.equal(states["0"][k], states["20"][k]), k


def test_make_optimizer_decays_only_matrices():
    from torch import nn

    from rnatracker_cli.training.loop import make_optimizer

    model = nn.Sequential(nn.Conv1d(4, 3, 5), nn.BatchNorm1d(3), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(2, 4, 9))
    plain = make_optimizer(model, 1e-3)
    assert len(plain.param_groups) == 1 and plain.param_groups[0]["weight_decay"] == 0
    opt = make_optimizer(model, 1e-3, 0.5)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.5 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[3].weight)}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    # One step with zero gradients: decayed weights shrink by exactly lr × decay, the rest stay.
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        factor = 1 - 1e-3 * 0.5 if p.ndim >= 2 else 1.0
        torch.testing.assert_close(p.detach(), before[n] * factor)


def test_loss_is_validated_recorded_and_changes_training(runner, tmp_path):
    cache = _tiny_cache(tmp_path)
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "bad"), "--loss", "mse", "-q"])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        "error: unknown --loss 'mse' (expected one of auto, kl, clr, kl+clr)"], res.output
    assert not (tmp_path / "bad").exists()
    weights = {}
    for loss in ("kl", "clr", "kl+clr"):
        out = tmp_path / loss
        res = runner.invoke(app, ["train", str(cache), "-o", str(out), "--epochs", "2", "--loss", loss, "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "config.json").read_text())["training"]["loss"] == loss
        weights[loss] = ckpt.load_model(out).model.state_dict()
    for a, b in (("kl", "clr"), ("kl", "kl+clr"), ("clr", "kl+clr")):
        assert not all(torch.equal(weights[a][k], weights[b][k]) for k in weights[a]), (a, b)


def test_clr_loss_is_refused_on_label_targets(runner, tmp_path):
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 4, int(n)).astype(np.uint8) for n in rng.integers(60, 300, 12)]
    labels = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 12)]
    cache = write_cache(tmp_path / "labels.h5", ids=[f"t{i}" for i in range(12)], sequences=seqs, targets=labels,
                        fractions=["cytosol", "nucleus"])
    message = (f"error: --loss clr needs measured fractions, but 12 of the 12 targets in {cache} are 0/1 labels; "
               "use --loss kl (cross-entropy on labels)")
    for cmd in (["train", str(cache), "-o", str(tmp_path / "t")], ["cv", str(cache), "--out", str(tmp_path / "c"), "--folds", "2"]):
        for loss in ("clr", "kl+clr"):
            res = runner.invoke(app, [*cmd, "--loss", loss, "-q"])
            assert res.exit_code == 1 and res.output.strip() == message.replace("clr", loss, 1), res.output
    assert not (tmp_path / "t").exists() and not (tmp_path / "c").exists()
    # The default (auto) trains these labels with KL, and records it.
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "t"), "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "t" / "config.json").read_text())["training"]["loss"] == "kl"


def test_auto_loss_on_fractions_is_the_documented_one_and_recorded(runner, tmp_path):
    cache = _tiny_cache(tmp_path)  # Dirichlet fractions, no 0/1 labels
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "auto"), "--epochs", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["training"]["loss"] == AUTO_FRACTIONS_LOSS
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "x"), "--epochs", "2", "--loss", AUTO_FRACTIONS_LOSS, "-q"])
    assert res.exit_code == 0, res.output
    a, b = ckpt.load_model(tmp_path / "auto").model.state_dict(), ckpt.load_model(tmp_path / "x").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # auto on fractions is that loss exactly
    res = runner.invoke(app, ["cv", str(cache), "--out", str(tmp_path / "cv"), "--folds", "2", "--fold", "1",
                              "--models", "kmer-nn", "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cv" / "config.json").read_text())["options"]["loss"] == AUTO_FRACTIONS_LOSS


def test_clr_loss_values_and_symmetry():
    from rnatracker_cli.training.metrics import clr_rows, kl_rows, loss_rows

    p = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    # Zero when the prediction equals the target (targets floored at CLR_FLOOR on both sides).
    assert torch.allclose(clr_rows(torch.log(p.clamp_min(CLR_FLOOR)), p), torch.zeros(2), atol=1e-6)
    # Hand value: target uniform, prediction logits (1, 0, 0, 0): centred log q = (0.75, -0.25, -0.25, -0.25).
    log_q = torch.log_softmax(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), dim=1)
    assert clr_rows(log_q, p[:1]).item() == pytest.approx(0.5 * (0.75**2 + 3 * 0.25**2) / 4)
    # Invariant to a constant added to every logit; KL's scale for small changes around uniform.
    logits = torch.tensor([[0.05, -0.02, 0.01, -0.04]])
    assert clr_rows(torch.log_softmax(logits + 3.0, 1), p[:1]).item() == pytest.approx(
        clr_rows(torch.log_softmax(logits, 1), p[:1]).item(), rel=1e-5)
    assert clr_rows(torch.log_softmax(logits, 1), p[:1]).item() == pytest.approx(
        kl_rows(torch.log_softmax(logits, 1), p[:1]).item(), rel=0.05)
    # A fraction pushed down by a logit step costs what the same step up costs (KL: about half).
    base = torch.zeros(1, 4)
    up, down = base.clone(), base.clone()
    up[0, 0], down[0, 0] = 1.5, -1.5
    target_up, target_down = torch.softmax(up, 1), torch.softmax(down, 1)
    log_uniform = torch.log_softmax(base, 1)
    assert clr_rows(log_uniform, target_up).item() == pytest.approx(clr_rows(log_uniform, target_down).item(), rel=1e-5)
    assert kl_rows(log_uniform, target_down).item() < 0.7 * kl_rows(log_uniform, target_up).item()
    assert torch.equal(loss_rows("kl", log_q, p[:1]), kl_rows(log_q, p[:1]))
    assert torch.allclose(loss_rows("kl+clr", log_q, p[:1]), kl_rows(log_q, p[:1]) + clr_rows(log_q, p[:1]))


def test_replicates_make_one_ensemble_checkpoint(runner, tmp_path):
    cache = _tiny_cache(tmp_path)
    res = runner.invoke(app, ["train", str(cache), "-o", str(tmp_path / "ens"), "--replicates", "3", "--epochs", "2", "-q"])
    assert res.exit_code == 0, res.output
    loaded = ckpt.load_model(tmp_path / "ens")
    assert isinstance(loaded.model, Ensemble) and len(loaded.model.members) == 3
    assert loaded.config["replicates"] == 3 and [m["seed"] for m in loaded.training["members"]] == [0, 1, 2]
    log = (tmp_path / "ens" / "log.tsv").read_text().splitlines()
    assert log[0].startswith("replicate\tepoch") and {line.split("\t")[0] for line in log[1:]} == {"1", "2", "3"}
    # The ensemble's prediction is the mean of its members' distributions.
    x = torch.zeros(2, 4, 120)
    x[:, 1] = 1.0
    lengths, nt = torch.tensor([120, 100]), torch.tensor([120, 100])
    members = loaded.model.member_log_probs(x, lengths, nt).exp()
    np.testing.assert_allclose(loaded.model(x, lengths, nt).exp().detach(), members.mean(0).detach(), atol=1e-6)
    assert not torch.allclose(members[0], members[1])  # different seeds, different members


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert set_threads(None) == 1 and torch.get_num_threads() == 1
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
        with pytest.raises(RNATrackerError, match="--threads"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_every_transcript_weighs_the_same_whatever_its_batch(monkeypatch):
    """Loss of a batch = its summed per-transcript KL / the epoch's mean batch size: with length
    buckets of very different sizes, each transcript's KL enters its batch's loss with the same
    weight (n_batches / n_transcripts), not 1 / its batch's size."""
    import rnatracker_cli.training.loop as loop

    lengths = [60] * 30 + [2000] * 3  # many short transcripts, a few long ones: unequal buckets
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in lengths]
    data = TrainingSet(np.array([f"t{i}" for i in range(len(seqs))], dtype=object), seqs, None,
                       np.array(lengths, dtype=np.int64), rng.dirichlet([1, 1], len(seqs)).astype(np.float32))
    seen = []  # (per-row KL, loss passed to backward)
    real_loss_rows = loop.loss_rows

    def spy_loss_rows(name, log_q, p):
        rows = real_loss_rows(name, log_q, p)
        seen.append([rows.detach().clone(), None])
        return rows

    real_backward = torch.Tensor.backward

    def spy_backward(self, *args, **kwargs):
        seen[-1][1] = float(self.detach())
        return real_backward(self, *args, **kwargs)

    monkeypatch.setattr(loop, "loss_rows", spy_loss_rows)
    monkeypatch.setattr(torch.Tensor, "backward", spy_backward)
    config = default_config("kmer-nn", 2)
    fit(build_model(config), config, data, None, FitOptions(epochs=1, batch_nt=4_000, seed=0, ema=0.0, warmup=0),
        torch.device("cpu"))
    sizes = sorted({len(rows) for rows, _ in seen})
    assert len(seen) > 2 and sizes[0] <= 2 and sizes[-1] >= 20  # buckets of very different sizes
    weight = len(seen) / len(seqs)
    for rows, loss in seen:
        assert loss == pytest.approx(float(rows.sum()) * weight, rel=1e-5)
