"""Full mode: a transcript's prediction does not depend on its batch (composition or size)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnatracker_cli.encoding import get_encoding, make_batch
from rnatracker_cli.inference import Predictor
from rnatracker_cli.model import build_model, default_config

TOL = 1e-5


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(11)
    lengths = [12, 44, 45, 46, 300, 301, 999, 1000, 2500, 77, 640, 3100]
    return [rng.choice(5, size=n, p=[0.245, 0.245, 0.245, 0.245, 0.02]).astype(np.uint8) for n in lengths]


def _model(arch: str, **kw):
    torch.manual_seed(5)
    config = default_config(arch, 4, **kw)
    model = build_model(config).eval()
    if getattr(model, "needs_normalization", False):
        lengths = torch.tensor([100, 1000, 3000])
        if arch.startswith("kmer"):
            x = torch.zeros(3, 4, 3000)
            x[:, 1] = 1
            model.fit_normalization(lengths, lambda: [(x, lengths, lengths)])
        else:
            model.fit_normalization(lengths)
    return config, model


def _alone(model, config, seq) -> np.ndarray:
    b = make_batch([seq], config["mode"], config["max_len"], model.min_length)
    with torch.no_grad():
        out = model(get_encoding("seq").tensors(b, "cpu"), torch.from_numpy(b.lengths), torch.from_numpy(b.nt_lengths))
    return torch.exp(out)[0].numpy()


@pytest.mark.parametrize("arch,kw", [
    ("rnatracker", {}), ("rnatracker", {"length_feature": True}), ("nolstm", {}), ("noattention", {}),
    ("kmer-dnn", {}),
])
def test_batch_composition_and_size_invariance(sequences, arch, kw):
    config, model = _model(arch, **kw)
    alone = np.stack([_alone(model, config, s) for s in sequences])
    rng = np.random.default_rng(0)
    for budget in (1, 3_000, 20_000, 10**7):  # from one transcript per batch to everything at once
        probs = Predictor(model, config, "cpu", batch_nt=budget).predict(sequences)
        np.testing.assert_allclose(probs, alone, atol=TOL, rtol=0)
    for _ in range(3):  # random companions, random order, one padded batch
        order = rng.permutation(len(sequences))[: rng.integers(2, len(sequences))]
        b = make_batch([sequences[i] for i in order], "full", None, model.min_length)
        with torch.no_grad():
            out = model(get_encoding("seq").tensors(b, "cpu"), torch.from_numpy(b.lengths), torch.from_numpy(b.nt_lengths))
        np.testing.assert_allclose(torch.exp(out).numpy(), alone[order], atol=TOL, rtol=0)


def test_fixed_mode_equals_the_hand_padded_input(sequences):
    config, model = _model("rnatracker", mode="fixed", max_len=1000)
    probs = Predictor(model, config, "cpu", batch_nt=10**7).predict(sequences)
    for seq, p in zip(sequences, probs):
        x = torch.zeros(1, 4, 1000)
        kept = seq[-1000:]
        for pos, code in enumerate(kept):  # reference one-hot built position by position
            if code < 4:
                x[0, code, 1000 - len(kept) + pos] = 1.0
        with torch.no_grad():
            ref = torch.exp(model(x, torch.tensor([1000]), torch.tensor([len(seq)])))[0].numpy()
        np.testing.assert_allclose(p, ref, atol=TOL, rtol=0)


def test_attention_tracks_cover_the_transcript(sequences):
    config, model = _model("rnatracker")
    probs, tracks = Predictor(model, config, "cpu").predict(sequences, attention=True)
    for seq, track in zip(sequences, tracks):
        assert track.starts[0] == 0
        assert np.all(track.ends[:-1] == track.starts[1:])  # contiguous, sorted, disjoint
        assert track.ends[-1] <= len(seq)
        assert len(seq) - track.ends[-1] < 9 + 45 or len(seq) < 45  # only a short 3' tail is uncovered
        mass = float(((track.ends - track.starts) * track.values).sum())
        # each step's weight is spread over 45 nt; only min-length padding (< 45 nt) loses some
        assert mass == pytest.approx(1.0, abs=1e-6) if len(seq) >= 45 else 0 < mass < 1
