"""scripts/build_models.py end to end on a tiny simulated DATA_DIR, into a temporary package folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from rnatracker_cli.alphabet import decode
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.inference import Predictor
from rnatracker_cli.pretrained import builtin_paths, default_builtin, file_sha256, get_builtin, list_builtin
from rnatracker_cli.simulate import simulate_dataset

REPO = Path(__file__).resolve().parent.parent

QUICK = '{"epochs": 1, "seeds": [0, 1], "batch_nt": 20000}'


@pytest.fixture(scope="module")
def build():
    """scripts/build_models.py imported as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_build_models", REPO / "scripts" / "build_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_labelled(root: Path, name: str, d, prefix: str = "") -> None:
    """root/name/name.{fa,tsv} from a simulated set: 1/0 cytosol/nucleus labels, nucleus = the
    simulated nuclear share exceeds the cytosolic; ids and genes get ``prefix``."""
    (root / name).mkdir()
    with open(root / name / f"{name}.fa", "w") as f:
        for i, s in zip(d.ids, d.sequences):
            f.write(f">{prefix}{i}\n{decode(s)}\n")
    with open(root / name / f"{name}.tsv", "w") as f:
        f.write("transcript_id\tgene\tcytosol\tnucleus\n")
        for i, g, t in zip(d.ids, d.genes, d.targets):
            nuc = int(t[1] > t[0])
            f.write(f"{prefix}{i}\t{prefix}{g}\t{1 - nuc}\t{nuc}\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """DATA_DIR laid out like the shared data: lncatlas_mrna/lncatlas_mrna.{fa,tsv}, 24 transcripts
    with 1/0 cytosol/nucleus labels (nucleus = the simulated nuclear share exceeds the cytosolic)."""
    root = tmp_path_factory.mktemp("data")
    _write_labelled(root, "lncatlas_mrna", simulate_dataset(n=24, fractions=("cytosol", "nucleus"), seed=11,
                                                            max_length=400))
    # the other assay: 16 more transcripts, ids with version suffixes as in halo_mrna_dev
    h = simulate_dataset(n=16, fractions=("cytosol", "nucleus"), seed=12, max_length=500)
    (root / "halo_mrna_dev").mkdir()
    with open(root / "halo_mrna_dev" / "halo_mrna_dev.fa", "w") as f:
        for i, s in zip(h.ids, h.sequences):
            f.write(f">H{i}.3\n{decode(s)}\n")
    with open(root / "halo_mrna_dev" / "halo_mrna_dev.tsv", "w") as f:
        f.write("transcript_id\tgene\tcytosol\tnucleus\th2b_log2fc\tp65_log2fc\n")
        for k, (i, t) in enumerate(zip(h.ids, h.targets)):
            nuc = int(k % 2 == 0)  # both classes present whatever the simulation draws
            f.write(f"H{i}.3\tG{k}\t{1 - nuc}\t{nuc}\t0.1\t-0.2\n")
    # the lncRNAs: 20 more transcripts, labelled like the mRNAs
    _write_labelled(root, "lncatlas_lncrna", simulate_dataset(n=20, fractions=("cytosol", "nucleus"), seed=13,
                                                              max_length=300), prefix="L")
    return root


@pytest.fixture(scope="module")
def built(build, data_dir, tmp_path_factory):
    """One build into an empty package folder: (package folder, docs folder)."""
    out = tmp_path_factory.mktemp("pkg")
    docs = tmp_path_factory.mktemp("docs")
    (out / "index.json").write_text('{"schema": 1, "models": []}\n')
    rc = build.main([str(data_dir), "--out", str(out), "--docs", str(docs), "--recipe", QUICK])
    assert rc == 0
    return out, docs


def test_build_writes_weights_index_and_card_that_the_registry_reads(build, built, data_dir):
    out, docs = built
    assert [m.name for m in list_builtin(out)] == ["human-mrna", "human-mrna-halo", "human-mrna-2assay", "human-lncrna"]
    (default,) = [name for name, spec in build.MODELS.items() if spec["default"]]
    assert default_builtin(out) == default
    model = list_builtin(out)[0]
    assert model.compartments == ("cytosol", "nucleus")
    assert [f.path for f in model.files] == ["human-mrna.pt"]  # one checkpoint: the ensemble of the seeds
    assert model.counts["transcripts"] == 24
    assert model.counts["cytosol"] + model.counts["nucleus"] == 24
    assert model.recipe["epochs"] == 1 and model.recipe["seeds"] == [0, 1] and model.recipe["length_prior"] is True
    assert "--recipe" in model.command and model.command.startswith("python scripts/build_models.py ")
    fa = data_dir / "lncatlas_mrna" / "lncatlas_mrna.fa"
    assert {"path": "lncatlas_mrna/lncatlas_mrna.fa", "sha256": file_sha256(fa)} in model.data_files
    for path in builtin_paths("human-mrna", out):  # sha256 verified against the index
        loaded = load_model(path)
        assert loaded.fractions == ["cytosol", "nucleus"]
        assert loaded.config["arch"] == "rnatracker" and loaded.config["length_prior"] is True
        assert loaded.training["cache"] == "human-mrna.h5"  # no absolute path of the build machine
        assert loaded.training["builtin"]["name"] == "human-mrna"
        assert path.stat().st_mode & 0o044 == 0o044  # readable by everyone once installed
    (ensemble,) = [load_model(p) for p in model.paths]
    assert ensemble.config["replicates"] == 2 and [m["seed"] for m in ensemble.training["members"]] == [0, 1]
    card = (docs / "human-mrna.md").read_text()
    for heading in ("## Training data", "## Recipe", "## Cross-validation against baselines",
                    "## Transfer to another assay", "## Calibration", "## Intended use and limits", "## Citation"):
        assert heading in card
    assert "YangLab/RNAlight" in card and "MIT" in card and "Engel" in card and "Halo-seq" in card
    assert model.files[0].sha256 in card and file_sha256(fa) in card
    assert "24 transcripts" in card and "Not measured for this build" in card  # no CV figures given


def test_assay_head_and_two_assay_models_are_built_from_the_fractionation_networks(built):
    """human-mrna-halo = human-mrna's networks with the head refitted on Halo-seq (trunk weights
    identical, head different); human-mrna-2assay = both ensembles' members, predicting their mean."""
    import torch

    out, docs = built
    base, halo, both = (load_model(builtin_paths(n, out)[0]) for n in ("human-mrna", "human-mrna-halo",
                                                                         "human-mrna-2assay"))
    assert halo.training["init"]["model"] == "human-mrna.pt"  # no path of the build machine
    assert halo.config["replicates"] == base.config["replicates"] == 2 and both.config["replicates"] == 4
    sb, sh = base.model.state_dict(), halo.model.state_dict()
    trunk = [k for k in sb if ".convs." in k or ".lstm." in k or ".attention." in k]
    assert trunk and all(torch.equal(sb[k], sh[k]) for k in trunk)
    assert not torch.equal(sb["members.0.dense.weight"], sh["members.0.dense.weight"])
    assert [s["name"] for s in both.training["stacked"]] == ["human-mrna", "human-mrna-halo"]
    seqs = [np.array([0, 1, 2, 3] * 150, dtype=np.uint8), np.array([3, 2, 1, 0, 0] * 300, dtype=np.uint8)]
    probs = {n: Predictor(m.model, m.config).predict(seqs) for n, m in
             (("base", base), ("halo", halo), ("both", both))}
    np.testing.assert_allclose(probs["both"], (probs["base"] + probs["halo"]) / 2, atol=1e-6)
    assert get_builtin("human-mrna-halo", out).transfer["data"] == "lncatlas_mrna"
    assert "human-mrna-halo" in (docs / "human-mrna-2assay.md").read_text()


def test_lncrna_model_is_built_with_its_own_recipe(build, built):
    """human-lncrna: trained on the lncRNAs with the default recipe of today (batch
    normalisation, sum pooling) where the mRNA models keep theirs; usable as --init weights."""
    from rnatracker_cli.training.warmstart import load_init

    out, docs = built
    mrna, lnc = get_builtin("human-mrna", out), get_builtin("human-lncrna", out)
    assert lnc.molecule == "lncRNA" and not lnc.default and lnc.counts["transcripts"] == 20
    assert lnc.recipe["batch_norm"] is True and lnc.recipe["sum_pooling"] is True
    assert mrna.recipe["batch_norm"] is False and mrna.recipe["sum_pooling"] is False
    assert lnc.recipe["epochs"] == 1 and lnc.recipe["seeds"] == [0, 1]  # --recipe still wins
    (loaded,) = [load_model(p) for p in builtin_paths("human-lncrna", out)]
    assert loaded.config["batch_norm"] is True and loaded.config["sum_pooling"] is True
    assert loaded.config["replicates"] == 2
    weights = load_init(builtin_paths("human-lncrna", out)[0])
    assert len(weights.states) == 2 and weights.fractions == ["cytosol", "nucleus"]
    card = (docs / "human-lncrna.md").read_text()
    assert "lncATLAS lncRNAs" in card and "Ranks human lncRNAs" in card and "20 transcripts" in card
    assert build.model_recipe("human-mrna", {"a": 1}, {}) == {"a": 1}
    assert build.model_recipe("human-lncrna", {"batch_norm": False}, {"batch_norm": False})["batch_norm"] is False


def test_build_measures_transfer_and_calibration_of_the_shipped_ensemble(built, data_dir):
    from rnatracker_cli.metrics import roc_auc

    out, docs = built
    model = list_builtin(out)[0]
    transfer, calibration = model.transfer, model.calibration
    assert transfer["data"] == "halo_mrna_dev" and transfer["n"] == 16 and transfer["model"] == "human-mrna"
    assert transfer["metric"] == "nucleus ROC AUC"
    labels = np.arange(16) % 2 == 0
    lengths = np.array([len(s) for s in simulate_dataset(n=16, fractions=("cytosol", "nucleus"), seed=12,
                                                         max_length=500).sequences])
    assert transfer["scores"]["length"] == pytest.approx(roc_auc(labels, lengths))
    assert 0.0 <= transfer["scores"]["human-mrna"] <= 1.0
    (test,) = transfer["tests"]
    assert test["against"] == "length" and test["difference"] == pytest.approx(
        transfer["scores"]["human-mrna"] - roc_auc(labels, np.log(lengths)))
    bins = calibration["bins"]
    assert len(bins) == 10 and sum(b["n"] for b in bins) == 16
    assert [b["predicted"] for b in bins] == sorted(b["predicted"] for b in bins)
    assert sum(b["observed"] * b["n"] for b in bins) == pytest.approx(8)
    assert calibration["ece"] == pytest.approx(sum(b["n"] / 16 * abs(b["predicted"] - b["observed"]) for b in bins))
    card = (docs / "human-mrna.md").read_text()
    assert f"| **human-mrna** (this recipe) | {transfer['scores']['human-mrna']:.3f} |" in card
    assert "Test data: halo_mrna_dev (16 transcripts)." in card and "| mean predicted | observed | transcripts |" in card


def test_calibration_bins_on_known_values(build):
    result = build.calibration_bins(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.9]), n_bins=2)
    assert result["bins"] == [{"predicted": pytest.approx(0.2), "observed": 0.0, "n": 2},
                              {"predicted": pytest.approx(0.75), "observed": 1.0, "n": 2}]
    assert result["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.25)
    assert result["brier"] == pytest.approx((0.01 + 0.09 + 0.16 + 0.01) / 4)


def test_rebuild_reproduces_the_weights_byte_for_byte(build, built, data_dir, tmp_path, capsys):
    out, _ = built
    again = tmp_path / "pkg"
    again.mkdir()
    rc = build.main([str(data_dir), "--out", str(again), "--docs", str(tmp_path / "docs"), "--recipe", QUICK,
                     "--only", "human-mrna"])
    assert rc == 0  # human-mrna alone: not an installable index (no default), but the same weights
    rebuilt = json.loads((again / "index.json").read_text())["models"]
    assert [m["name"] for m in rebuilt] == ["human-mrna"] and not rebuilt[0]["default"]
    assert [f["sha256"] for f in rebuilt[0]["files"]] == [f.sha256 for f in list_builtin(out)[0].files]
    assert "has no default model yet: build human-mrna-2assay" in capsys.readouterr().err


def test_figures_only_updates_index_card_and_models_table(build, built, tmp_path, runner, monkeypatch):
    from rnatracker_cli import pretrained
    from rnatracker_cli.cli.app import app

    out, docs = built
    before = [f.sha256 for f in list_builtin(out)[0].files]
    figures = {"human-mrna": {
        "cv": {"metric": "nuclear ROC AUC", "folds": 10, "model": "rnatracker",
               "scores": {"rnatracker": 0.7812, "length": 0.7031, "kmer-gbm": 0.7604, "kmer-dnn": 0.7222},
               "tests": [{"against": "length", "test": "DeLong, nuclear labels", "difference": 0.0781, "p": 0.00012}],
               "command": "rnatracker cv lnc.h5 --models rnatracker,length,kmer-gbm,kmer-dnn", "date": "2026-12-02"},
        "transfer": {"data": "halo_mrna_dev", "n": 362, "metric": "nuclear ROC AUC", "model": "human-mrna",
                     "scores": {"human-mrna": 0.861, "length": 0.823}},
        "calibration": {"data": "halo_mrna_dev", "ece": 0.041,
                        "bins": [{"predicted": 0.2, "observed": 0.18, "n": 120}]},
    }}
    path = tmp_path / "figures.json"
    path.write_text(json.dumps(figures))
    rc = build.main(["--out", str(out), "--docs", str(docs), "--figures-only", "--cv-figures", str(path)])
    assert rc == 0
    model = list_builtin(out)[0]
    assert [f.sha256 for f in model.files] == before  # no retraining
    assert model.cv["scores"]["rnatracker"] == 0.7812 and model.transfer["scores"]["human-mrna"] == 0.861
    card = (docs / "human-mrna.md").read_text()
    assert "| **rnatracker** (this recipe) | 0.781 |" in card and "| kmer-dnn | 0.722 |" in card
    assert "| length | DeLong, nuclear labels | 0.078 | 1.2e-04 |" in card
    assert "| 0.200 | 0.180 | 120 |" in card and "ECE 0.041" in card and "Not measured" not in card

    monkeypatch.setattr(pretrained, "package_dir", lambda: out)
    result = runner.invoke(app, ["models", "--tsv"])
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert [r.split("\t")[0] for r in rows] == ["human-mrna", "human-mrna-halo", "human-mrna-2assay", "human-lncrna"]
    cells = dict(zip(header.split("\t"), rows[0].split("\t")))
    assert cells["cv_score"] == "0.781" and cells["transfer_score"] == "0.861"
    assert cells["cv_baselines"] == "length=0.703,kmer-gbm=0.760,kmer-dnn=0.722"


@pytest.mark.parametrize("args, message", [
    (["--only", "nope"], "unknown model(s) nope"),
    (["--recipe", '{"epochz": 3}'], "recipe keys not understood by this rnatracker: epochz"),
    (["--recipe", '{"seeds": []}'], "'seeds' must be a non-empty list"),
    (["--recipe", "[1]"], "--recipe must be a JSON object"),
])
def test_bad_arguments_are_one_error_line(build, data_dir, tmp_path, capsys, args, message):
    (tmp_path / "index.json").write_text('{"schema": 1, "models": []}')
    rc = build.main([str(data_dir), "--out", str(tmp_path), "--docs", str(tmp_path / "docs"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [f"error: {err[0][7:]}"] and message in err[0]
    assert json.loads((tmp_path / "index.json").read_text())["models"] == []


def test_missing_data_and_bad_figures(build, tmp_path, capsys):
    (tmp_path / "index.json").write_text('{"schema": 1, "models": []}')
    assert build.main([str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "lncatlas_mrna/lncatlas_mrna.fa not found" in capsys.readouterr().err
    bad = tmp_path / "figures.json"
    bad.write_text(json.dumps({"human-mrna": {"cv": {"metric": "AUROC", "folds": 10, "model": "x",
                                                     "scores": {"length": 0.7}}}}))
    assert build.main([str(tmp_path), "--out", str(tmp_path), "--cv-figures", str(bad)]) == 1
    assert "has no entry for model 'x'" in capsys.readouterr().err
    assert build.main(["--out", str(tmp_path)]) == 1
    assert "give DATA_DIR" in capsys.readouterr().err
    assert build.main(["--out", str(tmp_path), "--figures-only"]) == 1
    err = capsys.readouterr().err
    assert "--figures-only: human-mrna, human-mrna-halo, human-mrna-2assay, human-lncrna not in" in err and "build first" in err


def _fake_cv_run(run: Path, ids: list[str], folds: list[int], predictions: dict[str, np.ndarray], seed: int = 0):
    """A cv run directory as `rnatracker cv` writes it (only the files the script reads)."""
    (run / "predictions").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "data_sha256": "abc", "fractions": ["cytosol", "nucleus"],
        "options": {"models": sorted(predictions), "folds": max(folds), "seed": seed}}))
    (run / "folds.tsv").write_text("id\tfold\n" + "".join(f"{i}\t{k}\n" for i, k in zip(ids, folds)))
    order = np.random.default_rng(seed).permutation(len(ids))  # any row order
    for model, nuc in predictions.items():
        rows = "".join(f"{ids[j]}.1\t{folds[j]}\t{1 - nuc[j]:.6f}\t{nuc[j]:.6f}\n" for j in order)
        (run / "predictions" / f"{model}.tsv").write_text("id\tfold\tcytosol\tnucleus\n" + rows)


def test_cv_figures_from_cv_runs(build, built, data_dir, tmp_path):
    import pandas as pd

    from rnatracker_cli.evaluation.compare import delong_test
    from rnatracker_cli.metrics import roc_auc

    table = pd.read_csv(data_dir / "lncatlas_mrna" / "lncatlas_mrna.tsv", sep="\t")
    ids, labels = list(table["transcript_id"]), table["nucleus"].to_numpy() == 1
    rng = np.random.default_rng(5)
    own = np.clip(labels * 0.3 + rng.uniform(0, 0.7, len(ids)), 0, 1)
    length = rng.uniform(0, 1, len(ids))
    folds = [k % 3 + 1 for k in range(len(ids))]
    _fake_cv_run(tmp_path / "a", ids, folds, {"rnatracker": own})
    _fake_cv_run(tmp_path / "b", ids, folds, {"length": length})
    cv = build.cv_figures_from_runs([tmp_path / "a", tmp_path / "b"], "human-mrna", data_dir, "rnatracker")
    assert cv["folds"] == 3 and cv["n"] == len(ids) and cv["model"] == "rnatracker"
    assert cv["metric"] == "nucleus ROC AUC"
    assert cv["scores"]["rnatracker"] == pytest.approx(roc_auc(labels, own), abs=1e-5)
    assert cv["scores"]["length"] == pytest.approx(roc_auc(labels, length), abs=1e-5)
    (test,) = cv["tests"]
    expected = delong_test(labels, own, length)
    assert test["against"] == "length"
    assert test["difference"] == pytest.approx(expected["diff"], abs=1e-5)
    assert test["p"] == pytest.approx(expected["p"], rel=1e-3)

    with pytest.raises(build.RNATrackerError, match="no out-of-fold predictions of 'kmer-dnn'"):
        build.cv_figures_from_runs([tmp_path / "a"], "human-mrna", data_dir, "kmer-dnn")
    _fake_cv_run(tmp_path / "c", ids, [k % 2 + 1 for k in range(len(ids))], {"kmer-gbm": length})
    with pytest.raises(build.RNATrackerError, match="its folds differ"):
        build.cv_figures_from_runs([tmp_path / "a", tmp_path / "c"], "human-mrna", data_dir, "rnatracker")

    # through the command line, into a copy of the built package
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(built[0], pkg)
    rc = build.main([str(data_dir), "--out", str(pkg), "--docs", str(tmp_path / "docs"), "--figures-only",
                     "--no-evaluate", "--only", "human-mrna", "--cv-run", str(tmp_path / "a"),
                     "--cv-run", str(tmp_path / "b")])
    assert rc == 0
    model = get_builtin("human-mrna", pkg)
    assert model.cv["scores"] == cv["scores"]
    card = (tmp_path / "docs" / "human-mrna.md").read_text()
    assert f"| **rnatracker** (this recipe) | {cv['scores']['rnatracker']:.3f} |" in card
    assert build.main([str(data_dir), "--out", str(pkg), "--figures-only", "--cv-run", str(tmp_path / "a"),
                       "--cv-model", "nope"]) == 1


def test_several_training_sets_are_concatenated_on_their_shared_columns(build, data_dir, tmp_path):
    import pandas as pd

    from rnatracker_cli.io.fasta import read_fasta

    fasta, table = build.combined_inputs(data_dir, ["lncatlas_mrna", "halo_mrna_dev"], ["cytosol", "nucleus"], tmp_path)
    ids = [r.id for r in read_fasta(fasta)]
    assert len(ids) == 24 + 16 and ids[24] == "HSIMT00000001.3"
    rows = pd.read_csv(table, sep="\t")
    assert list(rows.columns) == ["transcript_id", "gene", "cytosol", "nucleus"] and len(rows) == 40
    assert build.combined_inputs(data_dir, ["lncatlas_mrna"], ["cytosol", "nucleus"], tmp_path)[0] == \
        data_dir / "lncatlas_mrna" / "lncatlas_mrna.fa"
