"""First-layer convolution filters → position frequency matrices of the sites that drive them.

A filter's *activation* at position ``p`` of a transcript is its first-layer convolution
output (before pooling and ReLU) on nucleotides ``[p, p + width)``: ``bias + Σ W · one-hot``.
Only windows of real nucleotides count: the transcript as the model reads it (5'-truncated to
the model's ``max_len`` when it has one), never padding, and no window holding an N.
A filter's *sites* are the windows where its activation exceeds ``threshold`` × its largest
activation over the whole data set (0.5 by default, the usual choice since DeepBind/Basset);
a filter whose largest activation is ≤ 0 (never active after the ReLU) has no sites. The
sites' letters, counted per column, give the position frequency matrix; filters with fewer
than ``min_sites`` sites are left out of ``filters.meme``.

Structure-input models (see :mod:`rnatracker_cli.encoding`):

* ``seq+struct``: the sequence branch's filters (4 input channels) are used as they are; the
  structure branch's filters read only structure elements and are not sequence motifs.
* ``seqxstruct``: each filter reads 24 base × element channels; it is reduced to 4 sequence
  channels by averaging each base's 6 element channels (the activation expected when every
  structure element is equally likely), so sites are found on sequence alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnatracker_cli.encoding import N_ELEMENTS, make_batch, plan_batches
from rnatracker_cli.errors import RNATrackerError

#: Padded nucleotides per activation batch (rows × widest row).
ACTIVATION_BATCH_NT = 1_000_000


@dataclass
class FirstLayer:
    """Sequence-channel view of a model's first convolution.

    weight: float32 (filters, 4, width) over A C G U; bias: float32 (filters,);
    conv: the model's own Conv1d (zeroed per filter for influence); note: how the sequence
    channels were obtained, for the report.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    conv: nn.Conv1d
    note: str

    @property
    def n_filters(self) -> int:
        return int(self.weight.shape[0])

    @property
    def width(self) -> int:
        return int(self.weight.shape[2])


def first_layer(model: nn.Module, config: dict) -> FirstLayer:
    """The first-layer filters of an rnatracker CNN as 4-channel sequence filters.

    Raises :class:`RNATrackerError` for models without convolution filters (k-mer and
    length baselines).
    """
    convs = getattr(model, "convs", None)
    if convs is None or not len(convs):
        raise RNATrackerError(
            f"a {config.get('arch', 'this')} model has no convolution filters: motifs needs a CNN model "
            "(rnatracker, nolstm or noattention)"
        )
    conv = convs[0].body[0]
    weight = conv.weight.detach().float()
    encoding = config.get("encoding", "seq")
    if encoding == "seqxstruct":
        # channel = base * 6 + element: average over the elements of each base.
        weight = weight.reshape(weight.shape[0], 4, N_ELEMENTS, weight.shape[2]).mean(dim=2)
        note = "seqxstruct model: each filter's 6 structure channels per base averaged (structure marginalised)"
    elif encoding == "seq+struct":
        note = "seq+struct model: sequence-branch filters only (the structure branch reads no bases)"
    else:
        note = "sequence model"
    note = f"{note}: {weight.shape[0]} first-layer filters of width {weight.shape[2]}"
    if weight.shape[1] != 4:
        raise RNATrackerError(f"unexpected first-layer input channels {weight.shape[1]} for encoding {encoding}")
    return FirstLayer(weight.contiguous(), conv.bias.detach().float().clone(), conv, note)


@dataclass
class FilterSites:
    """Per-filter results over a data set.

    max_activation: float64 (filters,) largest activation over all valid windows (-inf when
    no transcript has a valid window); threshold: float64 (filters,) the cut-off used
    (``threshold`` × max, +inf when the max is ≤ 0); n_sites: int64 (filters,);
    counts: float64 (filters, width, 4) letter counts of the sites per column (A C G U).
    """

    max_activation: np.ndarray
    threshold: np.ndarray
    n_sites: np.ndarray
    counts: np.ndarray

    def pfm(self, index: int) -> np.ndarray:
        """float64 (width, 4) letter frequencies of filter ``index``'s sites (rows sum to 1)."""
        c = self.counts[index]
        return c / np.maximum(c.sum(axis=1, keepdims=True), 1e-12)


def _batches(sequences: Sequence[np.ndarray], width: int, batch_nt: int):
    """Padded (3') code batches of the transcripts at least ``width`` long, by length."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    usable = np.flatnonzero(lengths >= width)
    if not len(usable):
        return
    for part in plan_batches(lengths[usable], "full", batch_size=4096, batch_nt=batch_nt, min_len=width):
        idx = usable[part]
        batch = make_batch([sequences[i] for i in idx], "full", None, width)
        yield batch.codes, lengths[idx]


def _activations(codes: np.ndarray, lengths: np.ndarray, weight: torch.Tensor, bias: torch.Tensor):
    """Activations float32 (rows, filters, windows), one-hot float32 (rows, 4, cols) and a
    bool (rows, windows) mask of valid windows (inside the transcript, no N)."""
    device = weight.device
    c = torch.from_numpy(codes).to(device).long()
    x = torch.nn.functional.one_hot(c.clamp(max=4), 5)[..., :4].transpose(1, 2).float()  # N → all zero
    act = torch.nn.functional.conv1d(x, weight, bias)
    width = weight.shape[2]
    n_windows = act.shape[2]
    is_n = (c == 4).float()[:, None, :]
    n_in_window = torch.nn.functional.conv1d(is_n, torch.ones(1, 1, width, device=device))[:, 0]
    pos = torch.arange(n_windows, device=device)[None, :]
    valid = (pos <= torch.as_tensor(lengths, device=device)[:, None] - width) & (n_in_window < 0.5)
    return act, x, valid


@torch.no_grad()
def filter_sites(sequences: Sequence[np.ndarray], weight: torch.Tensor, bias: torch.Tensor,
                 threshold: float = 0.5, batch_nt: int = ACTIVATION_BATCH_NT) -> FilterSites:
    """Sites and letter counts of every filter over ``sequences`` (uint8 code arrays).

    weight: float32 (filters, 4, width); bias: float32 (filters,). Two passes over the data:
    the largest activation per filter, then the windows above ``threshold`` × that maximum.
    """
    if not 0 < threshold <= 1:
        raise RNATrackerError("--threshold must be in (0, 1] (a fraction of each filter's largest activation)")
    n_filters, _, width = weight.shape
    best = torch.full((n_filters,), float("-inf"), dtype=torch.float64)
    for codes, lengths in _batches(sequences, width, batch_nt):
        act, _, valid = _activations(codes, lengths, weight, bias)
        masked = act.masked_fill(~valid[:, None, :], float("-inf"))
        best = torch.maximum(best, masked.amax(dim=(0, 2)).double().cpu())
    best_np = best.numpy()
    cut = np.where(best_np > 0, threshold * best_np, np.inf)
    counts = torch.zeros((n_filters, width, 4), dtype=torch.float64)
    n_sites = torch.zeros(n_filters, dtype=torch.float64)
    cut_t = torch.as_tensor(cut, dtype=torch.float32, device=weight.device)
    for codes, lengths in _batches(sequences, width, batch_nt):
        act, x, valid = _activations(codes, lengths, weight, bias)
        hit = ((act > cut_t[None, :, None]) & valid[:, None, :]).float()  # (rows, filters, windows)
        n_windows = hit.shape[2]
        n_sites += hit.sum(dim=(0, 2)).double().cpu()
        for k in range(width):
            # letters at column k of every site: Σ_rows,windows hit[f, p] · x[c, p + k]
            counts[:, k, :] += torch.einsum("rfp,rcp->fc", hit, x[:, :, k : k + n_windows]).double().cpu()
    return FilterSites(best_np, cut, n_sites.numpy().astype(np.int64), counts.numpy())
