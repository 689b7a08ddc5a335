"""benchmarks/ensemble_size.py: out-of-fold predictions of the first k members of a `cv --replicates K` run."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnatracker_cli.workflows.cv import CVOptions, run_cv

from test_cv import FAST, FRACTIONS, _make_cache

_SPEC = importlib.util.spec_from_file_location(
    "ensemble_size", Path(__file__).resolve().parents[1] / "benchmarks" / "ensemble_size.py")
ensemble_size = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ensemble_size)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    cache = _make_cache(root / "c.h5", n=30, seed=3)
    options = dict(models=["kmer-nn"], folds=3, **FAST)
    assert run_cv(cache, root / "k1", CVOptions(**options), device="cpu").complete
    assert run_cv(cache, root / "k3", CVOptions(replicates=3, **options), device="cpu").complete
    return cache, root


def _predictions(path):
    return pd.read_csv(path, sep="\t").set_index("id")


def test_first_member_is_the_single_run_and_all_members_the_ensemble_run(runs):
    cache, root = runs
    done, index, probs = ensemble_size.member_subset_predictions(cache, root / "k3", "kmer-nn", [1, 2, 3])
    assert done == [1, 2, 3] and sorted(index.tolist()) == list(range(30))
    single, triple = _predictions(root / "k1" / "predictions" / "kmer-nn.tsv"), \
        _predictions(root / "k3" / "predictions" / "kmer-nn.tsv")
    ids = single.index.to_numpy()[index]  # cv predictions are in cache order
    np.testing.assert_allclose(probs[1], single.loc[ids, FRACTIONS].to_numpy(), atol=2e-6)
    np.testing.assert_allclose(probs[3], triple.loc[ids, FRACTIONS].to_numpy(), atol=2e-6)
    assert np.abs(probs[2] - probs[1]).max() > 1e-4 and np.abs(probs[2] - probs[3]).max() > 1e-4
    np.testing.assert_allclose(probs[2].sum(axis=1), 1, atol=1e-5)


def test_cli_writes_cv_layout_predictions_for_unfinished_runs_and_refuses_too_many_members(runs, tmp_path,
                                                                                            monkeypatch, capsys):
    cache, root = runs
    (root / "k3" / "parts" / "kmer-nn" / "fold2.tsv").rename(root / "fold2.tsv.bak")  # fold 2 "still running"
    try:
        monkeypatch.setattr(sys, "argv", ["ensemble_size.py", str(cache), str(root / "k3"), "--out", str(tmp_path / "o"),
                                          "--model", "kmer-nn", "--sizes", "1,3", "--bootstrap", "50"])
        ensemble_size.main()
        text = capsys.readouterr().out
        assert "folds 1,3:" in text and "paired tests k3 − k1" in text
        folds = _predictions(root / "k3" / "folds.tsv")["fold"]
        for k in (1, 3):
            pred = _predictions(tmp_path / "o" / "predictions" / f"k{k}.tsv")
            assert list(pred.columns) == ["fold", *FRACTIONS]
            assert set(pred["fold"]) == {1, 3} and (pred["fold"] == folds.loc[pred.index]).all()
            assert len(pred) == int((folds != 2).sum())
        assert (tmp_path / "o" / "folds.tsv").read_text() == (root / "k3" / "folds.tsv").read_text()
        monkeypatch.setattr(sys, "argv", ["ensemble_size.py", str(cache), str(root / "k3"), "--out", str(tmp_path / "p"),
                                          "--model", "kmer-nn", "--sizes", "4"])
        with pytest.raises(SystemExit, match="has 3 members, fewer than 4"):
            ensemble_size.main()
    finally:
        (root / "fold2.tsv.bak").rename(root / "k3" / "parts" / "kmer-nn" / "fold2.tsv")
