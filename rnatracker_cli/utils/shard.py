"""Shard specs ``K/N``: which contiguous block of records one ``--shard`` run processes.

``predict`` and ``scan-zipcodes`` split their input into N contiguous blocks of records, in
file order: shard K (1-based) of N takes records ``floor((K-1)·n/N) ≤ i < floor(K·n/N)`` of
the ``n`` records (for ``scan-zipcodes``, the ``n`` records that ``--ids``/``--ids-file``
select). The blocks cover every record once and differ in size by at most one; with N > n
some are empty. Contiguous blocks make the merge of the shards' outputs a concatenation (or a
sorted merge) that gives back exactly the single run's file (``rnatracker merge``).
(``fold --shard`` interleaves records instead, ``i % N == K-1``: its parts are merged by
record index, and interleaving mixes the lengths.)
"""

from __future__ import annotations

import re

from rnatracker_cli.errors import InputError

Shard = tuple[int, int]


def parse_shard(text: str) -> Shard:
    """``"K/N"`` → ``(K, N)`` with 1 <= K <= N; anything else raises :class:`InputError`."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise InputError(f"--shard must be K/N with 1 <= K <= N, e.g. 1/4 (got {text!r})")
    return int(m.group(1)), int(m.group(2))


def check_shard(shard: Shard) -> Shard:
    """``(K, N)`` as ints, checked like :func:`parse_shard` (for callers passing a tuple)."""
    k, n = int(shard[0]), int(shard[1])
    if not 1 <= k <= n:
        raise InputError(f"--shard must be K/N with 1 <= K <= N (got {k}/{n})")
    return k, n


def shard_bounds(shard: Shard, count: int) -> tuple[int, int]:
    """Half-open record range ``(lo, hi)`` of shard ``(K, N)`` among ``count`` records."""
    k, n = check_shard(shard)
    return (k - 1) * count // n, k * count // n
