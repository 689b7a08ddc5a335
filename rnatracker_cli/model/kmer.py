"""k-mer baselines: 1- to 5-mer composition + log length → dense network.

Features (``kmer_features``), per transcript, from the same one-hot input as the CNN models:

* for each k = 1..5, counts of the 4^k k-mers (4 + 16 + 64 + 256 + 1024 = 1,364 features),
  skipping k-mers that overlap an N or padding column, divided by the number of counted
  k-mers of that k (so each block is a composition that sums to 1, or 0 when none), then
* log(transcript length) appended (1,365 features),
* each feature standardised with the training split's mean and standard deviation
  (buffers set by :meth:`KmerNet.fit_normalization`; constant features get std 1).

``kmer-dnn``: two hidden layers as wide as the input, ReLU, dropout; ``kmer-nn``: a single
linear layer. Both end in a softmax over the fractions. ``length`` (``k_max = 0``): the
standardised log length alone through a single linear layer, the "length alone" baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

K_MAX = 5


def n_kmer_features(k_max: int = K_MAX) -> int:
    """Number of k-mer features for k = 1..k_max (1,364 for k_max = 5)."""
    return sum(4**k for k in range(1, k_max + 1))


def kmer_counts(x: torch.Tensor, lengths: torch.Tensor, k_max: int = K_MAX) -> torch.Tensor:
    """k-mer counts for k = 1..k_max from one-hot input, vectorised (rolling base-4 index).

    x: float32 (batch, 4, width) one-hot, all-zero columns for N/padding; lengths: int64
    (batch,) columns to consider. Returns float32 (batch, n_kmer_features(k_max)); within a
    k block, k-mer ``b_1…b_k`` sits at index ``Σ b_j·4^(k-j)`` (A C G T = 0..3).
    """
    batch, _, width = x.shape
    base = x.argmax(dim=1)  # (batch, width)
    valid = (x.sum(dim=1) > 0.5) & (torch.arange(width, device=x.device)[None, :] < lengths[:, None])
    blocks = []
    index, ok = base, valid
    for k in range(1, k_max + 1):
        if k > 1:
            span = width - k + 1
            index = index[:, :span] * 4 + base[:, k - 1 : k - 1 + span] if span > 0 else index[:, :0]
            ok = ok[:, :span] & valid[:, k - 1 : k - 1 + span] if span > 0 else ok[:, :0]
        counts = torch.zeros(batch, 4**k, device=x.device, dtype=torch.float32)
        counts.scatter_add_(1, torch.where(ok, index, 0), ok.float())
        blocks.append(counts)
    return torch.cat(blocks, dim=1) if blocks else x.new_zeros(batch, 0)


class KmerNet(nn.Module):
    """k-mer composition + log length → (hidden layers) → log-probabilities (batch, F).

    hidden_layers: 2 for ``kmer-dnn``, 0 for ``kmer-nn`` and ``length``; hidden width = input
    width; k_max: 5, or 0 for log length only (``length``).
    """

    has_attention = False

    def __init__(self, n_fractions: int, hidden_layers: int = 2, dropout: float = 0.2, k_max: int = K_MAX) -> None:
        super().__init__()
        self.k_max = k_max
        width = n_kmer_features(k_max) + 1
        self.register_buffer("feature_mean", torch.zeros(width))
        self.register_buffer("feature_std", torch.ones(width))
        layers: list[nn.Module] = []
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(width, n_fractions))
        self.body = nn.Sequential(*layers)
        # Block boundaries, to turn counts into per-k compositions.
        sizes = torch.tensor([4**k for k in range(1, k_max + 1)], dtype=torch.int64)
        self.register_buffer("_block", torch.repeat_interleave(torch.arange(k_max), sizes), persistent=False)

    min_length = 1
    needs_normalization = True

    def raw_features(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor) -> torch.Tensor:
        """Unstandardised features float32 (batch, n_kmer_features(k_max) + 1): per-k
        compositions, then log length."""
        log_length = torch.log(nt_lengths.float().clamp(min=1))[:, None]
        if self.k_max == 0:  # `length`: nothing to count
            return log_length
        counts = kmer_counts(x, lengths, self.k_max)
        totals = torch.zeros(len(counts), self.k_max, device=counts.device).index_add_(1, self._block, counts)
        comp = counts / totals.clamp(min=1)[:, self._block]
        return torch.cat([comp, log_length], dim=1)

    @torch.no_grad()
    def fit_normalization(self, nt_lengths: torch.Tensor,
                          batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] | None = None) -> None:
        """Set feature mean/std from ``batches()`` yielding ``(x, lengths, nt_lengths)``."""
        if batches is None:
            raise ValueError("k-mer models need the training batches to standardise their features")
        total, total_sq, n = 0.0, 0.0, 0
        for x, lengths, nt in batches():
            f = self.raw_features(x, lengths, nt).double()
            total = total + f.sum(0)
            total_sq = total_sq + (f * f).sum(0)
            n += len(f)
        mean = total / n
        var = (total_sq / n - mean * mean).clamp(min=0) * (n / max(n - 1, 1))
        std = torch.where(var.sqrt() > 1e-8, var.sqrt(), torch.ones_like(var))
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(std.float())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor | None = None,
                return_attention: bool = False):
        if return_attention:
            raise ValueError("k-mer models have no attention")
        if nt_lengths is None:
            nt_lengths = lengths
        f = (self.raw_features(x, lengths, nt_lengths) - self.feature_mean) / self.feature_std
        return torch.log_softmax(self.body(f).float(), dim=1)
