"""SortedSpool: a stable external merge sort, identical to sorted() at any memory limit."""

from __future__ import annotations

import random

import pytest

from rnatracker_cli.io import spool as spool_mod
from rnatracker_cli.io.spool import SortedSpool


def _items(n: int, seed: int) -> list[tuple[tuple, str]]:
    rng = random.Random(seed)
    # Few distinct keys: many ties, whose order must be the order of adding.
    return [((rng.choice([b"chr1", b"chr2", b"chrX"]), rng.randrange(20), rng.randrange(3)), f"item{i}")
            for i in range(n)]


@pytest.mark.parametrize("limit,max_open", [(1, 64), (3, 2), (7, 3), (10_000, 64)])
def test_spool_equals_stable_sorted(limit, max_open, tmp_path, monkeypatch):
    monkeypatch.setattr(spool_mod, "MAX_OPEN_RUNS", max_open)
    monkeypatch.setattr(spool_mod, "BLOCK_ITEMS", 4)
    items = _items(500, limit)
    with SortedSpool(limit, directory=tmp_path) as spool:
        for key, payload in items:
            spool.add(key, payload)
        assert spool.count == 500
        assert spool.runs == (500 // limit if limit < 500 else 0)
        got = list(spool)
    assert got == [p for _, p in sorted(items, key=lambda kv: kv[0])]
    assert list(tmp_path.iterdir()) == []  # run files removed on close


def test_spool_default_limit_and_empty(monkeypatch):
    monkeypatch.setattr(spool_mod, "DEFAULT_SPOOL_ITEMS", 2)
    with SortedSpool() as spool:
        assert spool.limit == 2 and list(spool) == []
    with pytest.raises(ValueError):
        SortedSpool(0)
