"""k-mer baselines: vectorised counts equal a naive count; hand-set weights give known outputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rnatracker_cli.encoding import get_encoding, make_batch
from rnatracker_cli.model import build_model, default_config
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model.kmer import kmer_counts, n_kmer_features
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.loop import FitOptions, fit


def naive_counts(seq: np.ndarray, k_max: int = 5) -> np.ndarray:
    """Count k-mers with Python loops over strings (the reference); k-mers with N skipped."""
    text = "".join("ACGTN"[c] for c in seq)
    out = []
    for k in range(1, k_max + 1):
        index = {"".join(p): i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
        counts = np.zeros(4**k)
        for start in range(len(text) - k + 1):
            word = text[start : start + k]
            if "N" not in word:
                counts[index[word]] += 1
        out.append(counts)
    return np.concatenate(out)


def test_feature_count():
    assert n_kmer_features() == 1364


def test_vectorised_counts_equal_naive_counts_on_random_sequences():
    rng = np.random.default_rng(0)
    seqs = [rng.choice(5, size=n, p=[0.24, 0.24, 0.24, 0.24, 0.04]).astype(np.uint8) for n in (1, 4, 5, 37, 300, 1200)]
    enc = get_encoding("seq")
    for mode in ("full", "fixed"):
        b = make_batch(seqs, mode, 1000 if mode == "fixed" else None)
        counts = kmer_counts(enc.tensors(b, "cpu"), torch.from_numpy(b.lengths)).numpy()
        for row, seq in enumerate(seqs):
            kept = seq[-1000:] if mode == "fixed" else seq
            np.testing.assert_array_equal(counts[row], naive_counts(kept))


def test_kmer_nn_with_hand_set_weights():
    """Logit 0 = composition of 'AC' among 2-mers; logit 1 = log length: softmax is known."""
    model = build_model(default_config("kmer-nn", 2)).eval()
    width = n_kmer_features() + 1
    ac = 4 + 0 * 4 + 1  # the 2-mer block starts after the 4 1-mers; AC = 0*4 + 1
    with torch.no_grad():
        linear = model.body[0]
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[0, ac] = 3.0
        linear.weight[1, width - 1] = 1.0
        model.feature_mean.zero_()
        model.feature_std.fill_(1.0)
    seq = np.array([0, 1, 0, 1, 4, 2, 2, 3], dtype=np.uint8)  # 2-mers: AC CA AC (CN NG skipped) GG GT
    b = make_batch([seq], "full", None)
    out = model(get_encoding("seq").tensors(b, "cpu"), torch.from_numpy(b.lengths), torch.from_numpy(b.nt_lengths))
    logits = np.array([3.0 * 2 / 5, math.log(8)])
    np.testing.assert_allclose(torch.exp(out)[0].detach().numpy(), np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)


def test_normalisation_is_fitted_from_training_batches():
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, 4, size=n).astype(np.uint8) for n in (50, 80, 120, 400)]
    model = build_model(default_config("kmer-dnn", 2))
    enc = get_encoding("seq")
    b = make_batch(seqs, "full", None)
    x, lengths, nt = enc.tensors(b, "cpu"), torch.from_numpy(b.lengths), torch.from_numpy(b.nt_lengths)
    model.fit_normalization(nt, lambda: [(x[:2], lengths[:2], nt[:2]), (x[2:], lengths[2:], nt[2:])])
    raw = model.raw_features(x, lengths, nt).double()
    torch.testing.assert_close(model.feature_mean.double(), raw.mean(0), atol=1e-5, rtol=1e-5)
    std = raw.std(0)
    expected_std = torch.where(std > 1e-8, std, torch.ones_like(std))
    torch.testing.assert_close(model.feature_std.double(), expected_std, atol=1e-5, rtol=1e-4)
    # log length is the last feature
    torch.testing.assert_close(raw[:, -1], torch.log(nt.double()))


def test_length_baseline_sees_only_the_transcript_length():
    """`length`: one feature (log length); sequences of equal length get equal predictions,
    and trained on length-driven targets it learns the direction of the effect."""
    config = default_config("length", 2)
    model = build_model(config)
    assert model.feature_mean.shape == (1,)
    rng = np.random.default_rng(0)
    lengths = rng.integers(60, 3000, size=120)
    seqs = [rng.integers(0, 4, size=n).astype(np.uint8) for n in lengths]
    z = (np.log(lengths) - np.log(lengths).mean()) / np.log(lengths).std()
    p_first = 1 / (1 + np.exp(-1.5 * z))  # long transcripts go to fraction 0
    targets = np.stack([p_first, 1 - p_first], axis=1).astype(np.float32)
    data = TrainingSet(np.array([f"t{i}" for i in range(120)], dtype=object), seqs, None, lengths, targets)
    # default learning rate (DEFAULT_LR_BY_ARCH): a few epochs suffice
    result = fit(model, config, data, None, FitOptions(epochs=15, batch_nt=30_000, patience=0, seed=0), torch.device("cpu"))
    assert result.lr == 5e-2
    enc = get_encoding("seq")
    a, b = rng.integers(0, 4, size=500).astype(np.uint8), rng.integers(0, 4, size=500).astype(np.uint8)
    short, long_ = rng.integers(0, 4, size=100).astype(np.uint8), rng.integers(0, 4, size=2900).astype(np.uint8)
    with torch.no_grad():
        batch = make_batch([a, b, short, long_], "full", None)
        probs = torch.exp(model.eval()(enc.tensors(batch, "cpu"), torch.from_numpy(batch.lengths),
                                       torch.from_numpy(batch.nt_lengths))).numpy()
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    assert probs[3, 0] > 0.75 > 0.25 > probs[2, 0], probs
    # sequence-only encodings are enforced like for the k-mer models
    with pytest.raises(RNATrackerError, match="reads only k-mer counts and length"):
        default_config("length", 2, encoding="seqxstruct")
