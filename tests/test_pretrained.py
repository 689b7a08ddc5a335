"""Built-in models: the shipped index and weights, their golden predictions, the registry API,
`rnatracker models`."""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest
import torch
from torch import nn

from rnatracker_cli import pretrained
from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.model.checkpoint import load_model, save_checkpoint
from rnatracker_cli.pretrained import (
    INDEX_FILE, builtin_path, builtin_paths, default_builtin, get_builtin, is_builtin_name, list_builtin, read_index,
)
from rnatracker_cli.pretrained.listing import MODELS_TSV_COLUMNS, human_size

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "golden_predictions.json"
SIZE_LIMIT = 5_000_000  # issue 14: the weights ship in the package, at most 5 MB in all


def load_script(name: str):
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped() -> list:
    return list_builtin()


# -- the shipped package data ---------------------------------------------------------------

def test_index_is_package_data_found_through_importlib_resources():
    root = resources.files("rnatracker_cli.pretrained")
    assert root.joinpath(INDEX_FILE).is_file()
    raw = json.loads(root.joinpath(INDEX_FILE).read_text())
    assert raw["schema"] == pretrained.INDEX_SCHEMA and isinstance(raw["models"], list)
    models = read_index()  # the package's own validation accepts it
    assert [m.name for m in models] == [e["name"] for e in raw["models"]]
    if models:
        assert sum(m.default for m in models) == 1
        assert default_builtin() in {m.name for m in models}


def test_every_listed_weights_file_is_installed_with_its_sha256_and_within_the_size_limit():
    root = resources.files("rnatracker_cli.pretrained")
    total = 0
    for model in _shipped():
        for f in model.files:
            data = root.joinpath(f.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f.sha256, f"{model.name}: {f.path} differs from the index"
            assert len(data) == f.bytes
            total += len(data)
        assert builtin_paths(model.name) == model.paths  # verified against the index
        assert (REPO / model.card).is_file(), f"{model.name}: model card {model.card} missing"
    assert total <= SIZE_LIMIT
    # no stray weights: every .pt in the package folder is listed
    listed = {f.path for m in _shipped() for f in m.files}
    assert {p.name for p in pretrained.package_dir().glob("*.pt")} <= listed


def test_pyproject_ships_index_and_weights_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the wheel test covers 3.10
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["rnatracker_cli.pretrained"]
    names = [INDEX_FILE] + [f.path for m in _shipped() for f in m.files] + ["human-mrna.pt", "x.seed0.pt"]
    for name in names:
        assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} would not be in the wheel"


@pytest.mark.slow
def test_built_wheel_contains_the_index_and_weights(tmp_path):
    """Build a wheel from a copy of the source tree with a weights file added (4-5 s)."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "__pycache__", "build", "*.egg-info", "tests"))
    (src / "rnatracker_cli" / "pretrained" / "probe.pt").write_bytes(b"weights")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "rnatracker_cli/pretrained/index.json" in names
    assert "rnatracker_cli/pretrained/probe.pt" in names


# -- golden predictions of every shipped model -------------------------------------------------

def test_golden_file_matches_the_index():
    golden = json.loads(GOLDEN.read_text())
    assert set(golden["sequences"]) == {"golden_short", "golden_mid", "golden_long"}
    assert all(set(s) <= set("ACGT") for s in golden["sequences"].values())
    assert golden["tolerance"] == 1e-5
    make_golden = load_script("make_golden")
    assert golden["sequences"] == make_golden.golden_sequences()  # fixed inputs
    index = {m.name: m for m in _shipped()}
    assert set(golden["models"]) == set(index), "run scripts/make_golden.py after rebuilding the models"
    for name, model in index.items():
        assert {p: v["sha256"] for p, v in golden["models"][name]["files"].items()} == \
               {f.path: f.sha256 for f in model.files}


@pytest.mark.parametrize("name", [m.name for m in _shipped()])
def test_golden_predictions_of_builtin_model(name):
    golden = json.loads(GOLDEN.read_text())
    make_golden = load_script("make_golden")
    model = get_builtin(name)
    expected = golden["models"][name]
    for f, path in zip(model.files, model.paths):
        got = make_golden.predict_file(path, golden["sequences"])  # load_model(path) + Predictor, CPU
        for sid, values in got.items():
            assert values == pytest.approx(expected["files"][f.path]["predictions"][sid], abs=1e-5), (f.path, sid)
            assert sum(values) == pytest.approx(1.0, abs=1e-5)
        assert load_model(path).fractions == list(model.compartments)


# -- registry on a hand-made package folder ------------------------------------------------------

def _tiny_checkpoint(path: Path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    config = default_config("rnatracker", 2, mode="full", length_feature=True)
    model: nn.Module = build_model(config)
    save_checkpoint(path, model, config, ["cytosol", "nucleus"], {"seed": seed})


def _entry(name: str, files: list[Path], default: bool = False, **extra) -> dict:
    return {
        "name": name, "description": f"{name} test model", "default": default,
        "compartments": ["cytosol", "nucleus"], "species": "human", "molecule": "mRNA",
        "training_data": "simulated, 10 transcripts",
        "files": [{"path": p.name, "sha256": pretrained.file_sha256(p), "bytes": p.stat().st_size} for p in files],
        "recipe": {"arch": "rnatracker", "seeds": [0]}, "command": "python scripts/build_models.py data", **extra,
    }


@pytest.fixture
def pkg(tmp_path):
    """A package folder with a single-file model (default) and a two-member ensemble."""
    root = tmp_path / "pkg"
    root.mkdir()
    for name in ("alpha.pt", "beta.seed0.pt", "beta.seed1.pt"):
        _tiny_checkpoint(root / name, seed=len(name))
    cv = {"metric": "nuclear ROC AUC", "folds": 10, "model": "rnatracker",
          "scores": {"rnatracker": 0.781, "length": 0.7, "kmer-gbm": 0.76}}
    index = {"schema": 1, "models": [
        _entry("alpha", [root / "alpha.pt"], default=True, cv=cv,
               transfer={"data": "halo_mrna_dev", "metric": "nuclear ROC AUC", "model": "alpha",
                         "scores": {"alpha": 0.85, "length": 0.823}}),
        _entry("beta", [root / "beta.seed0.pt", root / "beta.seed1.pt"]),
    ]}
    (root / INDEX_FILE).write_text(json.dumps(index))
    return root


def test_registry_lists_resolves_and_loads(pkg):
    models = list_builtin(pkg)
    assert [m.name for m in models] == ["alpha", "beta"]
    assert default_builtin(pkg) == "alpha"
    assert builtin_path("alpha", pkg) == pkg / "alpha.pt"
    assert builtin_paths("beta", pkg) == [pkg / "beta.seed0.pt", pkg / "beta.seed1.pt"]
    assert models[1].size_bytes == (pkg / "beta.seed0.pt").stat().st_size + (pkg / "beta.seed1.pt").stat().st_size
    loaded = load_model(builtin_path("alpha", pkg))
    assert loaded.fractions == ["cytosol", "nucleus"] and loaded.config["length_feature"] is True
    with pytest.raises(RNATrackerError, match="ensemble of 2 member files"):
        builtin_path("beta", pkg)


def test_unknown_name_lists_the_available_ones(pkg):
    with pytest.raises(RNATrackerError, match=r"no built-in model named 'gamma' \(built-in models: alpha, beta\)"):
        builtin_path("gamma", pkg)


def test_is_builtin_name_prefers_existing_paths(pkg, tmp_path, monkeypatch):
    assert is_builtin_name("alpha", pkg)
    assert not is_builtin_name("gamma", pkg)
    assert not is_builtin_name(str(pkg / "alpha.pt"), pkg)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alpha").mkdir()  # a run directory called like a built-in model wins
    assert not is_builtin_name("alpha", pkg)


def test_damaged_or_replaced_weights_are_errors(pkg):
    (pkg / "alpha.pt").write_bytes((pkg / "alpha.pt").read_bytes()[:-10])
    with pytest.raises(RNATrackerError, match="does not match its recorded SHA-256"):
        builtin_path("alpha", pkg)
    assert builtin_path("alpha", pkg, verify=False) == pkg / "alpha.pt"
    (pkg / "beta.seed1.pt").unlink()
    with pytest.raises(RNATrackerError, match="beta.seed1.pt is missing"):
        builtin_paths("beta", pkg)


@pytest.mark.parametrize("mutate, message", [
    (lambda idx: idx.update(schema=2), "schema 1"),
    (lambda idx: idx["models"][1].update(default=True), "2 default models"),
    (lambda idx: idx["models"][0].update(default=False), "0 default models"),
    (lambda idx: idx["models"][1].update(name="alpha"), "duplicate model names"),
    (lambda idx: idx["models"][0].pop("compartments"), "'compartments' missing"),
    (lambda idx: idx["models"][0].update(files=[]), "lists no weights file"),
    (lambda idx: idx["models"][0]["files"][0].update(path="../alpha.pt"), "outside the package"),
    (lambda idx: idx["models"][0].update(cv=[0.7]), "'cv' is not an object"),
])
def test_damaged_index_is_one_clear_error(pkg, mutate, message):
    index = json.loads((pkg / INDEX_FILE).read_text())
    mutate(index)
    (pkg / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(RNATrackerError, match=message):
        list_builtin(pkg)


def test_empty_or_missing_index(tmp_path):
    (tmp_path / INDEX_FILE).write_text('{"schema": 1, "models": []}')
    assert list_builtin(tmp_path) == []
    with pytest.raises(RNATrackerError, match="no built-in model is installed: give --model"):
        default_builtin(tmp_path)
    (tmp_path / INDEX_FILE).write_text("{not json")
    with pytest.raises(RNATrackerError, match="not JSON"):
        list_builtin(tmp_path)
    with pytest.raises(RNATrackerError, match="not found"):
        list_builtin(tmp_path / "nowhere")


def test_golden_comparison_detects_a_changed_prediction(pkg):
    make_golden = load_script("make_golden")
    golden = make_golden.golden_predictions(pkg)
    assert set(golden["models"]) == {"alpha", "beta"}
    mean = golden["models"]["beta"]["mean"]["golden_mid"]
    files = golden["models"]["beta"]["files"].values()
    assert mean == pytest.approx([sum(f["predictions"]["golden_mid"][k] for f in files) / 2 for k in range(2)])
    fresh = make_golden.golden_predictions(pkg)
    assert make_golden.compare(golden, fresh) == []  # deterministic on CPU
    golden["models"]["alpha"]["files"]["alpha.pt"]["predictions"]["golden_long"][0] += 2e-5
    problems = make_golden.compare(golden, fresh)
    assert len(problems) == 1 and "alpha/alpha.pt on golden_long" in problems[0]
    del golden["models"]["beta"]
    assert any("models differ" in p for p in make_golden.compare(golden, fresh))


# -- rnatracker models ------------------------------------------------------------------------
@pytest.fixture
def installed(pkg, monkeypatch):
    monkeypatch.setattr(pretrained, "package_dir", lambda: pkg)
    return pkg


def test_table_lists_every_model_with_default_marker_and_figures(runner, installed):
    result = runner.invoke(app, ["models"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "alpha *" in out and "beta" in out and "beta *" not in out
    assert "cytosol" in out and "nucleus" in out and "simulated, 10 transcripts" in out
    assert "nuclear ROC AUC 0.781 (10-fold; length=0.700,kmer-gbm=0.760)" in out
    assert "halo_mrna_dev 0.850 (length=0.823)" in out and "not measured" in out  # beta has no figures
    size = (installed / "beta.seed0.pt").stat().st_size * 2
    assert human_size(size) in out


def test_tsv_has_a_fixed_header_and_one_row_per_model(runner, installed):
    result = runner.invoke(app, ["models", "--tsv"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == list(MODELS_TSV_COLUMNS)
    rows = [dict(zip(MODELS_TSV_COLUMNS, line.split("\t"))) for line in lines[1:]]
    assert [r["name"] for r in rows] == ["alpha", "beta"]
    assert all(len(line.split("\t")) == len(MODELS_TSV_COLUMNS) for line in lines)
    alpha, beta = rows
    assert alpha["default"] == "yes" and beta["default"] == "no"
    assert alpha["cv_metric"] == "nuclear ROC AUC" and alpha["cv_folds"] == "10" and alpha["cv_score"] == "0.781"
    assert alpha["transfer_data"] == "halo_mrna_dev" and alpha["transfer_score"] == "0.850"
    assert alpha["transfer_baselines"] == "length=0.823"
    assert beta["cv_score"] == "NA" and beta["cv_baselines"] == "NA"
    assert int(beta["size_bytes"]) == sum((installed / f).stat().st_size for f in ("beta.seed0.pt", "beta.seed1.pt"))


def test_details_of_one_model(runner, installed):
    result = runner.invoke(app, ["models", "beta"])
    assert result.exit_code == 0
    assert "name\tbeta\n" in result.stdout
    assert str(installed / "beta.seed1.pt") in result.stdout
    assert pretrained.file_sha256(installed / "beta.seed0.pt") in result.stdout
    tsv = runner.invoke(app, ["models", "alpha", "--tsv"]).stdout.splitlines()
    assert len(tsv) == 2 and tsv[1].startswith("alpha\tyes\t")


def test_empty_index(runner, tmp_path, monkeypatch):
    (tmp_path / "index.json").write_text('{"schema": 1, "models": []}')
    monkeypatch.setattr(pretrained, "package_dir", lambda: tmp_path)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "no built-in models are installed" in result.stderr
    assert runner.invoke(app, ["models", "--tsv"]).stdout == "\t".join(MODELS_TSV_COLUMNS) + "\n"


def test_errors(runner, installed):
    result = runner.invoke(app, ["models", "gamma"])
    assert result.exit_code == 1
    assert result.stderr == "error: no built-in model named 'gamma' (built-in models: alpha, beta)\n"
    index = json.loads((installed / "index.json").read_text())
    index["models"][1]["default"] = True
    (installed / "index.json").write_text(json.dumps(index))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "2 default models" in result.stderr
    result = runner.invoke(app, ["models", "--wide"])
    assert result.exit_code == 2 and "No such option: --wide" in result.output
    assert "Traceback" not in result.output


def test_predict_and_scan_accept_every_model_form(runner, tmp_path):
    """`--model` takes a built-in name, a model.pt or a run directory; without it the built-in
    default is used; the older form `predict MODEL FASTA` still works; all give the same rows."""
    import shutil

    from rnatracker_cli.cli.app import app
    from rnatracker_cli.pretrained import builtin_path, default_builtin

    name = default_builtin()
    fasta = tmp_path / "x.fa"
    fasta.write_text(">a\n" + "ACGUUGCAAUGGCU" * 30 + "\n>b\n" + "GGCAUCGAUUAGC" * 70 + "\n")
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(builtin_path(name), run / "model.pt")
    outputs = []
    for args in ([str(fasta)], ["--model", name, str(fasta)], ["--model", str(run / "model.pt"), str(fasta)],
                 ["--model", str(run), str(fasta)], [str(run), str(fasta)]):
        res = runner.invoke(app, ["predict", *args, "-q"])
        assert res.exit_code == 0, (args, res.output)
        outputs.append(res.stdout)
    assert all(o == outputs[0] for o in outputs)
    header = outputs[0].splitlines()[0].split("\t")
    assert header[:2] == ["id", "length"] and header[-2:] == ["sd_cytosol", "sd_nucleus"]  # an ensemble
    res = runner.invoke(app, ["predict", "--model", "no-such-model", str(fasta)])
    assert res.exit_code == 1 and res.output.startswith("error: ") and "rnatracker models" in res.output
    res = runner.invoke(app, ["predict", "--model", name, str(run), str(fasta)])
    assert res.exit_code == 1 and "give the model once" in res.output
    res = runner.invoke(app, ["scan-zipcodes", str(fasta), "--stride", "50", "-q"])
    assert res.exit_code == 0 and f"model={builtin_path(name)}" in res.stdout.splitlines()[0]
