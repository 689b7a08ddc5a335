"""The public Python API (rnatracker_cli.api, re-exported at the top level)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rnatracker_cli as rt
from rnatracker_cli.alphabet import decode, encode
from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.io.writers import format_fasta
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import save_checkpoint

FRACTIONS = ["nuclear", "cytosol"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.manual_seed(4)
    config = default_config("rnatracker", len(FRACTIONS))
    model = build_model(config)
    with torch.no_grad():
        model.dense.weight.mul_(10.0)  # visible effects on a random network
    folder = tmp_path_factory.mktemp("run")
    save_checkpoint(folder / "model.pt", model, config, FRACTIONS, {"seed": 4})
    return folder


@pytest.fixture(scope="module")
def seqs():
    rng = np.random.default_rng(8)
    return {f"t{i}": decode(rng.integers(0, 4, size=n).astype(np.uint8)) for i, n in enumerate((90, 400, 1300, 35))}


def test_top_level_reexports_and_resolve_model(run_dir):
    assert rt.load_model is rt.api.load_model and rt.predict_sequences is rt.api.predict_sequences
    assert rt.scan_sequences is rt.api.scan_sequences
    assert rt.resolve_model(run_dir) == run_dir / "model.pt" == rt.resolve_model(run_dir / "model.pt")
    with pytest.raises(InputError, match="model file not found"):
        rt.resolve_model(run_dir / "nothing.pt")
    loaded = rt.load_model(run_dir, device="cpu")
    assert loaded.fractions == FRACTIONS and loaded.device == torch.device("cpu")


def test_predict_sequences_matches_the_cli_tsv(runner, run_dir, seqs, tmp_path):
    model = rt.load_model(run_dir, device="cpu")
    frame = rt.predict_sequences(model, seqs)
    assert list(frame.columns) == ["id", "length", *FRACTIONS, "predominant"]
    assert list(frame["id"]) == list(seqs) and list(frame["length"]) == [len(s) for s in seqs.values()]
    np.testing.assert_allclose(frame[FRACTIONS].sum(axis=1), 1.0, atol=1e-5)
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(format_fasta(k, v) for k, v in seqs.items()))
    res = runner.invoke(app, ["predict", str(run_dir), str(fasta), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    cli = pd.read_csv(io.StringIO(res.stdout), sep="\t")
    assert list(cli.columns) == list(frame.columns)
    np.testing.assert_allclose(cli[FRACTIONS], frame[FRACTIONS], atol=6e-5)  # the TSV has 4 decimals
    assert list(cli["predominant"]) == list(frame["predominant"])
    # the three input shapes give the same table; a path works in place of a loaded model
    as_list = rt.predict_sequences(str(run_dir), list(seqs.items()))
    pd.testing.assert_frame_equal(as_list, frame)
    plain = rt.predict_sequences(model, list(seqs.values()))
    assert list(plain["id"]) == [f"seq{i + 1}" for i in range(len(seqs))]
    np.testing.assert_allclose(plain[FRACTIONS], frame[FRACTIONS])
    codes = rt.predict_sequences(model, {k: encode(v)[0] for k, v in seqs.items()})
    np.testing.assert_allclose(codes[FRACTIONS], frame[FRACTIONS])


@pytest.mark.parametrize("sequences, message", [
    ({"a": "ACGTZACG"}, "record a has invalid character 'Z' at position 5"),
    ({"a": ""}, "record a has no sequence"),
    ([("a", "ACGT"), ("a", "ACGA")], "duplicate id a"),
    ({"a": np.array([0, 1, 255], dtype=np.uint8)}, "record a has invalid code 255 at position 3"),
    ({"a": np.array([0.5, 1.0])}, "integer code array"),
    ([], "no sequences given"),
    ("ACGT", "not one string"),
])
def test_bad_sequences_raise_the_cli_messages(run_dir, sequences, message):
    model = rt.load_model(run_dir, device="cpu")
    with pytest.raises(InputError, match=message):
        rt.predict_sequences(model, sequences)
    with pytest.raises(InputError, match=message):
        rt.scan_sequences(model, sequences, window=20, stride=10)


def test_scan_sequences_equals_the_cli_bed(runner, run_dir, seqs, tmp_path):
    args = dict(window=40, stride=20, min_kl=0.0, min_support=1, score_cap=1.0)
    frame = rt.scan_sequences(rt.load_model(run_dir, device="cpu"), seqs, **args)
    assert list(frame.columns) == ["chrom", "start", "end", "name", "score", "strand", "kl_peak", "fraction",
                                   "direction", "deltas"]
    assert len(frame) > 0 and set(frame["chrom"]) <= set(seqs)
    assert frame["start"].dtype == np.int64 and frame["kl_peak"].dtype == np.float64
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(format_fasta(k, v) for k, v in seqs.items()))
    res = runner.invoke(app, ["scan-zipcodes", str(run_dir), str(fasta), "--window", "40", "--stride", "20",
                              "--min-kl", "0", "--min-support", "1", "--score-cap", "1", "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stdout.splitlines() if not line.startswith("#")]
    assert lines == ["\t".join(map(str, row)) for row in frame.astype(str).itertuples(index=False)]


def test_length_cap_is_checked_before_any_allocation(run_dir):
    model = rt.load_model(run_dir, device="cpu")
    huge = np.broadcast_to(np.uint8(1), (50_000_000,))  # a 50-Mb record as a zero-stride view (no memory)
    with pytest.raises(RNATrackerError, match="50,000,000 nt long, more than the 1,000,000-nt limit"):
        rt.predict_sequences(model, {"chr1": huge})
    with pytest.raises(RNATrackerError, match="more than the 100-nt limit"):
        rt.scan_sequences(model, {"a": "ACGT" * 30}, max_transcript_nt=100)


def test_package_import_is_lazy_and_api_is_an_attribute():
    import subprocess
    import sys

    code = ("import sys, rnatracker_cli as rt; assert 'torch' not in sys.modules; "
            "assert rt.api.predict_sequences is rt.predict_sequences; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
