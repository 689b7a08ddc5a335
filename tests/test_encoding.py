"""Padding, truncation, one-hot channels and batch planning (rnatracker_cli.encoding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnatracker_cli.alphabet import encode
from rnatracker_cli.encoding import ENCODINGS, get_encoding, make_batch, plan_batches
from rnatracker_cli.errors import CacheError, RNATrackerError
from rnatracker_cli.io.cache import Cache, write_cache
from rnatracker_cli.training.data import load_training_set

EYE = np.eye(5, 4, dtype=np.float32)  # row N = zeros


def codes(text: str) -> np.ndarray:
    return encode(text)[0]


def one_hot(batch, name="seq") -> np.ndarray:
    return get_encoding(name).tensors(batch, "cpu").numpy()


def test_fixed_mode_pads_short_transcripts_at_the_5prime_end():
    seq = codes("ACGTNAC")
    b = make_batch([seq], "fixed", max_len=10)
    assert b.codes.shape == (1, 10)
    assert b.codes[0].tolist() == [4, 4, 4, 0, 1, 2, 3, 4, 0, 1]
    x = one_hot(b)
    assert x.shape == (1, 4, 10) and x.dtype == np.float32
    assert np.array_equal(x[0, :, :3], np.zeros((4, 3)))
    assert np.array_equal(x[0, :, 3:], EYE[seq].T)
    assert b.lengths.tolist() == [10]  # the padding is input in fixed mode (the paper's setting)
    assert b.nt_lengths.tolist() == [7] and b.starts.tolist() == [-3]


def test_fixed_mode_truncates_long_transcripts_at_the_5prime_end():
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 4, size=25).astype(np.uint8)
    b = make_batch([seq, seq[:10]], "fixed", max_len=10)
    assert np.array_equal(b.codes[0], seq[-10:])  # the 3' end is kept
    assert np.array_equal(b.codes[1], seq[:10])  # exactly max_len: untouched
    assert b.starts.tolist() == [15, 0]
    assert np.array_equal(one_hot(b)[0], EYE[seq[-10:]].T)


def test_full_mode_pads_at_the_3prime_end_with_valid_lengths():
    a, c = codes("ACGTACGTAC"), codes("GGN")
    b = make_batch([a, c], "full", max_len=None, min_len=5)
    assert b.codes.shape == (2, 10)
    assert b.codes[1].tolist() == [2, 2, 4] + [4] * 7
    assert b.lengths.tolist() == [10, 5]  # short rows padded up to the network minimum
    assert b.nt_lengths.tolist() == [10, 3] and b.starts.tolist() == [0, 0]
    x = one_hot(b)
    assert np.array_equal(x[1, :, :3], EYE[c].T) and not x[1, :, 3:].any()


def test_full_mode_with_max_len_truncates_the_5prime_end():
    a = np.arange(12, dtype=np.uint8) % 4
    b = make_batch([a], "full", max_len=8, min_len=1)
    assert np.array_equal(b.codes[0], a[-8:]) and b.starts.tolist() == [4] and b.nt_lengths.tolist() == [12]


def test_structure_encodings_are_exact():
    seq = codes("ACGTN")
    struct = np.array([0, 1, 2, 3, 5], dtype=np.uint8)  # F T I H S
    b = make_batch([seq], "full", None, min_len=7, structures=[struct])
    joint = one_hot(b, "seqxstruct")[0]
    assert joint.shape == (24, 7)
    for col, (base, element) in enumerate(zip(seq[:4], struct[:4])):
        expected = np.zeros(24)
        expected[base * 6 + element] = 1
        assert np.array_equal(joint[:, col], expected)
    assert not joint[:, 4:].any()  # N and padding are all-zero
    split = one_hot(b, "seq+struct")[0]
    assert split.shape == (10, 7)
    assert np.array_equal(split[:4, :5], EYE[seq].T)
    assert np.array_equal(split[4:, :5], np.eye(6)[struct].T)  # structure kept under an N base
    assert not split[:, 5:].any()
    assert ENCODINGS["seq+struct"].branches == (4, 6)


def test_structure_encoding_without_structure_is_an_error():
    b = make_batch([codes("ACGT")], "full", None)
    with pytest.raises(RNATrackerError, match="fold"):
        get_encoding("seqxstruct").tensors(b, "cpu")
    with pytest.raises(RNATrackerError, match="unknown input encoding"):
        get_encoding("onehot")
    with pytest.raises(RNATrackerError, match="mode"):
        make_batch([codes("ACGT")], "variable", None)


def test_training_on_an_unfolded_cache_with_a_structure_encoding_says_run_fold(tmp_path):
    path = write_cache(tmp_path / "c.h5", ids=["a", "b"], sequences=[codes("ACGTAC"), codes("GGGT")],
                       targets=np.array([[0.5, 0.5], [1, 0]], np.float32), fractions=["x", "y"])
    with Cache(path) as cache:
        with pytest.raises(CacheError, match="rnatracker fold"):
            load_training_set(cache, get_encoding("seq+struct"))
        data = load_training_set(cache, get_encoding("seq"))
    assert [s.tolist() for s in data.sequences] == [codes("ACGTAC").tolist(), codes("GGGT").tolist()]


def test_one_hot_runs_on_the_device_of_the_codes():
    x = get_encoding("seq").one_hot(torch.tensor([[0, 1, 4]], dtype=torch.uint8))
    assert x.dtype == torch.float32 and x.tolist() == [[[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]]]


def test_plan_batches_full_mode_respects_the_nucleotide_budget():
    rng = np.random.default_rng(1)
    lengths = rng.integers(50, 5000, size=300)
    lengths[7] = 20_000  # longer than the budget: a batch of its own
    for r in (None, np.random.default_rng(2)):
        plan = plan_batches(lengths, "full", batch_size=64, batch_nt=10_000, min_len=45, rng=r)
        flat = np.concatenate(plan)
        assert sorted(flat.tolist()) == list(range(300))
        for idx in plan:
            cost = len(idx) * int(np.maximum(lengths[idx], 45).max())
            assert len(idx) <= 64
            assert cost <= 10_000 or len(idx) == 1
    plain = plan_batches(lengths, "full", batch_size=64, batch_nt=10_000)
    assert all(lengths[a].max() <= lengths[b].min() for a, b in zip(plain, plain[1:]))  # sorted buckets
    again = plan_batches(lengths, "full", batch_size=64, batch_nt=10_000, rng=np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(plan, again))  # seeded: reproducible


def test_plan_batches_fixed_mode_chunks_by_count():
    plan = plan_batches(np.full(10, 100), "fixed", batch_size=4, batch_nt=1)
    assert [p.tolist() for p in plan] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = plan_batches(np.full(10, 100), "fixed", batch_size=4, batch_nt=1, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(10))
