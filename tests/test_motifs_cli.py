"""`rnatracker motifs` end to end: outputs, cache vs FASTA input, bad inputs, atomic folder."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
import torch

from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.interpret.motifs import run_motifs
from rnatracker_cli.interpret.motifs.matching import TOMTOM_COLUMNS
from rnatracker_cli.io.cache import write_cache
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import save_checkpoint

FRACTIONS = ["cytosol", "nuclear", "membrane", "insoluble"]


def _checkpoint(folder, arch="rnatracker", **kw):
    torch.manual_seed(5)
    config = default_config(arch, len(FRACTIONS), **kw)
    model = build_model(config)
    if hasattr(model, "dense"):
        with torch.no_grad():
            model.dense.weight.mul_(10.0)  # visible effects on a random network
    path = folder / "model.pt"
    training = {"seed": 5}
    if config["encoding"] != "seq":  # structure models record their training cache's fold settings
        training["structure_params"] = {}
    save_checkpoint(path, model, config, FRACTIONS, training)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("motifs_model"), filters=3)


@pytest.fixture(scope="module")
def zip_bed(tmp_path_factory, sim_dir):
    """The simulation's truth zipcodes in scan-zipcodes' BED6+4 layout."""
    truth = pd.read_csv(sim_dir / "zipcodes.bed", sep="\t", header=None)
    lines = ["# rnatracker scan-zipcodes (test)\n"]
    for r in truth.itertuples(index=False):
        direction = "enhancing" if r[8] > 0 else "repressive"
        lines.append(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t0\t+\t0.05\t{r[7]}\t{direction}\t0,0,0,0\n")
    path = tmp_path_factory.mktemp("zip") / "zipcodes.bed"
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module")
def small_fasta(tmp_path_factory, sim_data):
    """The first 300 nt of 6 simulated transcripts (for tests of behaviour that needs little data)."""
    from rnatracker_cli.alphabet import decode

    path = tmp_path_factory.mktemp("small") / "small.fa"
    path.write_text("".join(f">{i}\n{decode(s[:300])}\n" for i, s in zip(sim_data.ids[:6], sim_data.sequences[:6])))
    return path


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, sim_dir, model_path, zip_bed):
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("motifs_run") / "out"
    res = CliRunner().invoke(app, ["motifs", str(sim_dir / "transcripts.fa"), "--model", str(model_path), "--out",
                                   str(out), "--db", str(sim_dir / "motifs.meme"), "--zipcodes", str(zip_bed),
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_outputs(full_run, sim_data):
    from memelite.io import read_meme as memelite_read

    out, log = full_run
    assert sorted(p.name for p in out.iterdir()) == ["enrichment.tsv", "filters.meme", "influence.tsv", "logos",
                                                     "report.html", "tomtom.tsv"]
    assert not list(out.parent.glob(".out.*"))  # no temporary folder left
    assert out.stat().st_mode & 0o755 == 0o755  # not the private mode of a temporary folder
    influence = pd.read_csv(out / "influence.tsv", sep="\t")
    assert list(influence.columns) == ["filter", "sites", "kl_mean", *(f"delta_{f}" for f in FRACTIONS)]
    assert sorted(influence["filter"]) == ["filter01", "filter02", "filter03"]
    assert influence["kl_mean"].is_monotonic_decreasing and (influence["kl_mean"] >= 0).all()
    np.testing.assert_allclose(influence[[f"delta_{f}" for f in FRACTIONS]].sum(axis=1), 0, atol=1e-5)
    motifs = memelite_read(str(out / "filters.meme"))
    kept = influence[influence["sites"] >= 10]
    assert sorted(motifs) == sorted(kept["filter"])
    for name, pwm in motifs.items():
        assert pwm.shape == (4, 10)
        np.testing.assert_allclose(pwm.sum(axis=0), 1, atol=1e-5)
        nsites = re.search(rf"MOTIF {name}\n\nletter-probability matrix: alength= 4 w= 10 nsites= (\d+)",
                           (out / "filters.meme").read_text())
        assert int(nsites.group(1)) == int(kept.set_index("filter").loc[name, "sites"])
    tomtom = pd.read_csv(out / "tomtom.tsv", sep="\t")
    assert tuple(tomtom.columns) == TOMTOM_COLUMNS
    assert set(tomtom["Orientation"]) <= {"+"} and (tomtom["q-value"] <= 0.5).all()
    assert sorted(p.name for p in (out / "logos").iterdir()) == sorted(f"{m}.png" for m in motifs)
    html = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= len(motifs)
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    # ranked by influence in the report as in influence.tsv
    ranked = [f for f in influence["filter"] if f in motifs]
    assert [html.index(f"<td>{f}</td>") for f in ranked] == sorted(html.index(f"<td>{f}</td>") for f in ranked)
    enrichment = pd.read_csv(out / "enrichment.tsv", sep="\t")
    assert list(enrichment.columns)[:4] == ["motif_id", "motif_name", "fraction", "direction"]
    assert len(enrichment) == len(sim_data.motifs) * enrichment.groupby(["fraction", "direction"]).ngroups
    # each planted motif is enriched in its own zipcodes (they are made of its copies)
    for m in sim_data.motifs:
        direction = "enhancing" if m.effect > 0 else "repressive"
        row = enrichment[(enrichment["motif_id"] == m.id) & (enrichment["fraction"] == m.fraction)
                         & (enrichment["direction"] == direction)]
        assert len(row) == 1 and row["q_value"].iloc[0] < 0.05 and row["odds_ratio"].iloc[0] > 1
    assert "note: the database has 6 motifs" in log


def test_cache_and_fasta_give_the_same_motifs(tmp_path, sim_data, sim_dir, model_path, full_run):
    cache = tmp_path / "sim.h5"
    write_cache(cache, ids=sim_data.ids, sequences=sim_data.sequences, targets=sim_data.targets,
                fractions=list(sim_data.fractions))
    run_motifs(str(cache), str(model_path), tmp_path / "c", db=str(sim_dir / "motifs.meme"), logos=False, device="cpu")
    out, _ = full_run
    for name in ("filters.meme", "influence.tsv", "tomtom.tsv"):
        assert (tmp_path / "c" / name).read_text() == (out / name).read_text(), name
    assert not (tmp_path / "c" / "logos").exists()


def test_existing_output_needs_force(runner, tmp_path, sim_dir, model_path, small_fasta):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    args = ["motifs", str(small_fasta), "--model", str(model_path), "--out", str(out), "--no-logos",
            "--db", str(sim_dir / "motifs.meme"), "--device", "cpu"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "use --force" in res.output
    assert (out / "keep.txt").exists()
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert not (out / "keep.txt").exists() and (out / "influence.tsv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_no_output(monkeypatch, tmp_path, sim_dir, model_path, small_fasta):
    import rnatracker_cli.interpret.motifs.workflow as workflow

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(workflow, "render_html", broken)
    with pytest.raises(RuntimeError):
        run_motifs(str(small_fasta), str(model_path), tmp_path / "out",
                   db=str(sim_dir / "motifs.meme"), logos=False, device="cpu")
    assert list(tmp_path.iterdir()) == []


def _error_line(res) -> str:
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_bad_inputs(runner, tmp_path, sim_dir, model_path, small_fasta):
    fasta = str(small_fasta)
    base = ["--model", str(model_path), "--device", "cpu", "--no-logos", "--db", str(sim_dir / "motifs.meme")]
    assert "--db is required" in _error_line(
        runner.invoke(app, ["motifs", fasta, *base[:-2], "--out", str(tmp_path / "g")]))
    not_meme = tmp_path / "db.txt"
    not_meme.write_text("motif\tsequence\nA\tACGT\n")
    assert "not a MEME motif file" in _error_line(
        runner.invoke(app, ["motifs", fasta, *base[:-2], "--out", str(tmp_path / "a"), "--db", str(not_meme)]))
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    assert "no FASTA records" in _error_line(runner.invoke(app, ["motifs", str(empty), *base, "--out", str(tmp_path / "b")]))
    unknown = tmp_path / "z.bed"
    unknown.write_text("NOPE1\t0\t50\tx\t0\t+\t0.1\tnuclear\tenhancing\t0,0,0,0\n")
    assert "not among the sequences, e.g. NOPE1" in _error_line(
        runner.invoke(app, ["motifs", fasta, *base, "--out", str(tmp_path / "c"), "--zipcodes", str(unknown)]))
    assert "model file not found" in _error_line(
        runner.invoke(app, ["motifs", fasta, "--model", str(tmp_path / "none.pt"), "--out", str(tmp_path / "e")]))
    for option, value in (("--threshold", "0"), ("--min-sites", "0"), ("--max-q", "2"), ("--fimo-p", "1")):
        res = runner.invoke(app, ["motifs", fasta, *base, "--out", str(tmp_path / "f"), option, value])
        assert option in _error_line(res)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


@pytest.mark.parametrize("arch", ["kmer-dnn", "length"])
def test_model_without_filters(runner, tmp_path, small_fasta, sim_dir, arch):
    path = _checkpoint(tmp_path, arch)
    res = runner.invoke(app, ["motifs", str(small_fasta), "--model", str(path), "--out",
                              str(tmp_path / "out"), "--db", str(sim_dir / "motifs.meme")])
    assert "has no convolution filters" in _error_line(res)
    assert not (tmp_path / "out").exists()


def test_ensemble_reads_its_first_members_filters(runner, tmp_path, small_fasta, sim_dir):
    """An ensemble checkpoint (e.g. a built-in model) works: member 1's filters, said in the report."""
    from rnatracker_cli.model.ensemble import Ensemble

    torch.manual_seed(5)
    config = default_config("rnatracker", len(FRACTIONS), filters=3)
    members = [build_model(config) for _ in range(2)]
    save_checkpoint(tmp_path / "ens.pt", Ensemble(members), {**config, "replicates": 2}, FRACTIONS, {"seed": 5})
    res = runner.invoke(app, ["motifs", str(small_fasta), "--model", str(tmp_path / "ens.pt"), "--out",
                              str(tmp_path / "out"), "--db", str(sim_dir / "motifs.meme"), "--no-logos",
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    filters = (tmp_path / "out" / "filters.meme").read_text()
    assert filters.count("MOTIF ") == 3  # one network's filters, not 2 × 3
    first = members[0].convs[0].body[0].weight.detach()
    assert not torch.equal(first, members[1].convs[0].body[0].weight.detach())
    assert "the filters and their influence are member 1" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("encoding", ["seqxstruct", "seq+struct"])
def test_structure_models_on_a_folded_cache(tmp_path, sim_data, sim_dir, encoding):
    from rnatracker_cli.io.cache import Cache

    seqs = [s[:300] for s in sim_data.sequences[:6]]
    cache = tmp_path / "c.h5"
    write_cache(cache, ids=sim_data.ids[:6], sequences=seqs, targets=sim_data.targets[:6],
                fractions=list(sim_data.fractions))
    model = _checkpoint(tmp_path, encoding=encoding, filters=3)
    with pytest.raises(RNATrackerError, match="run `rnatracker fold"):
        run_motifs(str(cache), str(model), tmp_path / "a", db=str(sim_dir / "motifs.meme"), logos=False, device="cpu")
    rng = np.random.default_rng(0)
    with Cache(cache, "r+") as c:
        c.ensure_structure({"method": "test"})
        c.write_structure(range(6), [rng.integers(0, 6, size=len(s)).astype(np.uint8) for s in seqs])
    summary = run_motifs(str(cache), str(model), tmp_path / "b", db=str(sim_dir / "motifs.meme"), logos=False,
                         min_sites=1, device="cpu")
    assert summary.filters == 3 and encoding in summary.notes[0]
    influence = pd.read_csv(tmp_path / "b" / "influence.tsv", sep="\t")
    assert len(influence) == 3 and (influence["kl_mean"] >= 0).all()
