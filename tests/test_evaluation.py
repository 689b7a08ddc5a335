
import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.evaluation.compare import delong_components, delong_test, paired_bootstrap_pearson
from rnatracker_cli.evaluation.folds import assign_folds
from rnatracker_cli.metrics import average_precision, evaluate, kl_divergence, roc_auc, roc_curve


def _naive_auc(labels, scores):
    pos, neg = scores[labels], scores[~labels]
    return np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])


def _naive_ap(labels, scores):
    """Average precision from its definition, threshold by threshold."""
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        pred = scores >= t
        tp = (pred & labels).sum()
        precision, recall = tp / pred.sum(), tp / labels.sum()
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def test_auc_and_ap_match_definitions_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(4, 40))
        labels = rng.random(n) < 0.4
        if labels.all() or not labels.any():
            continue
        scores = rng.integers(0, 6, size=n) / 5  # many ties
        assert roc_auc(labels, scores) == pytest.approx(_naive_auc(labels, scores))
        assert average_precision(labels, scores) == pytest.approx(_naive_ap(labels, scores))
        fpr, tpr = roc_curve(labels, scores)
        assert np.trapezoid(tpr, fpr) == pytest.approx(_naive_auc(labels, scores))


def _naive_delong(labels, a, b):
    """DeLong's statistic computed directly from the O(m·n) kernel matrix."""
    def comps(s):
        pos, neg = s[labels], s[~labels]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = comps(a), comps(b)
    m, n = len(v10a), len(v01a)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    s = s10 / m + s01 / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    return auc_a - auc_b, np.sqrt(var)


def test_fast_delong_equals_direct_computation():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(6, 60))
        labels = rng.random(n) < 0.5
        if labels.sum() < 2 or (~labels).sum() < 2:
            continue
        a = labels * 0.5 + rng.normal(size=n)
        b = np.round(labels * 0.3 + rng.normal(size=n), 1)  # ties
        res = delong_test(labels, a, b)
        diff, se = _naive_delong(labels, a, b)
        assert res["diff"] == pytest.approx(diff, abs=1e-12)
        assert res["se"] == pytest.approx(se, rel=1e-9)
        assert 0 <= res["p"] <= 1
        auc, v10, v01 = delong_components(labels, np.vstack([a, b]))
        assert auc[0] == pytest.approx(_naive_auc(labels, a))


def test_delong_detects_a_real_difference():
    rng = np.random.default_rng(2)
    labels = rng.random(2000) < 0.5
    good = labels + rng.normal(0, 0.7, 2000)
    bad = labels + rng.normal(0, 2.0, 2000)
    assert delong_test(labels, good, bad)["p"] < 1e-6
    same = delong_test(labels, good, good)
    assert same["diff"] == 0 and same["p"] == 1.0 and same["z"] == 0.0  # identical rankings: no evidence of a difference


def test_bootstrap_interval_covers_and_separates():
    rng = np.random.default_rng(3)
    t = rng.normal(size=500)
    a = t + rng.normal(0, 0.5, 500)
    b = t + rng.normal(0, 1.5, 500)
    res = paired_bootstrap_pearson(t, a, b, n_boot=500, seed=0)
    assert res["ci_low"] < res["diff"] < res["ci_high"]
    assert res["ci_low"] > 0 and res["p"] < 0.01
    again = paired_bootstrap_pearson(t, a, b, n_boot=500, seed=0)
    assert again == res


def test_evaluate_matches_scipy():
    rng = np.random.default_rng(4)
    t = rng.dirichlet(np.ones(3), size=200)
    p = 0.7 * t + 0.3 * rng.dirichlet(np.ones(3), size=200)
    rows = {(f, m): v for f, m, v in evaluate(t, p, ["a", "b", "c"])}
    assert rows[("b", "pearson")] == pytest.approx(pearsonr(p[:, 1], t[:, 1])[0])
    assert rows[("c", "spearman")] == pytest.approx(spearmanr(p[:, 2], t[:, 2])[0])
    kl = np.sum(t * np.log(t / p), axis=1).mean()
    assert rows[("all", "kl_mean")] == pytest.approx(kl)
    assert 0.5 < rows[("micro", "roc_auc")] <= 1
    assert kl_divergence(t, t).max() == pytest.approx(0, abs=1e-12)


def test_folds_are_stratified_grouped_and_seeded():
    rng = np.random.default_rng(5)
    n = 600
    labels = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])
    genes = rng.integers(0, 400, size=n)
    folds = assign_folds(labels, 5, genes, seed=0)
    assert set(folds) == set(range(5))
    for g in np.unique(genes):
        assert len(set(folds[genes == g])) == 1  # no gene split
    for c in range(4):
        per_fold = np.bincount(folds[labels == c], minlength=5)
        assert per_fold.max() - per_fold.min() <= max(3, 0.25 * per_fold.mean())
    assert np.array_equal(folds, assign_folds(labels, 5, genes, seed=0))
    assert not np.array_equal(folds, assign_folds(labels, 5, genes, seed=1))
    single = assign_folds(labels, 10, None, seed=0)
    assert np.bincount(single).min() >= 59


def test_fold_errors():
    with pytest.raises(RNATrackerError, match="at least 2"):
        assign_folds(np.zeros(10, int), 1)
    with pytest.raises(RNATrackerError, match="more than the 3 transcripts"):
        assign_folds(np.zeros(3, int), 4)
    with pytest.raises(RNATrackerError, match="more than the 2 genes"):
        assign_folds(np.zeros(6, int), 3, np.array(list("aabbba")))


def _two_models(n, n_fractions, seed, noise=(1.0, 1.2)):
    rng = np.random.default_rng(seed)
    targets = rng.dirichlet(np.ones(n_fractions), size=n)
    out = []
    for sd in noise:
        logits = np.log(targets) + rng.normal(0, sd, size=targets.shape)
        out.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return targets, out[0], out[1]


def test_per_fraction_delong_rows_equal_a_direct_computation():
    from scipy.stats import norm

    from rnatracker_cli.evaluation.report import comparison_rows
    from rnatracker_cli.metrics import one_vs_rest

    targets, a, b = _two_models(80, 3, seed=2)
    rows = {(r[2], r[3]): r for r in comparison_rows(targets, {"a": a, "b": b}, ["x", "y", "z"], n_boot=50)}
    labels = one_vs_rest(targets)
    for f, name in enumerate(["x", "y", "z"]):
        diff, se = _naive_delong(labels[:, f], a[:, f], b[:, f])
        _, _, _, _, estimate, low, high, z, p = rows[("delong_roc_auc", name)]
        assert estimate == pytest.approx(diff, abs=1e-12)
        assert (low, high) == pytest.approx((diff - 1.96 * se, diff + 1.96 * se), rel=1e-9)
        assert z == pytest.approx(diff / se, rel=1e-9) and p == pytest.approx(2 * norm.sf(abs(diff / se)), rel=1e-9)
    assert [r[3] for r in rows.values() if r[2] == "bootstrap_roc_auc"] == ["micro", "macro"]


def test_weighted_auc_equals_auc_of_the_resampled_data():
    from rnatracker_cli.evaluation.compare import weighted_auc

    rng = np.random.default_rng(3)
    labels, scores = rng.random(40) < 0.3, np.round(rng.random(40), 1)  # many ties
    weights = rng.integers(0, 3, size=(6, 40))
    expected = [roc_auc(np.repeat(labels, w), np.repeat(scores, w)) for w in weights]
    np.testing.assert_allclose(weighted_auc(labels, scores, weights), expected, rtol=1e-12)


def test_transcript_bootstrap_respects_the_unit_where_pooled_delong_does_not():
    """Two fractions: each transcript gives two entries that carry the same information (labels
    y, 1 − y; scores p, 1 − p). DeLong on the pooled entries counts every transcript twice and
    reports a p-value several times too small; the transcript-level bootstrap of the micro AUC agrees
    with DeLong on one fraction (the same test on the transcripts, for two fractions)."""
    from rnatracker_cli.evaluation.compare import paired_bootstrap_auc
    from rnatracker_cli.metrics import one_vs_rest

    targets, a, b = _two_models(300, 2, seed=3, noise=(1.0, 1.4))
    labels = one_vs_rest(targets)
    pooled = delong_test(labels.ravel(), a.ravel(), b.ravel())["p"]
    per_fraction = delong_test(labels[:, 0], a[:, 0], b[:, 0])["p"]
    boot = paired_bootstrap_auc(labels, a, b, n_boot=2000, seed=1)
    assert boot["micro"]["diff"] == pytest.approx(roc_auc(labels.ravel(), a.ravel()) - roc_auc(labels.ravel(), b.ravel()))
    assert boot["macro"]["diff"] == pytest.approx(np.mean([roc_auc(labels[:, f], a[:, f]) - roc_auc(labels[:, f], b[:, f])
                                                           for f in range(2)]))
    assert boot["micro"]["p"] == pytest.approx(per_fraction, rel=0.4)  # both ≈ 0.05
    assert pooled < 0.25 * boot["micro"]["p"]  # ≈ 0.006
    # Duplicating every transcript's entries (as more fractions of the same transcript would)
    # leaves the transcript bootstrap where it was, while the pooled test grows ever more certain.
    dup = paired_bootstrap_auc(np.hstack([labels, labels]), np.hstack([a, a]), np.hstack([b, b]), n_boot=2000, seed=1)
    assert dup["micro"]["p"] == pytest.approx(boot["micro"]["p"], rel=0.05)
    pooled_dup = delong_test(np.hstack([labels, labels]).ravel(), np.hstack([a, a]).ravel(), np.hstack([b, b]).ravel())
    assert pooled_dup["p"] < 0.5 * pooled
    # seeded
    assert paired_bootstrap_auc(labels, a, b, n_boot=200, seed=4) == paired_bootstrap_auc(labels, a, b, n_boot=200, seed=4)
