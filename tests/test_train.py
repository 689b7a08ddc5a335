"""`train`: fit loop, early stopping, split, checkpoints, run directory and CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnatracker_cli.alphabet import encode
from rnatracker_cli.cli.app import app
from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.simulate import simulate_dataset
from rnatracker_cli.model import checkpoint as ckpt
from rnatracker_cli.training.data import TrainingSet, load_training_set, split_validation
from rnatracker_cli.training.loop import DEFAULT_BATCH_NT, DEFAULT_CLIP_NORM, DEFAULT_PATIENCE, FitOptions, evaluate, fit
from rnatracker_cli.utils.device import resolve_device


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    d = simulate_dataset(n=24, seed=5, max_length=900)
    path = tmp_path_factory.mktemp("train") / "small.h5"
    write_cache(path, ids=d.ids, sequences=d.sequences, targets=d.targets, fractions=d.fractions, genes=d.genes)
    return path


def test_split_is_seeded_and_keeps_genes_together():
    genes = [f"g{i // 3}" for i in range(30)]  # 10 genes × 3 isoforms
    train, val = split_validation(30, 0.2, seed=4, genes=genes)
    again = split_validation(30, 0.2, seed=4, genes=genes)
    assert np.array_equal(val, again[1]) and len(val) == 6
    assert set(train) | set(val) == set(range(30)) and not set(train) & set(val)
    assert {genes[i] for i in val}.isdisjoint({genes[i] for i in train})
    assert not np.array_equal(val, split_validation(30, 0.2, seed=5, genes=genes)[1])
    assert len(split_validation(30, 0.0, 1)[1]) == 0
    with pytest.raises(RNATrackerError):
        split_validation(30, 1.0, 1)


def test_training_fits_100_simulated_transcripts():
    """The paper's network (dropout off, small batches) memorises 100 simulated transcripts.

    The training set doubles as the monitored set, so the epoch with the lowest (dropout-free)
    training loss is the one kept.
    """
    d = simulate_dataset(n=100, seed=3, max_length=800)
    data = TrainingSet(np.array(d.ids, dtype=object), d.sequences, None,
                       np.array([len(s) for s in d.sequences]), d.targets)
    config = default_config("rnatracker", 4, dropout=0.0)
    torch.manual_seed(3)
    model = build_model(config)
    result = fit(model, config, data, data, FitOptions(epochs=100, lr=2e-3, batch_size=4, patience=0, seed=3),
                 torch.device("cpu"))
    losses = [r.train_loss for r in result.history]
    assert min(losses[-10:]) < 0.25 * losses[0]
    assert result.best.val_loss < 0.25 * result.history[0].val_loss
    _, pearson, _ = evaluate(model, config, data, torch.device("cpu"), 10**6)
    assert pearson.min() > 0.9, pearson


def test_early_stopping_restores_the_best_epoch():
    d = simulate_dataset(n=40, seed=9, max_length=600)
    data = TrainingSet(np.array(d.ids, dtype=object), d.sequences, None,
                       np.array([len(s) for s in d.sequences]), d.targets)
    train, val = data.subset(np.arange(30)), data.subset(np.arange(30, 40))
    config = default_config("kmer-dnn", 4)
    model = build_model(config)
    # A high learning rate overfits 30 transcripts fast: validation loss turns up early.
    result = fit(model, config, train, val, FitOptions(epochs=30, lr=3e-3, batch_size=8, patience=3, seed=1, min_epochs=0),
                 torch.device("cpu"))
    assert result.stopped_early and len(result.history) == result.best_epoch + 3
    best = min(r.val_loss for r in result.history)
    assert result.best.val_loss == best
    val_loss, _, _ = evaluate(model, config, val, torch.device("cpu"), 10**6)
    assert val_loss == pytest.approx(best, rel=1e-6, abs=1e-7)


def _step_grad_norms(monkeypatch, clip_norm):
    """Global gradient norm seen by the optimiser at every step of a short fit."""
    norms = []
    original = torch.optim.NAdam.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.NAdam, "step", step)
    d = simulate_dataset(n=24, seed=5, max_length=900)
    data = TrainingSet(np.array(d.ids, dtype=object), d.sequences, None,
                       np.array([len(s) for s in d.sequences]), d.targets)
    config = default_config("rnatracker", 4)
    torch.manual_seed(0)
    fit(build_model(config), config, data, None,
        FitOptions(epochs=2, batch_size=6, patience=0, seed=0, clip_norm=clip_norm), torch.device("cpu"))
    monkeypatch.undo()
    return np.array(norms)


def test_gradient_clipping_bounds_every_step(monkeypatch):
    free = _step_grad_norms(monkeypatch, 0.0)
    assert len(free) == 8 and free.max() > 1e-3  # unclipped gradients are larger than the cap below
    clipped = _step_grad_norms(monkeypatch, 1e-3)
    assert len(clipped) == 8 and clipped.max() <= 1e-3 * (1 + 1e-4)
    assert clipped.min() > 0.99e-3  # clipped, not zeroed
    assert FitOptions().clip_norm == DEFAULT_CLIP_NORM == 1.0


def test_train_cli_writes_the_run_directory(runner, small_cache, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(small_cache), "--out", str(out), "--epochs", "2", "--seed", "3",
                              "--batch-nt", "20000", "--val-fraction", "0.25", "--quiet"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.tsv", "loss.png", "model.pt"]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["arch"] == "rnatracker" and config["model"]["mode"] == "full"
    assert config["training"]["seed"] == 3 and config["training"]["lr"] == 1e-3
    assert config["training"]["clip_norm"] == 1.0
    assert config["training"]["n_train"] + config["training"]["n_val"] == 24
    log = [line.split("\t") for line in (out / "log.tsv").read_text().splitlines()]
    assert log[0] == ["replicate", "epoch", "train_loss", "val_loss", "val_pearson_cytosol", "val_pearson_nuclear",
                      "val_pearson_membrane", "val_pearson_insoluble", "val_pearson_mean", "seconds"]
    assert [row[:2] for row in log[1:]] == [["1", "1"], ["1", "2"]] and all(float(row[2]) > 0 for row in log[1:])
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    payload = torch.load(out / "model.pt", weights_only=True)
    assert set(payload) == {"format", "format_version", "rnatracker_version", "config", "fractions", "state_dict", "training"}
    with Cache(small_cache) as cache:
        assert payload["training"]["data_sha256"] == cache.content_sha256
    assert payload["training"]["seed"] == 3 and payload["training"]["epochs"] == 2
    assert payload["fractions"] == ["cytosol", "nuclear", "membrane", "insoluble"]
    # an existing run is never overwritten without --force
    again = runner.invoke(app, ["train", str(small_cache), "--out", str(out), "--epochs", "1", "--quiet"])
    assert again.exit_code == 1 and "error:" in again.output and "--force" in again.output
    forced = runner.invoke(app, ["train", str(small_cache), "--out", str(out), "--epochs", "1", "--force",
                                 "--arch", "kmer-nn", "--mode", "fixed", "--max-len", "500", "--quiet"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "config.json").read_text())["model"]["max_len"] == 500
    assert len((out / "log.tsv").read_text().splitlines()) == 2


def test_train_cli_bad_inputs(runner, small_cache, tmp_path):
    res = runner.invoke(app, ["train", str(small_cache), "--out", str(tmp_path / "r"), "--encoding", "seqxstruct"])
    assert res.exit_code == 1 and "rnatracker fold" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # nothing created on failure
    res = runner.invoke(app, ["train", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "not found" in res.output
    res = runner.invoke(app, ["train", str(small_cache), "--out", str(tmp_path / "r"), "--arch", "bert"])
    assert res.exit_code == 1 and "unknown architecture" in res.output
    res = runner.invoke(app, ["train", str(small_cache), "--out", str(tmp_path / "r"), "--val-fraction", "1.5"])
    assert res.exit_code == 1 and "--val-fraction" in res.output
    res = runner.invoke(app, ["train", str(small_cache), "--out", str(tmp_path / "r"), "--clip-norm", "-1"])
    assert res.exit_code == 1 and "error: --clip-norm must be >= 0" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_cli_defaults_come_from_the_preset():
    """Training options left out on the command line take the preset's values (an explicit one wins)."""
    import inspect

    from rnatracker_cli.cli.train import train
    from rnatracker_cli.presets import Recipe, resolve_recipe

    params = inspect.signature(train).parameters
    for name in ("mode", "batch_nt", "patience", "clip_norm", "batch_size", "epochs", "ema", "warmup", "min_epochs",
                 "length_feature", "length_prior", "batch_norm", "sum_pooling", "lr", "mutation_rate", "weight_decay", "loss"):
        assert params[name].default is None, name
    assert params["preset"].default == "default"
    r = resolve_recipe("default")
    assert r == Recipe()
    assert (r.batch_nt, r.patience, r.clip_norm, r.epochs, r.mode) == (DEFAULT_BATCH_NT, DEFAULT_PATIENCE, DEFAULT_CLIP_NORM, 100, "full")
    assert r.batch_nt == FitOptions().batch_nt and r.patience == FitOptions().patience and r.ema == FitOptions().ema


def test_checkpoint_round_trip_gives_identical_predictions(small_cache, tmp_path):
    with Cache(small_cache) as cache:
        data = load_training_set(cache, get_encoding("seq"))
    for arch, kw in (("rnatracker", {"length_feature": True}), ("kmer-dnn", {})):
        config = default_config(arch, 4, **kw)
        model = build_model(config)
        fit(model, config, data, None, FitOptions(epochs=1, seed=0), torch.device("cpu"))
        before = Predictor(model, config).predict(data.sequences)
        path = ckpt.save_checkpoint(tmp_path / f"{arch}.pt", model, config, ["a", "b", "c", "d"], {"seed": 0})
        loaded = ckpt.load_model(path)
        after = Predictor(loaded.model, loaded.config).predict(data.sequences)
        assert np.array_equal(before, after)
        assert loaded.config == config and loaded.fractions == ["a", "b", "c", "d"]


def test_loading_something_else_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model\n")
    with pytest.raises(InputError, match="not an rnatracker model checkpoint"):
        ckpt.load_model(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(InputError, match="not an rnatracker model checkpoint"):
        ckpt.load_model(plain)
    model = build_model(default_config("nolstm", 2))
    path = ckpt.save_checkpoint(tmp_path / "m.pt", model, default_config("nolstm", 2), ["x", "y"], {})
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(InputError, match="format version 99"):
        ckpt.load_model(tmp_path / "future.pt")
    with pytest.raises(InputError, match="not found"):
        ckpt.load_model(tmp_path / "absent.pt")
    with pytest.raises(InputError, match="without model.pt"):
        ckpt.load_model(tmp_path)
    (tmp_path / "run").mkdir()
    ckpt.save_checkpoint(tmp_path / "run" / "model.pt", model, default_config("nolstm", 2), ["x", "y"], {})
    assert ckpt.load_model(tmp_path / "run").fractions == ["x", "y"]  # a run directory works too


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RNATrackerError, match="expected auto"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RNATrackerError, match="CUDA is not available"):
            resolve_device("cuda:0")
        with pytest.raises(RNATrackerError, match="CUDA"):
            fit(build_model(default_config("kmer-nn", 2)), default_config("kmer-nn", 2),
                TrainingSet(np.array(["a"], dtype=object), [np.zeros(5, np.uint8)], None, np.array([5]),
                            np.array([[1.0, 0.0]], np.float32)),
                None, FitOptions(epochs=1, bf16=True), torch.device("cpu"))


def test_structure_encodings_train_on_a_folded_cache(runner, tmp_path):
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 5, size=n).astype(np.uint8) for n in (80, 150, 300, 60, 220, 90)]
    path = write_cache(tmp_path / "folded.h5", ids=[f"t{i}" for i in range(6)], sequences=seqs,
                       targets=np.tile(np.array([[0.3, 0.7]], np.float32), (6, 1)), fractions=["a", "b"])
    with Cache(path, "r+") as cache:
        cache.ensure_structure({"test": True})
        cache.write_structure(range(6), [rng.integers(0, 6, size=len(s)).astype(np.uint8) for s in seqs])
    for encoding in ("seqxstruct", "seq+struct"):
        out = tmp_path / encoding
        res = runner.invoke(app, ["train", str(path), "--out", str(out), "--encoding", encoding, "--epochs", "1", "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "config.json").read_text())["model"]["encoding"] == encoding
        assert torch.load(out / "model.pt", weights_only=True)["training"]["structure_params"] == {"test": True}
        fa = tmp_path / "x.fa"
        fa.write_text(">x\nGGGGGGAAAACCCCCCTTTTTTTTTTGGGGGGAAAACCCCCCAAAAAAAAAAACGTACGTACGTACG\n>y\nACGTTGCA\n")
        res = runner.invoke(app, ["predict", str(out), str(fa), "-q"])  # folded on the fly
        assert res.exit_code == 0, res.output
        rows = [line.split("\t") for line in res.stdout.splitlines()]
        assert [r[0] for r in rows] == ["id", "x", "y"]
        from rnatracker_cli.structure import fold_sequence

        loaded = ckpt.load_model(out)
        codes = [encode(line.strip())[0] for line in fa.read_text().splitlines()[1::2]]
        expected = Predictor(loaded.model, loaded.config).predict(codes, structures=[fold_sequence(c) for c in codes])
        np.testing.assert_allclose([[float(v) for v in r[2:-1]] for r in rows[1:]], expected, atol=5e-5)


def test_help_shows_the_preset_defaults(runner):
    """Preset defaults in help texts are shown, not eaten as rich markup tags."""
    for command, shown in ((["train"], ["[default preset: 20]", "[default preset: 0.99]", "[preset: 100]"]),
                           (["cv"], ["[default preset: 0]", "[default preset: auto; paper: kl]"]),
                           (["scan-zipcodes"], ["[default preset: 10; paper: 1]", "[preset: 10]"]),
                           (["workflow", "init"], ['pip install "rnatracker[workflow]"'])):
        res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        for text in shown:
            assert text in res.output, (command, text)


def test_every_bracketed_help_text_is_shown(runner):
    """Every `[...]` in any command's or option's help (escaped as `\\[` for rich markup) is
    rendered: an unescaped bracket in a new help text would be eaten as a markup tag."""
    import re

    from typer.main import get_command

    def commands(cmd, path):
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                yield from commands(sub, [*path, name])
        else:
            yield path, cmd

    checked = 0
    for path, cmd in commands(get_command(app), []):
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        wanted = [" ".join(seg.split()) for t in texts for seg in re.findall(r"\[[^\]\n]*\]", t.replace("\\[", "["))]
        if not wanted:
            continue
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        shown = " ".join(res.output.replace("│", " ").split())
        for seg in wanted:
            assert seg in shown, (path, seg)
            checked += 1
    assert checked >= 20  # train, cv, scan-zipcodes and workflow init have bracketed defaults
