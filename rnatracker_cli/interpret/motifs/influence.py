"""Filter influence: how predictions change when one first-layer filter is zeroed.

For each filter ``f`` of the first convolution (the sequence branch for ``seq+struct``), its
weights and bias are set to zero, so its output channel is 0 everywhere (as if the filter
never fired), the transcripts are predicted again, and the weights are restored. Per filter:
``kl_mean`` = mean over transcripts of KL(original ‖ zeroed) (natural log), and per fraction
the mean change in predicted share (zeroed − original): negative = the filter pushes
transcripts towards that fraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnatracker_cli.inference import Predictor
from rnatracker_cli.interpret.motifs.filters import FirstLayer

_EPS = 1e-8


@dataclass
class Influence:
    """kl_mean: float64 (filters,); delta_mean: float64 (filters, fractions) zeroed − original."""

    kl_mean: np.ndarray
    delta_mean: np.ndarray


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p_i ‖ q_i) per row (natural log; float64 (n,)), probabilities clipped at 1e-8."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0)
    q = np.clip(np.asarray(q, dtype=np.float64), _EPS, 1.0)
    return np.sum(p * (np.log(p) - np.log(q)), axis=1)


@torch.no_grad()
def filter_influence(predictor: Predictor, layer: FirstLayer, sequences: Sequence[np.ndarray],
                     structures: Sequence[np.ndarray] | None = None, nt_lengths: Sequence[int] | None = None,
                     on_filter: Callable[[int], None] | None = None) -> Influence:
    """Zero each filter of ``layer.conv`` in turn and compare predictions with the original ones.

    nt_lengths: true transcript lengths when ``sequences`` were truncated (length feature).
    The model's weights are restored afterwards, also when an error interrupts the loop.
    """
    base = predictor.predict(sequences, structures=structures, nt_lengths=nt_lengths)
    conv = layer.conv
    n = layer.n_filters
    kl = np.zeros(n)
    delta = np.zeros((n, base.shape[1]))
    for f in range(n):
        saved_w, saved_b = conv.weight[f].clone(), conv.bias[f].clone()
        try:
            conv.weight[f].zero_()
            conv.bias[f].zero_()
            zeroed = predictor.predict(sequences, structures=structures, nt_lengths=nt_lengths)
        finally:
            conv.weight[f].copy_(saved_w)
            conv.bias[f].copy_(saved_b)
        kl[f] = float(kl_rows(base, zeroed).mean())
        delta[f] = (zeroed.astype(np.float64) - base).mean(axis=0)
        if on_filter is not None:
            on_filter(f)
    return Influence(kl, delta)
