"""`predict`: TSV format, stdin, gzip, attention bedGraph and bad inputs."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from rnatracker_cli import __version__
from rnatracker_cli.alphabet import encode
from rnatracker_cli.cli.app import app
from rnatracker_cli.inference import Predictor, attention_track
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import save_checkpoint

FRACTIONS = ["nuclear", "cytosol", "membrane"]  # deliberately not alphabetical


@pytest.fixture(scope="module")
def fasta_records():
    rng = np.random.default_rng(3)
    lengths = [30, 120, 2000, 45, 700, 5000, 64]
    return [(f"tx{i}", "".join(rng.choice(list("ACGT"), size=n))) for i, n in enumerate(lengths)]


@pytest.fixture(scope="module")
def fasta_text(fasta_records):
    # wrapped at 60 columns, lowercase in one record, as real files come
    out = []
    for i, (rid, seq) in enumerate(fasta_records):
        seq = seq.lower() if i == 2 else seq
        out.append(f">{rid} some description\n" + "\n".join(seq[j : j + 60] for j in range(0, len(seq), 60)) + "\n")
    return "".join(out)


def _save(tmp_path_factory, arch: str, **kw):
    torch.manual_seed(1)
    config = default_config(arch, len(FRACTIONS), **kw)
    model = build_model(config)
    if arch.startswith("kmer"):
        x = torch.zeros(1, 4, 100)
        x[:, 2] = 1
        model.fit_normalization(torch.tensor([100]), lambda: [(x, torch.tensor([100]), torch.tensor([100]))])
    path = tmp_path_factory.mktemp(arch) / "model.pt"
    save_checkpoint(path, model, config, FRACTIONS, {"seed": 1})
    return path, model.eval(), config


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    return _save(tmp_path_factory, "rnatracker")


@pytest.fixture(scope="module")
def fixed_model(tmp_path_factory):
    return _save(tmp_path_factory, "rnatracker", mode="fixed", max_len=1000)


def _table(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def test_predict_tsv_format(runner, tmp_path, full_model, fasta_records, fasta_text):
    path, model, config = full_model
    fa = tmp_path / "in.fa"
    fa.write_text(fasta_text)
    out = tmp_path / "pred.tsv"
    res = runner.invoke(app, ["predict", str(path), str(fa), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = _table(out.read_text())
    assert rows[0] == ["id", "length", *FRACTIONS, "predominant"]
    assert [r[0] for r in rows[1:]] == [rid for rid, _ in fasta_records]  # input order kept
    expected = Predictor(model, config).predict([encode(s)[0] for _, s in fasta_records])
    for row, (_, seq), p in zip(rows[1:], fasta_records, expected):
        assert int(row[1]) == len(seq)
        assert all(len(v.split(".")[1]) == 4 for v in row[2:-1])  # 4 decimals
        values = np.array([float(v) for v in row[2:-1]])
        np.testing.assert_allclose(values, p, atol=5e-5)
        assert row[-1] == FRACTIONS[int(np.argmax(p))]


def test_predict_reads_stdin_and_gzip_and_run_directories(runner, tmp_path, full_model, fasta_text):
    path, _, _ = full_model
    fa = tmp_path / "in.fa"
    fa.write_text(fasta_text)
    ref = runner.invoke(app, ["predict", str(path), str(fa)])
    assert ref.exit_code == 0
    piped = runner.invoke(app, ["predict", str(path), "-", "--quiet"], input=fasta_text)
    assert piped.exit_code == 0 and piped.stdout == ref.stdout
    gz = tmp_path / "in.fa.gz"
    gz.write_bytes(gzip.compress(fasta_text.encode()))
    zipped = runner.invoke(app, ["predict", str(path.parent), str(gz), "-q"])  # run directory as model
    assert zipped.exit_code == 0 and zipped.stdout == ref.stdout


def test_fixed_mode_model_predicts_long_transcripts(runner, tmp_path, fixed_model, fasta_records, fasta_text):
    path, model, config = fixed_model
    fa = tmp_path / "in.fa"
    fa.write_text(fasta_text)
    res = runner.invoke(app, ["predict", str(path), str(fa), "-q", "--batch-nt", "1"])
    assert res.exit_code == 0, res.output
    rows = _table(res.stdout)[1:]
    expected = Predictor(model, config, batch_nt=10**7).predict([encode(s)[0] for _, s in fasta_records])
    np.testing.assert_allclose(np.array([[float(v) for v in r[2:-1]] for r in rows]), expected, atol=5e-5)


@pytest.mark.parametrize("which", ["full", "fixed"])
def test_attention_bedgraph_is_valid(runner, tmp_path, full_model, fixed_model, fasta_records, fasta_text, which):
    path = (full_model if which == "full" else fixed_model)[0]
    fa = tmp_path / "in.fa"
    fa.write_text(fasta_text)
    bg = tmp_path / "att.bedGraph"
    res = runner.invoke(app, ["predict", str(path), str(fa), "--out", str(tmp_path / "p.tsv"), "--attention", str(bg)])
    assert res.exit_code == 0, res.output
    lengths = {rid: len(seq) for rid, seq in fasta_records}
    comment, body = bg.read_text().split("\n", 1)
    assert comment == f"#rnatracker {__version__} predict --attention model={path}"
    rows = _table(body)
    assert {r[0] for r in rows} == set(lengths)
    by_id: dict[str, list[tuple[int, int, float]]] = {}
    for r in rows:
        assert len(r) == 4
        start, end, value = int(r[1]), int(r[2]), float(r[3])
        assert 0 <= start < end <= lengths[r[0]] and value >= 0
        by_id.setdefault(r[0], []).append((start, end, value))
    for rid, iv in by_id.items():
        assert all(a[1] <= b[0] for a, b in zip(iv, iv[1:]))  # sorted, non-overlapping
        mass = sum((e - s) * v for s, e, v in iv)
        assert mass <= 1.0 + 1e-4
        if which == "full" and lengths[rid] >= 45:
            assert mass == pytest.approx(1.0, abs=1e-3)
        if which == "fixed" and lengths[rid] > 1000:
            assert iv[0][0] == lengths[rid] - 1000  # the truncated 5' end has no attention


def test_attention_track_maps_steps_to_nucleotides():
    # two steps of a (size 6, stride 3) network on a 9-nt transcript, weights 0.25 / 0.75
    track = attention_track(np.array([0.25, 0.75]), start=0, nt_length=9, size=6, stride=3)
    assert track.starts.tolist() == [0, 3, 6] and track.ends.tolist() == [3, 6, 9]
    np.testing.assert_allclose(track.values, [0.25 / 6, 1.0 / 6, 0.75 / 6])
    # 5' padding of 4 columns (start = -4): the first step covers nucleotides 0-1 only
    track = attention_track(np.array([0.5, 0.5]), start=-4, nt_length=5, size=6, stride=3)
    assert track.starts.tolist() == [0, 2] and track.ends.tolist() == [2, 5]


def test_bad_inputs(runner, tmp_path, full_model):
    path, _, _ = full_model
    bad = tmp_path / "bad.fa"
    bad.write_text(">ok\nACGT\n>weird\nACGXT\n")
    res = runner.invoke(app, ["predict", str(path), str(bad), "--out", str(tmp_path / "o.tsv")])
    assert res.exit_code == 1 and "weird" in res.output and "'X'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.tsv").exists()  # no half-written output
    empty_record = tmp_path / "empty.fa"
    empty_record.write_text(">a\nACGT\n>b\n>c\nAC\n")
    res = runner.invoke(app, ["predict", str(path), str(empty_record)])
    assert res.exit_code == 1 and "b has no sequence" in res.output
    nothing = tmp_path / "nothing.fa"
    nothing.write_text("")
    res = runner.invoke(app, ["predict", str(path), str(nothing)])
    assert res.exit_code == 1 and "no FASTA records" in res.output
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01not a checkpoint")
    ok = tmp_path / "ok.fa"
    ok.write_text(">a\nACGTACGT\n")
    res = runner.invoke(app, ["predict", str(junk), str(ok)])
    assert res.exit_code == 1 and "not an rnatracker model checkpoint" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path / "absent.pt"), str(ok)])
    assert res.exit_code == 1 and "not found" in res.output
    existing = tmp_path / "exists.tsv"
    existing.write_text("keep me\n")
    res = runner.invoke(app, ["predict", str(path), str(ok), "--out", str(existing)])
    assert res.exit_code == 1 and "--force" in res.output and existing.read_text() == "keep me\n"
    res = runner.invoke(app, ["predict", str(path), str(ok), "--out", str(existing), "--force"])
    assert res.exit_code == 0 and existing.read_text().startswith("id\tlength\tnuclear")


def test_attention_needs_an_attention_model(runner, tmp_path, tmp_path_factory):
    path, _, _ = _save(tmp_path_factory, "kmer-nn")
    ok = tmp_path / "ok.fa"
    ok.write_text(">a\nACGTACGT\n")
    res = runner.invoke(app, ["predict", str(path), str(ok), "--attention", str(tmp_path / "a.bg")])
    assert res.exit_code == 1 and "no attention" in res.output
    res = runner.invoke(app, ["predict", str(path), str(ok)])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 2
    # the built-in default is an ensemble: one clear line that says why and what to pass instead
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.pretrained import builtin_path, default_builtin

    members = len(load_model(builtin_path(default_builtin())).model.members)
    assert members > 1
    res = runner.invoke(app, ["predict", str(ok), "--attention", str(tmp_path / "b.bg")])
    assert res.exit_code == 1 and f"is an ensemble of {members} networks" in res.output
    assert not (tmp_path / "b.bg").exists()
    res = runner.invoke(app, ["predict", str(path), str(ok), "--device", "cuda:7"])
    if not torch.cuda.is_available():
        assert res.exit_code == 1 and "CUDA is not available" in res.output
