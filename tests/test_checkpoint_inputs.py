"""What a checkpoint records about its training inputs, and how new inputs are checked:
the cache's 5' truncation, fold settings, the network's minimum input, invalid codes and
the per-transcript length cap."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnatracker_cli.alphabet import decode, encode
from rnatracker_cli.cli.app import app
from rnatracker_cli.encoding import make_batch
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.workflows.cv import CVOptions, run_cv
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.io.writers import format_fasta
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model import checkpoint as ckpt

LONG = 1200  # nt of the long transcript; the cache keeps its last 300


@pytest.fixture(scope="module")
def truncated_run(tmp_path_factory):
    """`prepare --max-length 300` on 8 transcripts (one of 1,200 nt), then `train` 1 epoch."""
    from typer.testing import CliRunner

    runner = CliRunner()
    folder = tmp_path_factory.mktemp("trunc")
    rng = np.random.default_rng(11)
    seqs = {f"t{i}": decode(rng.integers(0, 4, size=n).astype(np.uint8))
            for i, n in enumerate((LONG, 150, 280, 90, 310, 200, 120, 260))}
    (folder / "tx.fa").write_text("".join(format_fasta(k, v) for k, v in seqs.items()))
    (folder / "loc.tsv").write_text("id\tnuc\tcyt\n" + "".join(
        f"{k}\t{1 + i % 3}\t{2 + (i * 7) % 5}\n" for i, k in enumerate(seqs)))
    cache = folder / "c.h5"
    res = runner.invoke(app, ["prepare", "--fasta", str(folder / "tx.fa"), "--localization", str(folder / "loc.tsv"),
                              "--out", str(cache), "--max-length", "300", "-q"])
    assert res.exit_code == 0, res.output
    # no length prior: its sequence part starts at zero and would hide the truncation after one epoch
    res = runner.invoke(app, ["train", str(cache), "--out", str(folder / "run"), "--epochs", "1", "--arch", "rnatracker", "--no-length-prior",
                              "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    return folder, seqs


def test_predict_truncates_like_the_training_cache(runner, truncated_run):
    """The long transcript is predicted from the 300 nt the model was trained on (5' end cut,
    true length kept), not from all 1,200 nt."""
    folder, seqs = truncated_run
    loaded = ckpt.load_model(folder / "run")
    assert loaded.config["truncate_5p"] == 300 and loaded.training["max_length"] == 300
    assert json.loads((folder / "run" / "config.json").read_text())["model"]["truncate_5p"] == 300
    res = runner.invoke(app, ["predict", str(folder / "run"), str(folder / "tx.fa"), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    row = res.stdout.splitlines()[1].split("\t")
    assert row[:2] == ["t0", str(LONG)]
    with Cache(folder / "c.h5") as cache:
        stored, full = cache.sequence(0), int(cache.full_lengths[0])
    assert len(stored) == 300 and full == LONG
    untruncated = {**loaded.config, "truncate_5p": None}
    as_trained = Predictor(loaded.model, untruncated).predict([stored], nt_lengths=[full])[0]
    whole = Predictor(loaded.model, untruncated).predict([encode(seqs["t0"])[0]])[0]
    np.testing.assert_allclose([float(v) for v in row[2:4]], as_trained, atol=6e-5)
    assert np.abs(whole - as_trained).max() > 1e-3  # what predict fed before the fix


def test_scan_reads_only_the_trained_3prime_part(truncated_run, tmp_path):
    from rnatracker_cli.workflows.scan import ScanOptions, scan_fasta

    folder, seqs = truncated_run
    fasta = tmp_path / "long.fa"
    fasta.write_text(format_fasta("t0", seqs["t0"]))
    track = tmp_path / "t.bg"
    summary = scan_fasta(str(folder / "run"), str(fasta), out=str(tmp_path / "z.bed"), track=str(track),
                         options=ScanOptions(window=30, stride=10, min_kl=0.0, min_support=1), device="cpu")
    assert summary.truncated == 1 and summary.unscanned_nt == LONG - 300 and summary.max_len == 300
    starts = [int(line.split("\t")[1]) for line in track.read_text().splitlines()]
    assert starts and min(starts) >= LONG - 300


def test_cv_and_train_checkpoints_record_the_same_metadata(tmp_path):
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 4, size=n).astype(np.uint8) for n in (80, 150, 300, 60, 220, 90)]
    path = write_cache(tmp_path / "folded.h5", ids=[f"t{i}" for i in range(6)], sequences=seqs,
                       targets=np.tile(np.array([[0.3, 0.7]], np.float32), (6, 1)), fractions=["a", "b"],
                       params={"max_length": 500})
    with Cache(path, "r+") as cache:
        cache.ensure_structure({"window": 80, "span": 40})
        cache.write_structure(range(6), [rng.integers(0, 6, size=len(s)).astype(np.uint8) for s in seqs])
    run_cv(path, tmp_path / "cv", CVOptions(models=["nolstm"], folds=2, epochs=1, encoding="seq+struct", n_boot=10),
           device="cpu")
    part = ckpt.load_model(tmp_path / "cv" / "parts" / "nolstm" / "fold1.pt")
    assert part.training["structure_params"] == {"window": 80, "span": 40}
    assert part.training["max_length"] == 500 and part.config["truncate_5p"] == 500
    with Cache(path) as cache:
        config, provenance = ckpt.data_metadata(cache, default_config("nolstm", 2, encoding="seq+struct", length_prior=True,
                                                              batch_norm=True, sum_pooling=True))
    assert {k: part.training[k] for k in provenance} == provenance and part.config == config
    fold = part.fold_function()
    assert fold.keywords == {"window": 80, "span": 40}


def test_structure_model_without_fold_settings_is_refused(runner, tmp_path):
    config = default_config("rnatracker", 2, encoding="seqxstruct")
    path = ckpt.save_checkpoint(tmp_path / "model.pt", build_model(config), config, ["a", "b"], {"seed": 0})
    with pytest.raises(InputError, match="does not record the fold settings"):
        ckpt.load_model(path)
    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\nACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n")
    res = runner.invoke(app, ["predict", str(path), str(fasta), "-q"])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "fold settings" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_fixed_input_shorter_than_the_network_is_one_error_line(runner, sim_dir, tmp_path):
    cache = tmp_path / "c.h5"
    res = runner.invoke(app, ["prepare", "--fasta", str(sim_dir / "transcripts.fa"), "--localization",
                              str(sim_dir / "localization.tsv"), "--out", str(cache), "-q"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(cache), "--out", str(out), "--mode", "fixed", "--max-len", "10", "-q"])
    assert res.exit_code == 1 and res.stderr.strip().splitlines() == [
        "error: --max-len 10 is shorter than the network's minimum input in mode fixed (45 nt): use --max-len 45 or more"]
    assert not out.exists()
    res = runner.invoke(app, ["cv", str(cache), "--out", str(tmp_path / "cv"), "--mode", "fixed", "--max-len", "44",
                              "--models", "noattention", "-q"])
    assert res.exit_code == 1 and "minimum input in mode fixed (45 nt)" in res.stderr
    config = default_config("rnatracker", 2, mode="fixed", max_len=20)
    with pytest.raises(RNATrackerError, match="minimum input"):
        Predictor(build_model(config), config)
    ok = default_config("rnatracker", 2, mode="fixed", max_len=45)
    assert Predictor(build_model(ok), ok).predict([np.zeros(5, np.uint8)]).shape == (1, 2)


@pytest.mark.parametrize("codes, message", [
    (np.array([0, 1, 255, 2], dtype=np.uint8), "invalid nucleotide code 255"),
    (np.array([0, 1, 5], dtype=np.int64), "invalid nucleotide code 5"),
    (np.array([0, -1, 2], dtype=np.int64), "invalid nucleotide code -1"),
    (np.array([0.0, 1.0]), "must be integers"),
])
def test_invalid_codes_from_python_are_refused_before_the_encoder(codes, message):
    with pytest.raises(RNATrackerError, match=message):
        make_batch([codes], "full", None, 1)
    config = default_config("rnatracker", 2)
    with pytest.raises(RNATrackerError, match=message):
        Predictor(build_model(config), config).predict([np.zeros(50, np.uint8), codes])


def test_structure_codes_are_checked_too():
    with pytest.raises(RNATrackerError, match="invalid structure code 9"):
        make_batch([np.zeros(4, np.uint8)], "full", None, 1, structures=[np.array([0, 9, 1, 2], np.uint8)])


def test_transcript_length_cap(runner, tmp_path, monkeypatch):
    config = default_config("rnatracker", 2)
    path = ckpt.save_checkpoint(tmp_path / "model.pt", build_model(config), config, ["a", "b"], {"seed": 0})
    fasta = tmp_path / "x.fa"
    fasta.write_text(">short\n" + "ACGT" * 20 + "\n>big\n" + "ACGT" * 60 + "\n")
    for command in (["predict"], ["scan-zipcodes", "--window", "20"]):
        res = runner.invoke(app, [*command, str(path), str(fasta), "--max-transcript-nt", "200", "-q"])
        assert res.exit_code == 1, res.output
        assert res.stderr.strip().splitlines() == [
            "error: big is 240 nt long, more than the 200-nt limit per transcript "
            "(--max-transcript-nt; a forward pass needs about 200 bytes per nt)"]
    res = runner.invoke(app, ["predict", str(path), str(fasta), "--max-transcript-nt", "240", "-q"])
    assert res.exit_code == 0, res.output
    # the default cap (1 Mb) of predict, scan-zipcodes and the API; a 50-Mb record stops before any work
    from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT
    from rnatracker_cli.io.fasta import FastaRecord

    assert DEFAULT_MAX_TRANSCRIPT_NT == 1_000_000
    predictor = Predictor(build_model(config), config, max_transcript_nt=DEFAULT_MAX_TRANSCRIPT_NT)
    monkeypatch.setattr(predictor, "_run_chunk", lambda *a: pytest.fail("ran the model"))
    huge = FastaRecord("chr1", "", np.broadcast_to(np.uint8(0), (50_000_000,)))
    with pytest.raises(RNATrackerError, match="chr1 is 50,000,000 nt long"):
        list(predictor.stream([huge]))
