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
