"""Clean stops on SIGTERM/SIGINT (cluster time limits): real signals sent to real subprocesses.

Each test starts ``python -m rnatracker_cli …`` on tiny data with settings that keep it busy,
waits until it has finished some work, signals it, and checks the exit code, the message, what
was kept and that the next run resumes (cv, scan) or that the previous run is untouched (train).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import load_model, save_checkpoint
from rnatracker_cli.simulate import simulate_dataset
from rnatracker_cli.utils.signals import Interrupted, stop_on_signals

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    d = simulate_dataset(n=16, seed=5, max_length=600)
    path = tmp_path_factory.mktemp("interrupt") / "tiny.h5"
    write_cache(path, ids=d.ids, sequences=d.sequences, targets=d.targets, fractions=d.fractions, genes=d.genes)
    return path


def _start(*args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rnatracker_cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_when(proc: subprocess.Popen, ready, signum=signal.SIGTERM, timeout=120.0) -> tuple[int, str]:
    """Send ``signum`` once ``ready()`` is true; return (exit code, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended before it was signalled (rc {proc.returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("process never reached the state to signal")
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _epochs_logged(log: Path) -> int:
    try:
        return max(0, len(log.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name]


def test_stop_on_signals_raises_interrupted_and_restores_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts the sleep
    assert info.value.exit_code == 143 and info.value.signal_name == "SIGTERM"
    assert isinstance(info.value, KeyboardInterrupt)  # every Ctrl-C cleanup path applies
    assert signal.getsignal(signal.SIGTERM) is before


def test_train_sigterm_keeps_previous_run_and_best_checkpoint(runner, tiny_cache, tmp_path):
    from rnatracker_cli.cli.app import app

    out = tmp_path / "run"
    first = runner.invoke(app, ["train", str(tiny_cache), "--out", str(out), "--arch", "kmer-nn", "--epochs", "1", "--quiet"])
    assert first.exit_code == 0, first.output
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(previous) == ["config.json", "log.tsv", "loss.png", "model.pt"]

    partial = tmp_path / "run.partial"
    proc = _start("train", tiny_cache, "--out", out, "--force", "--epochs", 100000, "--patience", 0,
                  "--batch-size", 4, "--quiet")
    rc, err = _signal_when(proc, lambda: _epochs_logged(partial / "log.tsv") >= 1)
    assert rc == 143, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: interrupted by SIGTERM") and "run.partial" in lines[-1], err
    assert "Traceback" not in err
    # The previous run is untouched: --force replaces it only when the new run has finished.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous
    # The interrupted run keeps its log and its best checkpoint so far (loadable as it is).
    assert {"config.json", "log.tsv", "model.pt"} <= {p.name for p in partial.iterdir()}
    loaded = load_model(partial / "model.pt")
    assert loaded.training["complete"] is False and 1 <= loaded.training["best_epoch"] <= _epochs_logged(partial / "log.tsv")
    assert _temp_files(tmp_path) == []
    # The next run must not silently discard it.
    partial.rename(tmp_path / "new.partial")
    refused = runner.invoke(app, ["train", str(tiny_cache), "--out", str(tmp_path / "new"), "--epochs", "1"])
    assert refused.exit_code == 1 and "new.partial holds an interrupted run" in refused.stderr
    assert (tmp_path / "new.partial" / "model.pt").exists() and not (tmp_path / "new").exists()


def test_train_force_replaces_the_run_only_at_the_end(tiny_cache, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "loss.png").write_bytes(b"old plot")
    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions, partial_dir, train_run

    seen = []

    def on_epoch(record, is_best):
        # While training, the new run lives in OUT.partial and OUT still holds the old files.
        seen.append(sorted(p.name for p in out.iterdir()))
        assert (partial_dir(out) / "model.pt").exists()

    train_run(tiny_cache, out, ModelOptions(arch="kmer-nn"), FitOptions(epochs=2, batch_size=4), force=True,
              on_epoch=on_epoch)
    assert seen == [["loss.png", "notes.txt"]] * 2
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.tsv", "loss.png", "model.pt", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "loss.png").read_bytes() != b"old plot"
    assert not partial_dir(out).exists() and _temp_files(tmp_path) == []
    assert "complete" not in load_model(out / "model.pt").training


def test_cv_sigterm_keeps_finished_parts_and_resumes(tiny_cache, tmp_path):
    from rnatracker_cli.workflows.cv import CVOptions, run_cv

    out = tmp_path / "cv"
    args = ("--models", "rnatracker", "--folds", 2, "--epochs", 10, "--patience", 0, "--batch-size", 4)
    proc = _start("cv", tiny_cache, "--out", out, *args, "--quiet")
    rc, err = _signal_when(proc, lambda: (out / "parts" / "rnatracker" / "fold1.tsv").exists())
    assert rc == 143 and "error: interrupted by SIGTERM" in err and "run the same command again" in err, err
    assert not (out / "parts" / "rnatracker" / "fold2.tsv").exists() and _temp_files(out) == []
    options = CVOptions(models=["rnatracker"], folds=2, epochs=10, patience=0, batch_size=4)
    again = run_cv(tiny_cache, out, options, fold=1)
    assert again.skipped == [("rnatracker", 1)] and again.trained == []


def test_scan_sigint_keeps_finished_transcripts_and_resumes(sim_dir, tmp_path):
    from rnatracker_cli.workflows.scan import ScanOptions, scan_fasta

    torch.manual_seed(3)
    config = default_config("rnatracker", 4)
    model = tmp_path / "model.pt"
    save_checkpoint(model, build_model(config), config, ["cytosol", "nuclear", "membrane", "insoluble"], {"seed": 3})
    out, part = tmp_path / "z.bed", tmp_path / "z.bed.part"

    def committed() -> int:
        try:
            return sum(line[:2] in ("D\t", "S\t") for line in part.read_text().splitlines())
        except FileNotFoundError:
            return 0

    proc = _start("scan-zipcodes", model, sim_dir / "transcripts.fa", "--out", out, "--stride", 1,
                  "--min-kl", "0.0001", "--quiet")
    rc, err = _signal_when(proc, lambda: committed() >= 2, signum=signal.SIGINT)
    assert rc == 130 and "error: interrupted by SIGINT" in err and "z.bed.part" in err, err
    assert not out.exists() and committed() >= 2 and _temp_files(tmp_path) == []
    done = committed()
    ids = [line.split("\t")[1] for line in part.read_text().splitlines() if line[:2] in ("D\t", "S\t")]
    s = scan_fasta(str(model), str(sim_dir / "transcripts.fa"), str(out), ids=ids[:done],
                   options=ScanOptions(stride=1, min_kl=0.0001))
    assert s.resumed == done and out.exists() and not part.exists()


def test_fold_sigterm_leaves_the_cache_untouched_and_resumes(tmp_path):
    import numpy as np

    from rnatracker_cli.io.cache import Cache
    from rnatracker_cli.structure import fold_sequence
    from rnatracker_cli.structure.fold import fold_cache
    from rnatracker_cli.structure.shards import part_path

    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 4, 700).astype(np.uint8) for _ in range(3)]
    path = tmp_path / "f.h5"
    write_cache(path, ids=[f"t{i}" for i in range(3)], sequences=seqs, targets=np.full((3, 2), 0.5, np.float32),
                fractions=["cytosol", "nuclear"])
    before = path.read_bytes()
    proc = _start("fold", path)
    rc, err = _signal_when(proc, part_path(path, (1, 1)).exists)
    assert rc == 143 and "error: interrupted by SIGTERM" in err and "run the same command again" in err, err
    assert path.read_bytes() == before and _temp_files(tmp_path) == []
    s = fold_cache(path)
    assert s.complete and s.already_done + s.folded == 3
    with Cache(path) as c:
        for i, seq in enumerate(seqs):
            assert np.array_equal(c.structure(i), fold_sequence(seq))


def test_fit_on_best_sees_every_new_best_epoch_with_its_weights(tiny_cache):
    """The hook `train` uses to save the best checkpoint as training goes."""
    import math

    from rnatracker_cli.encoding import get_encoding
    from rnatracker_cli.io.cache import Cache
    from rnatracker_cli.training.data import load_training_set
    from rnatracker_cli.training.loop import FitOptions, fit

    with Cache(tiny_cache) as cache:
        data = load_training_set(cache, get_encoding("seq"))
    train, val = data.subset(list(range(12))), data.subset([12, 13, 14, 15])
    config = default_config("kmer-nn", len(data.targets[0]))
    torch.manual_seed(0)
    model = build_model(config)
    saved = {}

    def on_best(net, epoch):
        saved[epoch] = {k: v.detach().clone() for k, v in net.state_dict().items()}

    result = fit(model, config, train, val, FitOptions(epochs=6, batch_size=4, patience=0, lr=0.05), torch.device("cpu"),
                 on_best=on_best)
    best_so_far, expected = math.inf, []
    for r in result.history:
        if r.val_loss < best_so_far:
            best_so_far = r.val_loss
            expected.append(r.epoch)
    assert sorted(saved) == expected and max(saved) == result.best_epoch
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in saved[result.best_epoch].items())


def test_train_into_a_symlinked_run_dir_replaces_files_in_its_target(tiny_cache, tmp_path):
    from rnatracker_cli.training.loop import FitOptions
    from rnatracker_cli.training.run import ModelOptions, train_run

    target = tmp_path / "big_disk" / "run"
    target.mkdir(parents=True)
    (target / "model.pt").write_bytes(b"old")
    link = tmp_path / "run"
    link.symlink_to(target)
    train_run(tiny_cache, link, ModelOptions(arch="kmer-nn"), FitOptions(epochs=1, batch_size=4), force=True)
    assert link.is_symlink() and sorted(p.name for p in target.iterdir()) == ["config.json", "log.tsv", "loss.png", "model.pt"]
    assert load_model(link / "model.pt").training["epochs"] == 1
