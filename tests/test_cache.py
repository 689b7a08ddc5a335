import pickle

import h5py
import numpy as np
import pytest

from rnatracker_cli.errors import CacheError
from rnatracker_cli.io.cache import SCHEMA_VERSION, STRUCTURE_UNSET, Cache, write_cache


@pytest.fixture
def cache_path(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, size=int(n)).astype(np.uint8) for n in rng.integers(1, 300, size=40)]
    targets = rng.dirichlet(np.ones(3), size=40).astype(np.float32)
    path = tmp_path / "c.h5"
    write_cache(path, ids=[f"t{i}" for i in range(40)], sequences=seqs, targets=targets,
                fractions=["a", "b", "c"], genes=[f"g{i // 2}" for i in range(40)])
    return path, seqs, targets


def test_round_trip_and_batched_reads(cache_path):
    path, seqs, targets = cache_path
    c = Cache(path)
    assert len(c) == 40 and c.fractions == ["a", "b", "c"]
    assert c.genes[3] == "g1"
    np.testing.assert_array_equal(c.targets, targets)
    assert all(np.array_equal(c.sequence(i), s) for i, s in enumerate(seqs))
    idx = [7, 3, 39, 0]
    assert all(np.array_equal(a, seqs[i]) for a, i in zip(c.sequences(idx), idx))
    order = c.length_order()
    assert np.all(np.diff(c.lengths[order]) >= 0)
    seen = []
    for batch_idx, batch in c.iter_batches(8):
        assert len(batch) == len(batch_idx) <= 8
        assert all(np.array_equal(a, seqs[i]) for a, i in zip(batch, batch_idx))
        seen.extend(batch_idx.tolist())
    assert sorted(seen) == list(range(40))
    c.load()
    assert np.array_equal(c.sequences([5])[0], seqs[5])
    assert c.index_of(["t2", "t0"]).tolist() == [2, 0]
    with pytest.raises(CacheError, match="not in"):
        c.index_of(["zzz"])


def test_pickled_reader_reopens_lazily(cache_path):
    path, seqs, _ = cache_path
    c = Cache(path)
    c.sequence(0)
    clone = pickle.loads(pickle.dumps(c))
    assert clone._file is None
    assert np.array_equal(clone.sequence(10), seqs[10])


def test_storage_is_one_byte_per_nucleotide(tmp_path):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 4, size=3500).astype(np.uint8) for _ in range(300)]
    path = tmp_path / "big.h5"
    write_cache(path, ids=[f"t{i}" for i in range(300)], sequences=seqs,
                targets=np.full((300, 2), 0.5, np.float32), fractions=["a", "b"])
    raw = sum(len(s) for s in seqs)
    assert path.stat().st_size < 1.1 * raw


def test_schema_and_not_a_cache(tmp_path, cache_path):
    path, *_ = cache_path
    with h5py.File(path, "r+") as f:
        f.attrs["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(CacheError, match="schema"):
        Cache(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(CacheError, match="not an rnatracker cache"):
        Cache(other)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(CacheError, match="cannot open"):
        Cache(tmp_path / "text.h5")
    with pytest.raises(CacheError, match="not found"):
        Cache(tmp_path / "none.h5")


def test_structure_datasets(cache_path):
    path, seqs, _ = cache_path
    with Cache(path, "r+") as c:
        assert c.structure_done is None and not c.has_structure
        with pytest.raises(CacheError, match="run `rnatracker fold"):
            c.structure(0)
        c.ensure_structure({"window": 150})
        c.write_structure([1, 4], [np.full(len(seqs[1]), 5, np.uint8), np.zeros(len(seqs[4]), np.uint8)])
        with pytest.raises(CacheError, match="folded with"):
            c.ensure_structure({"window": 100})
    with Cache(path) as c:
        done = c.structure_done
        assert done.sum() == 2 and done[1] and done[4] and not c.has_structure
        assert (c.structure(1) == 5).all() and (c.structure(0) == STRUCTURE_UNSET).all()
        with pytest.raises(CacheError, match="read-only"):
            c.write_structure([0], [np.zeros(len(seqs[0]), np.uint8)])


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_cache(tmp_path / "c.h5", ids=["a"], sequences=[np.zeros(3, np.uint8)],
                    targets=np.ones((2, 2), np.float32), fractions=["x", "y"])
    assert list(tmp_path.iterdir()) == []
