"""Zipcode scan core: fast path == naive path, a hand-set motif model, regions and track."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.interpret.perturb import MaskSpec, naive_logprobs, prepare_input, random_bases
from rnatracker_cli.interpret.zipcodes import (
    ScanSettings,
    WindowScores,
    bed_score,
    call_regions,
    kl_track,
    scan_transcript,
    window_starts,
)
from rnatracker_cli.model import build_model, default_config

KL_TOL = 1e-5
FRACTIONS = ["cytosol", "nuclear", "membrane", "insoluble"]


def random_model(arch: str, seed: int = 0, **kw):
    """A random network whose predictions react visibly to masking (weights amplified)."""
    torch.manual_seed(seed)
    config = default_config(arch, 4, **kw)
    model = build_model(config).eval()
    with torch.no_grad():
        for stack in model.convs:
            for layer in stack.body:
                if isinstance(layer, torch.nn.Conv1d):
                    layer.weight.mul_(2.0)
                    layer.bias.uniform_(-0.2, 0.2)
        if model.lstm is not None:
            for lstm in (model.lstm.forward_lstm, model.lstm.backward_lstm):
                lstm.weight_ih_l0.mul_(1.5)
        if model.attention is not None:
            model.attention.score.weight.mul_(5.0)
        model.dense.weight.mul_(10.0)
        if model.length is not None:
            model.length.mean.fill_(5.0)
            model.length.std.fill_(1.0)
    return config, model


def random_codes(length: int, seed: int, n_rate: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=length).astype(np.uint8)
    codes[rng.random(length) < n_rate] = 4
    return codes


def random_structure(length: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 100).integers(0, 6, size=length).astype(np.uint8)


def _compare(model, config, codes, structure=None, **settings):
    fast = scan_transcript(model, config, codes, ScanSettings(method="fast", **settings), structure=structure, key=3)
    naive = scan_transcript(model, config, codes, ScanSettings(method="naive", **settings), structure=structure, key=3)
    assert fast.method == "fast" and naive.method == "naive"
    np.testing.assert_array_equal(fast.starts, naive.starts)
    assert np.abs(fast.kl - naive.kl).max(initial=0) <= KL_TOL
    assert np.abs(fast.deltas - naive.deltas).max(initial=0) <= KL_TOL
    big = naive.kl > 1e-4
    if big.any():  # not just two small numbers: the relative error is small too
        assert np.abs(fast.kl[big] - naive.kl[big]).max() <= 1e-3 * naive.kl[big].max()
    return fast, naive


@pytest.mark.parametrize("arch", ["rnatracker", "nolstm", "noattention"])
@pytest.mark.parametrize("window,stride", [(100, 1), (37, 5), (10, 3), (1, 11)])
def test_fast_equals_naive_full_mode(arch, window, stride):
    config, model = random_model(arch, seed=1)
    for length, seed in ((250, 0), (window + 1, 1), (max(window, 45), 2)):
        fast, naive = _compare(model, config, random_codes(length, seed, n_rate=0.02), window=window, stride=stride)
        assert len(fast.starts) == len(range(0, length - window + 1, stride))


def test_fast_path_sees_real_effects():
    """The equality above is between non-trivial numbers."""
    for arch in ("rnatracker", "nolstm", "noattention"):
        config, model = random_model(arch, seed=1)
        s = scan_transcript(model, config, random_codes(250, 0), ScanSettings(window=50, stride=5))
        assert s.method == "fast"
        assert s.kl.max() > 2e-4
        assert np.abs(s.deltas).max() > 1e-3


@pytest.mark.parametrize("arch", ["rnatracker", "nolstm", "noattention"])
def test_fast_equals_naive_short_transcripts(arch):
    """Transcripts at and below the network's minimum length (45 nt: padded to it)."""
    config, model = random_model(arch, seed=2)
    for length in (20, 44, 45, 46, 53, 54, 63):
        _compare(model, config, random_codes(length, length), window=min(10, length), stride=1)


@pytest.mark.parametrize("arch", ["rnatracker", "noattention"])
def test_fast_equals_naive_length_feature(arch):
    config, model = random_model(arch, seed=3, length_feature=True)
    _compare(model, config, random_codes(300, 5), window=60, stride=4)


@pytest.mark.parametrize("arch", ["rnatracker", "nolstm", "noattention"])
def test_fast_equals_naive_sum_pooling(arch):
    config, model = random_model(arch, seed=3, sum_pooling=True)
    fast, _ = _compare(model, config, random_codes(300, 5), window=60, stride=4)
    assert fast.kl.max() > 1e-4


@pytest.mark.parametrize("encoding", ["seq+struct", "seqxstruct"])
@pytest.mark.parametrize("arch", ["rnatracker", "nolstm"])
def test_fast_equals_naive_structure_encodings(arch, encoding):
    config, model = random_model(arch, seed=4, encoding=encoding)
    for length in (200, 47):
        codes = random_codes(length, length, n_rate=0.02)
        _compare(model, config, codes, random_structure(length, length), window=25, stride=3)


@pytest.mark.parametrize("arch", ["rnatracker", "nolstm", "noattention"])
def test_fast_equals_naive_fixed_mode(arch):
    """Fixed mode: 5' zero padding (short) and 5' truncation (long, not scanned there)."""
    config, model = random_model(arch, seed=5, mode="fixed", max_len=400)
    short = _compare(model, config, random_codes(230, 6), window=40, stride=9)[0]
    assert short.scanned == (0, 230)
    long = _compare(model, config, random_codes(530, 7), window=40, stride=9)[0]
    assert long.scanned == (130, 530)
    assert long.starts.min() >= 130 and long.starts.max() + 40 <= 530


def test_fast_equals_naive_fixed_4000():
    config, model = random_model("rnatracker", seed=6, mode="fixed")
    s = _compare(model, config, random_codes(4100, 8), window=100, stride=500)[0]
    assert s.scanned == (100, 4100)
    np.testing.assert_array_equal(s.starts, np.arange(500, 4001, 500))


def test_fast_equals_naive_random_mask():
    config, model = random_model("rnatracker", seed=7)
    mask = MaskSpec("random", repeats=3, seed=11)
    fast, naive = _compare(model, config, random_codes(180, 9), window=30, stride=7, mask=mask)
    assert fast.kl.max() > 0


def test_random_mask_averages_predictions_then_kl():
    """KL(p ‖ mean of the R masked predictions), with the documented per-window draws."""
    config, model = random_model("nolstm", seed=8)
    codes = random_codes(120, 10)
    mask = MaskSpec("random", repeats=4, seed=2)
    s = scan_transcript(model, config, codes, ScanSettings(window=20, stride=25, mask=mask), key=77)
    prep = prepare_input(codes, config, model.min_length, "cpu")
    bases = torch.from_numpy(random_bases(mask, 77, s.starts, 20))
    cols = torch.from_numpy(np.repeat(s.starts - prep.start, 4))
    q = torch.exp(naive_logprobs(model, get_encoding("seq"), prep, cols, 20, bases).double()).reshape(-1, 4, 4).mean(1)
    p = torch.from_numpy(s.probs)
    kl = (p * (torch.log(p) - torch.log(q))).sum(1).numpy()
    np.testing.assert_allclose(s.kl, kl, atol=1e-6)
    np.testing.assert_allclose(s.deltas, (q - p).numpy(), atol=1e-6)


def test_random_mask_is_seeded_and_batch_independent():
    config, model = random_model("rnatracker", seed=9)
    codes = random_codes(200, 11)
    runs = [scan_transcript(model, config, codes, ScanSettings(window=30, stride=10, batch_size=b,
                                                               mask=MaskSpec("random", 3, seed)), key=5)
            for b, seed in ((3, 1), (60, 1), (60, 2))]
    np.testing.assert_allclose(runs[0].kl, runs[1].kl, atol=1e-7)
    assert np.abs(runs[0].kl - runs[2].kl).max() > 1e-7


@pytest.mark.parametrize("method", ["fast", "naive"])
def test_batch_size_invariance(method):
    config, model = random_model("rnatracker", seed=10)
    codes = random_codes(260, 12)
    ref = scan_transcript(model, config, codes, ScanSettings(window=50, stride=3, method=method, batch_size=1))
    for b in (5, 17, 1000):
        other = scan_transcript(model, config, codes, ScanSettings(window=50, stride=3, method=method, batch_size=b))
        np.testing.assert_allclose(other.kl, ref.kl, atol=1e-6)


def test_kmer_model_uses_naive_path_and_rejects_fast():
    config = default_config("kmer-dnn", 4)
    torch.manual_seed(0)
    model = build_model(config).eval()
    codes = random_codes(150, 13)
    s = scan_transcript(model, config, codes, ScanSettings(window=20, stride=10))
    assert s.method == "naive" and len(s.starts) == 14 and (s.kl > 0).any()
    with pytest.raises(RNATrackerError, match="fast scan path"):
        scan_transcript(model, config, codes, ScanSettings(window=20, stride=10, method="fast"))


def test_window_longer_than_transcript_gives_no_windows():
    config, model = random_model("rnatracker")
    s = scan_transcript(model, config, random_codes(80, 1), ScanSettings(window=81))
    assert len(s.starts) == 0 and len(s.kl) == 0
    assert call_regions(s, 81) == [] and len(kl_track(s, 81).starts) == 0


def test_bad_settings():
    with pytest.raises(RNATrackerError, match="--stride"):
        ScanSettings(stride=0)
    with pytest.raises(RNATrackerError, match="--window"):
        ScanSettings(window=0)
    with pytest.raises(RNATrackerError, match="--repeats"):
        MaskSpec("random", repeats=0)
    with pytest.raises(RNATrackerError, match="--mask"):
        MaskSpec("shuffle")


# -- a hand-set model that reads one motif ---------------------------------------------------

MOTIF = np.array([2, 0, 3, 3, 0, 1, 0], dtype=np.uint8)  # GATTACA


def motif_model(sign: float = 1.0, fraction: int = 0):
    """`nolstm` network: filter 0 fires (0.5) only on an exact GATTACA, all else is silent.

    Layer 1: weight +1 on the motif's bases, bias −6.5 (7 matches → 0.5, ≤ 6 → ≤ −0.5, ReLU → 0).
    Layer 2: filter 0 sums channel 0 over its kernel. Attention scores are constant (uniform
    weights), and the dense layer turns the mean of feature 0 into ``sign`` × logit of
    ``fraction``: masking the motif lowers (sign > 0: enhancing) or raises it.
    """
    config = default_config("nolstm", 4)
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        conv1, conv2 = model.convs[0].body[0], model.convs[0].body[4]
        conv1.weight[0, torch.from_numpy(MOTIF).long(), torch.arange(len(MOTIF))] = 1.0
        conv1.bias[0] = -(len(MOTIF) - 0.5)
        conv2.weight[0, 0, :] = 1.0
        model.dense.weight[fraction, 0] = 400.0 * sign
    return config, model


def background(length: int, seed: int) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, 4, size=length).astype(np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(MOTIF))
    codes[np.flatnonzero((windows == MOTIF).all(axis=1))] = 1  # break accidental copies
    return codes


@pytest.mark.parametrize("at", [0, 137, 280])
def test_toy_motif_found_exactly(at):
    config, model = motif_model()
    codes = background(300, at)
    codes[at : at + len(MOTIF)] = MOTIF
    # Window 1: exactly the motif's nucleotides change the prediction.
    s1 = scan_transcript(model, config, codes, ScanSettings(window=1))
    regions = call_regions(s1, 1)
    assert [(r.start, r.end) for r in regions] == [(at, at + len(MOTIF))]
    assert set(np.flatnonzero(s1.kl > 1e-6)) == set(range(at, at + len(MOTIF)))
    # Window 100: every window touching the motif; the region is the motif ± 99 nt (clipped).
    s = scan_transcript(model, config, codes, ScanSettings(window=100))
    (r,) = call_regions(s, 100)
    assert (r.start, r.end) == (max(0, at - 99), min(300, at + len(MOTIF) + 99))
    assert FRACTIONS[r.fraction] == "cytosol" and r.direction == "enhancing"
    assert r.deltas[0] < -0.05 and (r.deltas[1:] > 0).all()
    assert r.kl_peak == pytest.approx(s.kl.max())
    touching = (s.starts <= at + len(MOTIF) - 1) & (s.starts + 100 > at)
    assert (s.kl[touching] > 0.01).all() and (s.kl[~touching] < 1e-9).all()
    naive = scan_transcript(model, config, codes, ScanSettings(window=100, method="naive"))
    np.testing.assert_allclose(naive.kl, s.kl, atol=KL_TOL)


def test_toy_motif_repressive_and_fraction():
    config, model = motif_model(sign=-1.0, fraction=2)
    codes = background(400, 3)
    codes[200:207] = MOTIF
    s = scan_transcript(model, config, codes, ScanSettings(window=20, stride=1))
    (r,) = call_regions(s, 20)
    assert (r.start, r.end) == (181, 226)
    assert FRACTIONS[r.fraction] == "membrane" and r.direction == "repressive"


def test_toy_motif_partial_copy_is_silent():
    config, model = motif_model()
    codes = background(300, 4)
    codes[100:106] = MOTIF[:6]
    s = scan_transcript(model, config, codes, ScanSettings(window=10, stride=2))
    assert s.kl.max() < 1e-9 and call_regions(s, 10) == []


# -- regions, score, track ---------------------------------------------------------------------

def _scores(starts, kl, length, deltas=None):
    starts = np.asarray(starts, dtype=np.int64)
    kl = np.asarray(kl, dtype=float)
    if deltas is None:
        deltas = np.zeros((len(starts), 2))
        deltas[:, 0] = -kl
        deltas[:, 1] = kl / 2
    return WindowScores(starts, kl, np.asarray(deltas, float), np.array([0.5, 0.5]), (0, length), "fast", length)


def test_window_starts_grid():
    np.testing.assert_array_equal(window_starts(0, 10, 3, 2), [0, 2, 4, 6])
    np.testing.assert_array_equal(window_starts(5, 20, 4, 5), [5, 10, 15])
    np.testing.assert_array_equal(window_starts(6, 20, 4, 5), [10, 15])
    assert len(window_starts(0, 5, 6, 1)) == 0


def test_call_regions_merging_and_peaks():
    # window 10, stride 5: hits at 0,5 (overlapping) | 20 (5 nt after 15) | 35 (5 nt after 30).
    kl = [0.02, 0.05, 0.0, 0.0, 0.03, 0.0, 0.0, 0.04, 0.0, 0.0, 0.0]
    s = _scores(np.arange(0, 55, 5), kl, 60)
    assert [(r.start, r.end, r.peak) for r in call_regions(s, 10, 0.01, min_support=1)] == [(0, 15, 5), (20, 30, 20), (35, 45, 35)]
    assert [(r.start, r.end, r.peak) for r in call_regions(s, 10, 0.01, merge_gap=5, min_support=1)] == [(0, 45, 5)]
    assert [(r.start, r.end) for r in call_regions(s, 10, 0.01, merge_gap=4, min_support=1)] == [(0, 15), (20, 30), (35, 45)]
    # Touching windows (end == next start) merge like bedtools merge.
    t = _scores([0, 10, 20], [0.02, 0.03, 0.0], 30)
    assert [(r.start, r.end, r.peak) for r in call_regions(t, 10, 0.01, min_support=1)] == [(0, 20, 10)]
    # Ties: the first window is the peak; strictly greater than min_kl.
    u = _scores([0, 1, 2], [0.02, 0.02, 0.01], 20)
    (r,) = call_regions(u, 5, 0.01, min_support=1)
    assert (r.start, r.end, r.peak, r.kl_peak) == (0, 6, 0, 0.02)


def test_min_support_drops_lone_windows_but_not_edges_or_coarse_strides():
    # stride 1, window 10, 60 starts: a lone window (5), a run of 9 (20–28), a run of 10 (45–54)
    kl = np.zeros(60)
    kl[5] = 0.5
    kl[20:29] = 0.02
    kl[45:55] = 0.03
    s = _scores(np.arange(60), kl, 69)
    assert [(r.start, r.end) for r in call_regions(s, 10, 0.01, min_support=1)] == [(5, 15), (20, 38), (45, 64)]
    assert [(r.start, r.end) for r in call_regions(s, 10, 0.01, min_support=9)] == [(20, 38), (45, 64)]
    assert [(r.start, r.end, r.peak) for r in call_regions(s, 10, 0.01)] == [(45, 64, 45)]  # default 10
    assert [(r.start, r.end) for r in call_regions(s, 10, 0.01, min_support=11)] == [(45, 64)]  # ≤ window
    assert [(r.start, r.end) for r in call_regions(s, 12, 0.01, min_support=11)] == []
    # runs touching the first or last scanned window cannot slide further: kept
    edge = np.zeros(60)
    edge[:3] = 0.02
    edge[-2:] = 0.04
    e = _scores(np.arange(60), edge, 69)
    assert [(r.start, r.end) for r in call_regions(e, 10, 0.01)] == [(0, 12), (58, 69)]
    # stride 10: one window already slides 10 nt; a transcript with a single window keeps it
    c = _scores(np.arange(0, 100, 10), [0, 0, 0, 0.02, 0, 0, 0, 0, 0, 0], 110)
    assert [(r.start, r.end) for r in call_regions(c, 10, 0.01)] == [(30, 40)]
    assert [(r.start, r.end) for r in call_regions(c, 20, 0.01, min_support=11)] == []
    assert [(r.start, r.end) for r in call_regions(_scores([0], [0.3], 10), 10, 0.01)] == [(0, 10)]
    # never more than the window: with window 4 a run of 4 windows suffices
    assert [(r.start, r.end) for r in call_regions(s, 4, 0.01, min_support=100)] == [(20, 32), (45, 58)]
    with pytest.raises(RNATrackerError, match="--min-support"):
        call_regions(s, 10, 0.01, min_support=0)


def test_region_fraction_and_direction_from_peak_deltas():
    deltas = [[0.01, -0.03], [-0.2, 0.1], [0.0, 0.0]]
    s = _scores([0, 2, 40], [0.02, 0.05, 0.0], 60, deltas)
    (r,) = call_regions(s, 5, 0.01, min_support=1)
    assert r.peak == 2 and r.fraction == 0 and r.direction == "enhancing"
    s = _scores([0, 2], [0.05, 0.02], 60, [[0.01, 0.3], [-0.2, 0.1]])
    (r,) = call_regions(s, 5, 0.01, min_support=1)
    assert r.fraction == 1 and r.direction == "repressive"


def test_bed_score():
    assert bed_score(0.0075, 0.075) == 100
    assert bed_score(0.075, 0.075) == 1000 and bed_score(1.0, 0.075) == 1000
    assert bed_score(0.00005, 0.001) == 50 and bed_score(0.0000499, 0.001) == 50
    assert bed_score(0.0000004, 0.001) == 0
    with pytest.raises(RNATrackerError):
        bed_score(0.1, 0.0)


def test_track_is_max_over_covering_windows():
    rng = np.random.default_rng(0)
    for window, stride, length in ((5, 1, 40), (7, 3, 50), (3, 4, 30), (1, 1, 12)):
        starts = window_starts(0, length, window, stride)
        kl = np.round(rng.random(len(starts)), 2)
        s = _scores(starts, kl, length)
        t = kl_track(s, window)
        dense = np.full(length, np.nan)
        for a, b, v in zip(t.starts, t.ends, t.values):
            assert np.isnan(dense[a:b]).all()  # disjoint
            dense[a:b] = v
        for i in range(length):
            cover = kl[(starts <= i) & (starts + window > i)]
            if len(cover):
                assert dense[i] == cover.max()
            else:
                assert np.isnan(dense[i])
        assert (np.diff(t.starts) > 0).all() and (t.ends > t.starts).all()
        # Adjacent intervals differ in value (runs are merged).
        touching = t.starts[1:] == t.ends[:-1]
        assert (t.values[1:][touching] != t.values[:-1][touching]).all()


def test_regions_are_runs_of_track_above_threshold():
    config, model = random_model("nolstm", seed=12)
    s = scan_transcript(model, config, random_codes(400, 14), ScanSettings(window=30, stride=1))
    min_kl = float(np.quantile(s.kl, 0.7))
    t = kl_track(s, 30)
    above = np.zeros(400, dtype=bool)
    for a, b, v in zip(t.starts, t.ends, t.values):
        above[a:b] = v > min_kl
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(int), [0]])))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
    regions = call_regions(s, 30, min_kl, min_support=1)
    assert len(regions) > 1
    assert [(r.start, r.end) for r in regions] == runs


@pytest.mark.parametrize("mask", [MaskSpec(), MaskSpec(kind="random", repeats=3, seed=2)])
def test_ensemble_fast_path_equals_the_naive_path(mask):
    """Replicate ensembles (the built-in models) scan on their members' fast paths, with the
    members' distributions averaged: the same scores as the naive full recomputation."""
    from rnatracker_cli.model.ensemble import Ensemble

    config = {**default_config("rnatracker", 2, length_prior=True), "replicates": 2}
    torch.manual_seed(4)
    model = build_model(config)
    assert isinstance(model, Ensemble)
    for member in model.members:
        with torch.no_grad():
            member.dense.weight.normal_(0, 2.0)
            member.prior.weight.fill_(0.3)
    codes = random_codes(300, 5)
    settings = dict(window=40, stride=7, mask=mask)
    fast = scan_transcript(model, config, codes, ScanSettings(method="fast", **settings), key=3)
    naive = scan_transcript(model, config, codes, ScanSettings(method="naive", **settings), key=3)
    assert fast.method == "fast" and naive.method == "naive"
    assert scan_transcript(model, config, codes, ScanSettings(**settings), key=3).method == "fast"  # auto
    np.testing.assert_allclose(fast.kl, naive.kl, atol=1e-5)
    np.testing.assert_allclose(fast.deltas, naive.deltas, atol=1e-5)
    assert fast.kl.max() > 1e-4  # the members' sequence parts matter


@pytest.mark.parametrize("arch", ["rnatracker", "noattention"])
def test_fast_path_lstm_segments_give_identical_scores(arch, monkeypatch):
    """The fast path runs the BiLSTM over time segments (bounded memory on long transcripts):
    any segment length gives exactly the scores of one segment over the whole transcript."""
    from rnatracker_cli.interpret import fastscan

    config, model = random_model(arch, seed=12)
    codes = random_codes(900, 13, n_rate=0.01)  # 97 conv steps
    settings = ScanSettings(window=40, stride=3, batch_size=8, method="fast")
    whole = scan_transcript(model, config, codes, settings)  # default budget: one segment per direction
    assert fastscan.SEGMENT_ROW_STEPS // 8 > 97
    assert whole.kl.max() > 1e-4
    for row_steps in (1, 8 * 5, 8 * 13, 8 * 96):  # 1, 5, 13 and 96 steps per segment
        monkeypatch.setattr(fastscan, "SEGMENT_ROW_STEPS", row_steps)
        part = scan_transcript(model, config, codes, settings)
        np.testing.assert_array_equal(part.kl, whole.kl)
        np.testing.assert_array_equal(part.deltas, whole.deltas)
