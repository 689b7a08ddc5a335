"""The shipped Snakemake workflow (`rnatracker workflow init`) and cv run dirs shared by jobs.

The end-to-end test runs the workflow with `snakemake --cores 2` on a tiny simulation and
checks that every output is byte-identical to running the same commands directly.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnatracker_cli.cli.app import app
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.workflows.cv import CVOptions, _create_config, _open_run
from rnatracker_cli.workflows.scaffold import WORKFLOW_FILES, _template, init_workflow

ROOT = Path(__file__).resolve().parent.parent
HAVE_SNAKEMAKE = importlib.util.find_spec("snakemake") is not None
needs_snakemake = pytest.mark.skipif(not HAVE_SNAKEMAKE, reason="snakemake is not installed (pip install 'rnatracker[workflow]')")


def _snakemake(workdir: Path, *args: str, timeout: float = 280) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in ``workdir``; the jobs' `python -m rnatracker_cli` import this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _configure(directory: Path, **sections) -> dict:
    """Load the written config.yaml, update its sections, write it back."""
    path = directory / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["rnatracker"] = f"{sys.executable} -m rnatracker_cli"
    for key, value in sections.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


# ---- workflow init ----------------------------------------------------------------------------


def test_init_writes_the_shipped_files(runner, tmp_path):
    out = tmp_path / "wf" / "nested"
    res = runner.invoke(app, ["workflow", "init", str(out)])
    assert res.exit_code == 0, res.output
    for name in WORKFLOW_FILES:
        assert (out / name).read_text() == _template(name)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["rnatracker"] == "rnatracker" and config["results"] == "results"
    assert {"prepare", "fold", "cv", "train", "predict", "scan", "motifs", "conserve"} <= set(config)
    assert config["motifs"]["enabled"] is False and config["conserve"]["enabled"] is False  # opt-in
    profile = yaml.safe_load((out / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["jobs"] > 0
    assert {"mem_mb", "runtime", "slurm_account", "slurm_partition"} <= set(profile["default-resources"])


def test_init_refuses_to_overwrite_without_force(runner, tmp_path):
    init_workflow(tmp_path)
    (tmp_path / "config.yaml").write_text("mine\n")
    res = runner.invoke(app, ["workflow", "init", str(tmp_path)])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--force" in lines[0]
    assert (tmp_path / "config.yaml").read_text() == "mine\n"  # nothing written
    res = runner.invoke(app, ["workflow", "init", str(tmp_path), "--force"])
    assert res.exit_code == 0
    assert (tmp_path / "config.yaml").read_text() == _template("config.yaml")


def test_init_into_a_file_is_an_error(runner, tmp_path):
    (tmp_path / "f").write_text("x")
    res = runner.invoke(app, ["workflow", "init", str(tmp_path / "f")])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "not a directory" in res.stderr


def test_workflow_files_ship_in_the_wheel():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"data/workflow/*"' in pyproject and '"data/workflow/profiles/slurm/*"' in pyproject
    for name in WORKFLOW_FILES:
        assert (ROOT / "rnatracker_cli" / "data" / "workflow" / name).is_file()


@needs_snakemake
def test_dry_run_plans_every_step(tmp_path, sim_dir):
    init_workflow(tmp_path)
    _configure(tmp_path, prepare={"fasta": str(sim_dir / "transcripts.fa"),
                                  "localization": str(sim_dir / "localization.tsv")},
               cv={"folds": 3, "use_gpu": True}, model="train",
               motifs={"enabled": True, "db": str(sim_dir / "motifs.meme")}, conserve={"enabled": True, "bigwig": str(sim_dir / "conservation.bw"),
                                                    "gtf": str(sim_dir / "annotation.gtf")})
    res = _snakemake(tmp_path, "-n", "-p", "--cores", "2", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout + res.stderr
    counts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["fold_shard"] == 4 and counts["cv_part"] == 2 * 3 and counts["cv_report"] == 1
    assert counts["predict_shard"] == 4 and counts["scan_shard"] == 4
    for rule in ("prepare", "fold", "train", "predict_merge", "scan_merge", "motifs", "conserve"):
        assert counts[rule] == 1, rule
    assert f"--db {sim_dir / 'motifs.meme'} --out results/motifs --force" in text
    # GPU marking: the deep model's cv jobs ask for a GPU and run on CUDA; the length model's don't.
    jobs = {}
    for block in text.split("\nrule ")[1:]:
        for line in block.splitlines():
            if line.strip().startswith("wildcards: model="):
                jobs[line.split("wildcards:")[1].strip()] = block
    deep, length = jobs["model=rnatracker, fold=1"], jobs["model=length, fold=1"]
    assert "gpu=1" in deep and "--models rnatracker --fold 1 --folds 3" in deep and "--device cuda" in deep
    assert "gpu=0" in length and "--models length --fold 1 --folds 3" in length and "--device cpu" in length


@needs_snakemake
def test_dry_run_scan_only_with_genomic_bed(tmp_path, sim_dir):
    """No training data: predict and scan with the built-in model; genomic BED12 + sidecar into conserve."""
    init_workflow(tmp_path)
    gtf = str(sim_dir / "annotation.gtf")
    _configure(tmp_path, prepare={"fasta": "", "localization": ""}, fold={"enabled": False}, cv={"enabled": False},
               predict={"fasta": str(sim_dir / "transcripts.fa"), "shards": 2},
               scan={"fasta": str(sim_dir / "transcripts.fa"), "shards": 2, "gtf": gtf},
               conserve={"enabled": True, "bigwig": str(sim_dir / "conservation.bw")})
    res = _snakemake(tmp_path, "-n", "-p", timeout=120)
    text = res.stdout + res.stderr
    assert res.returncode == 0, text
    assert "rule prepare" not in text and "rule cv_part" not in text and "--model" not in text  # built-in model
    assert f"--shard 2/2 --out results/scan/shard-2-of-2.bed --gtf {gtf}" in text
    assert "merge --out results/zipcodes.bed --force results/scan/shard-1-of-2.bed results/scan/shard-2-of-2.bed" in text
    assert f"conserve results/zipcodes.bed --bigwig {sim_dir / 'conservation.bw'} --gtf {gtf} " \
           "--extra results/zipcodes.extra.tsv" in text


@needs_snakemake
def test_config_errors_stop_before_any_job(tmp_path, sim_dir):
    init_workflow(tmp_path)
    _configure(tmp_path, prepare={"fasta": str(sim_dir / "transcripts.fa"),
                                  "localization": str(sim_dir / "localization.tsv")},
               conserve={"enabled": True})
    res = _snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode != 0 and "conserve.enabled needs conserve.bigwig" in res.stdout + res.stderr
    _configure(tmp_path, prepare={"fasta": str(sim_dir / "transcripts.fa"),
                                  "localization": str(sim_dir / "localization.tsv")},
               conserve={"enabled": False}, motifs={"enabled": True})
    res = _snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode != 0 and "motifs.enabled needs motifs.db" in res.stdout + res.stderr


# ---- cv run directories shared by jobs started together -----------------------------------------


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cvjobs") / "c.h5"
    seqs = [rng.integers(0, 4, size=150).astype(np.uint8) for _ in range(12)]
    targets = rng.dirichlet(np.ones(3), size=12).astype(np.float32)
    write_cache(path, ids=[f"t{i}" for i in range(12)], sequences=seqs, targets=targets, fractions=["a", "b", "c"])
    return path


def _open_in_process(args):
    cache_path, out, model, barrier = args
    barrier.wait()
    with Cache(cache_path) as cache:
        _open_run(Path(out), cache, CVOptions(models=[model], folds=2))


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_cv_jobs_started_together_share_one_run(tiny_cache, tmp_path):
    out = tmp_path / "run"
    models = ["length", "rnatracker", "kmer-gbm", "nolstm"]
    # fork: the jobs start together at a barrier, like a workflow engine's (spawn would spend
    # its time importing torch, which this does not need).
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(models))
    procs = [ctx.Process(target=_open_in_process, args=((tiny_cache, out, m, barrier),)) for m in models]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * len(models)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["folds"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # no temporary file left


def test_cv_config_created_by_another_job_meanwhile(tiny_cache, tmp_path):
    out = tmp_path / "run"
    with Cache(tiny_cache) as cache:
        _open_run(out, cache, CVOptions(models=["length"], folds=2))
        first = (out / "config.json").read_text()
        # The race: this job saw no config.json, another job created it before this one wrote.
        assert _create_config(out, out / "config.json", cache, {"other": True}) is False
        assert (out / "config.json").read_text() == first
        # Another job's temporary config file alone does not make the folder foreign.
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        (fresh / ".config.json.x1y2.tmp").write_text("{")
        _open_run(fresh, cache, CVOptions(models=["length"], folds=2))
        assert json.loads((fresh / "config.json").read_text())["options"]["models"] == ["length"]
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        (foreign / "notes.txt").write_text("mine")
        with pytest.raises(RNATrackerError, match="not empty and holds no CV run"):
            _open_run(foreign, cache, CVOptions(models=["length"], folds=2))


# ---- the whole workflow against the same commands run directly ---------------------------------

CV_ARGS = ["--folds", "2", "--epochs", "2", "--min-epochs", "1", "--bootstrap", "100", "--seed", "0"]
# --loss kl: a 2-epoch model trained with the default loss on these fractions (clr) hardly reacts
# to masking on the first shard; the test is about the workflow, not the model.
TRAIN_ARGS = ["--epochs", "2", "--min-epochs", "1", "--seed", "0", "--loss", "kl"]
FOLD_ARGS = ["--window", "80", "--span", "40"]  # a smaller RNAplfold window: cheaper, same code path
# A 2-epoch model changes little when a window is masked: a low cut-off so that the BED has regions.
SCAN_ARGS = ["--min-kl", "5e-8", "--min-support", "5"]


def _invoke(runner, *args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


@needs_snakemake
def test_workflow_outputs_equal_the_commands_run_directly(runner, tmp_path, monkeypatch):
    from rnatracker_cli.simulate import simulate_dataset, write_simulation

    sim = tmp_path / "sim"
    write_simulation(simulate_dataset(n=30, seed=5, max_length=450), sim, genome=False)
    fasta, table = sim / "transcripts.fa", sim / "localization.tsv"

    wf = tmp_path / "wf"
    init_workflow(wf)
    _configure(wf, prepare={"fasta": str(fasta), "localization": str(table)},
               fold={"shards": 2, "args": " ".join(FOLD_ARGS)}, model="train", train={"args": " ".join(TRAIN_ARGS)},
               cv={"models": ["rnatracker", "length"], "folds": 2, "args": " ".join(CV_ARGS[2:])},
               predict={"shards": 2}, scan={"shards": 2, "track": True, "args": " ".join(SCAN_ARGS)})
    res = _snakemake(wf, "--cores", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    got = wf / "results"

    # The same commands, run directly (one process each, no shards), with the same relative
    # paths (the BED's header names the model as given).
    d = tmp_path / "direct"
    (d / "results").mkdir(parents=True)
    monkeypatch.chdir(d)
    cache = "results/cache.h5"
    _invoke(runner, "prepare", "--fasta", fasta, "--localization", table, "--out", cache)
    _invoke(runner, "fold", cache, *FOLD_ARGS)
    _invoke(runner, "cv", cache, "--out", "results/cv", "--models", "rnatracker,length", *CV_ARGS, "--threads", "1",
            "--device", "cpu")
    _invoke(runner, "train", cache, "--out", "results/model", *TRAIN_ARGS, "--threads", "1", "--device", "cpu")
    _invoke(runner, "predict", "--model", "results/model", fasta, "--out", "results/predictions.tsv", "--device", "cpu")
    _invoke(runner, "scan-zipcodes", "--model", "results/model", fasta, "--out", "results/zipcodes.bed",
            "--track", "results/zipcodes.bedgraph", *SCAN_ARGS, "--device", "cpu")
    d = d / "results"

    with Cache(got / "cache.h5") as a, Cache(cache) as b:
        assert a.identity == b.identity  # same sequences, targets and folded structure
    for name in ("cv/folds.tsv", "cv/metrics.tsv", "cv/table.tsv", "cv/comparisons.tsv",
                 "cv/predictions/rnatracker.tsv", "cv/predictions/length.tsv",
                 "predictions.tsv", "zipcodes.bed", "zipcodes.bedgraph"):
        assert (got / name).read_bytes() == (d / name).read_bytes(), name
    assert len((got / "predictions.tsv").read_text().splitlines()) == 31  # header + every transcript
    regions = [line.split("\t")[0] for line in (got / "zipcodes.bed").read_text().splitlines()[1:]]
    ids = [line[1:].split()[0] for line in fasta.read_text().splitlines() if line.startswith(">")]
    assert set(regions) & set(ids[:15]) and set(regions) & set(ids[15:])  # both shards found regions
    assert not list((got / "predict").glob("shard-*")) and not list((got / "scan").glob("shard-*"))  # temp parts

    # Up to date: a second run has nothing to do (the fold markers survive the in-place cache update).
    again = _snakemake(wf, "--cores", "2", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr
