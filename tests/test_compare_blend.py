"""The post-hoc blend of benchmarks/compare_cv_runs.py (--blend)."""

import importlib.util
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location(
    "compare_cv_runs", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_cv_runs.py")
compare_cv_runs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compare_cv_runs)


def test_geometric_blend_is_the_renormalised_geometric_mean():
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet([1, 1, 1], 50), rng.dirichlet([1, 1, 1], 50)
    out = compare_cv_runs.geometric_blend([a, b])
    expected = np.sqrt(a * b) / np.sqrt(a * b).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-9)
    np.testing.assert_allclose(compare_cv_runs.geometric_blend([a, a, a]), a, rtol=1e-9)
    # Opposite two-way predictions cancel; a zero fraction is floored, not -inf.
    np.testing.assert_allclose(compare_cv_runs.geometric_blend([np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])]),
                               [[0.5, 0.5]])
    zero = compare_cv_runs.geometric_blend([np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])])
    assert np.isfinite(zero).all() and zero[0, 0] > 0.99


def test_blend_rows_are_added_and_a_label_that_names_a_row_is_refused(tmp_path, monkeypatch, capsys):
    import sys

    import pytest

    from test_cv import FRACTIONS, _make_cache

    cache = _make_cache(tmp_path / "c.h5", n=20, seed=1)
    run = tmp_path / "run"
    (run / "predictions").mkdir(parents=True)
    ids = [f"t{i:03d}" for i in range(20)]
    (run / "folds.tsv").write_text("id\tfold\n" + "".join(f"{i}\t{1 + n % 2}\n" for n, i in enumerate(ids)))
    rng = np.random.default_rng(2)
    for name in ("a", "b"):
        rows = rng.dirichlet([1, 1, 1], len(ids))
        (run / "predictions" / f"{name}.tsv").write_text(
            "\t".join(["id", "fold", *FRACTIONS]) + "\n"
            + "".join(f"{i}\t{1 + n % 2}\t" + "\t".join(f"{v:.6f}" for v in r) + "\n"
                      for n, (i, r) in enumerate(zip(ids, rows))))
    base = ["compare_cv_runs.py", str(cache), str(run), "--bootstrap", "20"]
    monkeypatch.setattr(sys, "argv", [*base, "--blend", "ab=run/a,run/b"])
    compare_cv_runs.main()
    assert any(line.startswith("ab ") for line in capsys.readouterr().out.splitlines())
    monkeypatch.setattr(sys, "argv", [*base, "--blend", "run/a=run/a,run/b"])
    with pytest.raises(SystemExit, match="'run/a' already names a row"):
        compare_cv_runs.main()
