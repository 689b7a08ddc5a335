"""Greedy nesting: valid nested structures, and exactly the greedy choice of the paper."""

import numpy as np
import pytest

from rnatracker_cli.structure.elements import dotbracket_to_partner, partner_to_dotbracket
from rnatracker_cli.structure.nesting import nest_pairs


def _crosses(a, b, c, d):
    return a < c < b < d or c < a < d < b


def _naive(i, j, p, n):
    """O(P^2) reference: the paper's rule written plainly (compare with every kept pair)."""
    partner = np.full(n, -1, dtype=np.int32)
    kept = []
    for k in sorted(range(len(i)), key=lambda k: (-p[k], i[k], j[k])):
        a, b = int(i[k]), int(j[k])
        if partner[a] >= 0 or partner[b] >= 0 or any(_crosses(a, b, c, d) for c, d in kept):
            continue
        kept.append((a, b))
        partner[a], partner[b] = b, a
    return partner


def _random_pairs(rng, n, k, decimals=None):
    i, j = rng.integers(0, n, k), rng.integers(0, n, k)
    keep = i < j
    p = rng.random(int(keep.sum()))
    if decimals is not None:
        p = p.round(decimals)  # many ties: tie-breaking must match too
    return i[keep], j[keep], p


def _kept_pairs(partner):
    idx = np.flatnonzero(partner > np.arange(len(partner)))
    return list(zip(idx.tolist(), partner[idx].tolist()))


def test_hand_example():
    # By decreasing probability: (15,18) kept; (5,15) shares base 15; (0,10) kept; (1,9)
    # nests inside it, kept; (6,14) crosses (0,10) since 0 < 6 < 10 < 14; (16,19) crosses
    # (15,18).
    i = np.array([0, 5, 1, 6, 16, 15])
    j = np.array([10, 15, 9, 14, 19, 18])
    p = np.array([0.9, 0.95, 0.5, 0.4, 0.3, 0.99])
    assert partner_to_dotbracket(nest_pairs(i, j, p, 20)) == "((.......))....(..)."


def test_matches_naive_reference_on_random_inputs():
    rng = np.random.default_rng(11)
    for case in range(2000):
        n = int(rng.integers(1, 70))
        i, j, p = _random_pairs(rng, n, int(rng.integers(0, 4 * n + 1)), decimals=case % 4 or None)
        ours = nest_pairs(i, j, p, n)
        assert np.array_equal(ours, _naive(i, j, p, n)), (case, n)


def test_never_crossing_and_greedy_certificate():
    """On long random inputs: nested output; every rejected pair conflicts with a kept pair at
    least as probable (so the kept set is exactly the greedy choice)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(200, 1500))
        # local pairs, like RNAplfold's (span <= 100)
        k = 3 * n
        i = rng.integers(0, n, k)
        j = i + rng.integers(4, 101, k)
        keep = j < n
        i, j = i[keep], j[keep]
        p = rng.random(i.size)
        partner = nest_pairs(i, j, p, n)
        # nested: matching the brackets like a parser gives back the same pairs
        assert np.array_equal(dotbracket_to_partner(partner_to_dotbracket(partner)), partner)
        kept = _kept_pairs(partner)
        kept_p = {}  # a kept pair's probability: the best of its duplicates in the input
        for a, b, q in zip(i.tolist(), j.tolist(), p.tolist()):
            if partner[a] == b:
                kept_p[a, b] = max(q, kept_p.get((a, b), q))
        assert len(kept_p) == len(kept)
        kp = np.array(kept)
        kq = np.array([kept_p[t] for t in kept])
        for a, b, q in zip(i.tolist(), j.tolist(), p.tolist()):
            if partner[a] == b:
                continue
            share = (kp[:, 0] == a) | (kp[:, 1] == b) | (kp[:, 0] == b) | (kp[:, 1] == a)
            cross = ((a < kp[:, 0]) & (kp[:, 0] < b) & (b < kp[:, 1])) | (
                (kp[:, 0] < a) & (a < kp[:, 1]) & (kp[:, 1] < b))
            assert ((share | cross) & (kq >= q)).any()


def test_most_probable_pair_is_kept_and_duplicates_are_harmless():
    rng = np.random.default_rng(1)
    i, j, p = _random_pairs(rng, 100, 300)
    best = int(np.argmax(p))
    partner = nest_pairs(np.concatenate([i, i]), np.concatenate([j, j]), np.concatenate([p, p]), 100)
    assert partner[i[best]] == j[best]
    assert np.array_equal(partner, nest_pairs(i, j, p, 100))


def test_input_order_does_not_matter():
    rng = np.random.default_rng(2)
    i, j, p = _random_pairs(rng, 300, 900, decimals=2)
    perm = rng.permutation(i.size)
    assert np.array_equal(nest_pairs(i, j, p, 300), nest_pairs(i[perm], j[perm], p[perm], 300))


def test_edge_cases_and_bad_input():
    assert nest_pairs(np.array([]), np.array([]), np.array([]), 0).shape == (0,)
    assert nest_pairs(np.array([]), np.array([]), np.array([]), 5).tolist() == [-1] * 5
    assert nest_pairs(np.array([0]), np.array([1]), np.array([0.5]), 2).tolist() == [1, 0]
    out = nest_pairs(np.array([0]), np.array([1]), np.array([0.5]), 2)
    assert out.dtype == np.int32
    with pytest.raises(ValueError):
        nest_pairs(np.array([3]), np.array([2]), np.array([0.5]), 5)  # i >= j
    with pytest.raises(ValueError):
        nest_pairs(np.array([0]), np.array([5]), np.array([0.5]), 5)  # j out of range
    with pytest.raises(ValueError):
        nest_pairs(np.array([0, 1]), np.array([4]), np.array([0.5]), 5)  # shapes differ
