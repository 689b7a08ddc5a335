"""Greedy nesting of base-pair probabilities into one pseudoknot-free structure.

RNATracker (Yan et al. 2019, §2.2) turns RNAplfold's pair probabilities into a single
secondary structure greedily: pairs are taken by decreasing probability and a pair is kept
when both its bases are still free and it crosses no pair kept before. The result is a
valid dot-bracket (nested) structure.

Crossing test in O(log n): write +1 at the opening base and -1 at the closing base of every
kept pair. Because the kept pairs are nested, a candidate (i, j) with both bases free
crosses none of them exactly when the stretch strictly between i and j is balanced: its
sum is 0 and no prefix of it is negative (a negative prefix is a pair closing inside that
opened before i; a positive total is one opening inside that closes after j). A segment
tree holding (sum, minimum prefix) per node answers that in O(log n) and is updated in
O(log n) per kept pair, so nesting P candidate pairs costs O(P log n) after the
O(P log P) sort.
"""

from __future__ import annotations

import numpy as np


def nest_pairs(i: np.ndarray, j: np.ndarray, p: np.ndarray, length: int) -> np.ndarray:
    """Greedily nest candidate pairs, most probable first.

    i, j: int arrays (P,), 0-based bases of each candidate pair with i < j < length;
    p: float array (P,), their probabilities. Ties are broken by (i, j) ascending, so the
    result is a pure function of the input set. Returns the partner array, int32
    (length,): the 0-based partner of each base, or -1 when unpaired. Pairs whose bases
    are already taken or that cross a kept pair are skipped.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    if not (i.shape == j.shape == p.shape and i.ndim == 1):
        raise ValueError("i, j and p must be 1-D arrays of the same length")
    if i.size and (i.min() < 0 or j.max() >= length or (i >= j).any()):
        raise ValueError(f"pairs must satisfy 0 <= i < j < length ({length})")
    partner = [-1] * length
    if i.size == 0:
        return np.asarray(partner, dtype=np.int32)

    order = np.lexsort((j, i, -p))
    size = 1 << max(length - 1, 1).bit_length()  # leaves: a power of two >= length
    tot = [0] * (2 * size)  # sum of the node's leaves
    low = [0] * (2 * size)  # minimum prefix sum over the node (empty prefix included: <= 0)

    # Plain lists and inlined tree code: this loop runs once per candidate pair (a few per
    # nucleotide), and list indexing is several times faster than NumPy scalar access.
    for a, b in zip(i[order].tolist(), j[order].tolist()):
        if partner[a] >= 0 or partner[b] >= 0:
            continue
        # Query the open interval (a, b) = leaves [a + 1, b), combining left and right
        # partial results separately because the combination is not commutative.
        lo, hi = a + 1 + size, b + size
        s_left = s_right = m_right = 0
        crossing = False
        while lo < hi:
            if lo & 1:
                if s_left + low[lo] < 0:
                    crossing = True  # a kept pair closes inside after opening before a
                    break
                s_left += tot[lo]
                lo += 1
            if hi & 1:
                hi -= 1
                m_right = min(low[hi], tot[hi] + m_right)
                s_right += tot[hi]
            lo >>= 1
            hi >>= 1
        if crossing or s_left + s_right != 0 or s_left + m_right < 0:
            continue
        partner[a], partner[b] = b, a
        for leaf, value in ((a, 1), (b, -1)):
            node = leaf + size
            tot[node] = value
            low[node] = value if value < 0 else 0
            node >>= 1
            while node:
                left, right = 2 * node, 2 * node + 1
                tot[node] = tot[left] + tot[right]
                low[node] = min(low[left], tot[left] + low[right])
                node >>= 1
    return np.asarray(partner, dtype=np.int32)

