"""Building blocks that carry each sequence's valid length, so padding never leaks.

Convolutions are unpadded ("valid"), so a valid output position only ever sees valid input
positions; the length after a layer is therefore a closed-form function of the length before
it (:meth:`ConvStack.output_lengths`). The LSTM sees each sequence's valid steps only (its
backward direction runs on the valid steps reversed in place) and the pooling layers
(attention, mean) mask steps past each sequence's length: a sequence's result does not
depend on what it is batched with.
"""

from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation of (batch, channels, steps) whose training statistics are taken over
    each row's valid steps only (padding never shifts them).

    Training: per-channel mean and (biased) variance over the valid steps of the batch; the
    running statistics are updated as in :class:`torch.nn.BatchNorm1d` (momentum, unbiased
    variance). Evaluation: the per-channel affine map of the running statistics, computed as
    a multiply then an add, so every value is the same whatever it is batched with (the fused
    kernel's rounding can depend on the tensor's shape).
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if not self.training:
            scale = self.weight / torch.sqrt(self.running_var + self.eps)
            shift = self.bias - self.running_mean * scale
            return x * scale.to(x.dtype)[None, :, None] + shift.to(x.dtype)[None, :, None]
        if lengths is None or bool((lengths >= x.shape[2]).all()):
            return super().forward(x)
        mask = step_mask(lengths, x.shape[2])[:, None, :].to(x.dtype)
        n = mask.sum()
        if float(n) < 2:
            return super().forward(x)
        mean = (x * mask).sum((0, 2)) / n
        centred = x - mean[None, :, None]
        var = (centred * centred * mask).sum((0, 2)) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_((var.detach() * n / (n - 1)).to(self.running_var.dtype), self.momentum)
        return centred * torch.rsqrt(var + self.eps)[None, :, None] * self.weight[None, :, None] + self.bias[None, :, None]


class ConvStack(nn.Module):
    """``layers`` × (Conv1d ``filters``×``kernel`` → ReLU → MaxPool ``pool``/``pool`` → Dropout).

    (Computed as conv → pool → ReLU, which is identical.) With ``batch_norm`` each pooled
    conv output is batch-normalised before the ReLU (:class:`MaskedBatchNorm1d`; not in the
    paper: without it the ReLUs of a freshly initialised network go quiet, docs/model.md).

    Input float32 (batch, in_channels, length) and optionally the valid columns int64 (batch,)
    (used by batch normalisation's training statistics); output float32 (batch, filters, steps).
    """

    def __init__(self, in_channels: int, filters: int = 32, kernel: int = 10, pool: int = 3,
                 layers: int = 2, dropout: float = 0.2, batch_norm: bool = False) -> None:
        super().__init__()
        self.kernel, self.pool, self.n_layers = kernel, pool, layers
        blocks: list[nn.Module] = []
        channels = in_channels
        for _ in range(layers):
            # Pooling before the ReLU gives the same values (ReLU is monotonic) on a third of
            # the columns: the activation pass is memory-bound on long inputs. Batch
            # normalisation is a per-channel affine map at prediction time, so it commutes
            # with pooling only for positive scales: it sits after the pooling.
            blocks += [nn.Conv1d(channels, filters, kernel), nn.MaxPool1d(pool, pool)]
            if batch_norm:
                blocks.append(MaskedBatchNorm1d(filters))
            blocks += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
            channels = filters
        self.body = nn.Sequential(*blocks)
        self.out_channels = filters

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = lengths
        for module in self.body:
            if isinstance(module, MaskedBatchNorm1d):
                x = module(x, steps)
            else:
                x = module(x)
                if isinstance(module, nn.MaxPool1d) and steps is not None:
                    steps = self._layer_steps(steps)
        return x

    def _layer_steps(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid steps after one conv + pool layer for ``lengths`` valid columns."""
        return torch.div(lengths - self.kernel + 1, self.pool, rounding_mode="floor")

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid steps after the stack for valid input ``lengths`` (int64 (batch,))."""
        out = lengths
        for _ in range(self.n_layers):
            out = self._layer_steps(out)
        return out

    def min_length(self) -> int:
        """Shortest input that yields one valid step."""
        need = 1
        for _ in range(self.n_layers):
            need = need * self.pool + self.kernel - 1
        return need

    def receptive_field(self) -> tuple[int, int]:
        """``(size, stride)``: step ``t`` sees input columns ``[t·stride, t·stride + size)``."""
        size, stride = 1, 1
        for _ in range(self.n_layers):
            size += (self.kernel - 1) * stride
            size += (self.pool - 1) * stride
            stride *= self.pool
        return size, stride


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """bool (batch, steps): True at valid steps ``t < lengths[i]``."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def reverse_valid(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` steps in place of order; padding stays at the end.

    h: (batch, steps, features). Applying it twice gives ``h`` back.
    """
    steps = h.shape[1]
    t = torch.arange(steps, device=h.device)[None, :]
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return torch.gather(h, 1, index[:, :, None].expand(-1, -1, h.shape[2]))


class MaskedBiLSTM(nn.Module):
    """Bidirectional LSTM over padded (batch, steps, features) with per-row lengths.

    Padding sits after each row's valid steps, so the forward LSTM never sees it before a
    valid step; the backward LSTM runs forward over each row's valid steps reversed in place
    (:func:`reverse_valid`), so it too starts at the row's own last step. This is exact like
    packing, but keeps the fast fused kernels (a packed LSTM is ~10× slower on CPU).
    Output float32 (batch, steps, 2·units), zero past each row's length.
    """

    def __init__(self, in_features: int, units: int = 32) -> None:
        super().__init__()
        self.forward_lstm = nn.LSTM(in_features, units, batch_first=True)
        self.backward_lstm = nn.LSTM(in_features, units, batch_first=True)
        self.out_features = 2 * units

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = h.shape[1]
        ahead = self.forward_lstm(h)[0]
        if bool((lengths == steps).all()):
            # Fixed mode, or equal lengths: a plain flip is the same reversal.
            back = self.backward_lstm(h.flip(1))[0].flip(1)
            return torch.cat([ahead, back], dim=2)
        back = reverse_valid(self.backward_lstm(reverse_valid(h, lengths))[0], lengths)
        mask = step_mask(lengths, steps)[:, :, None].to(h.dtype)
        return torch.cat([ahead, back], dim=2) * mask


class MaskedAttention(nn.Module):
    """Attention pooling (paper eq. 4–6) restricted to valid steps.

    ``s_t = tanh(w·h_t + b)``, ``α = softmax(s)`` over ``t < length``, ``c = Σ_t α_t h_t``.
    Input float32 (batch, steps, features) and int64 (batch,) lengths ≥ 1; returns
    ``(c (batch, features), α (batch, steps))`` with α = 0 past each row's length.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.score = nn.Linear(features, 1)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # w·h_t as a product summed over contiguous features, not ``self.score(h)``: a
        # one-output Linear (or a sum over a strided axis) goes through kernels whose rounding
        # depends on the batch's shape, so a transcript's weights would change in the last bit
        # with what it was batched with; this sum does not (shards merge into the single run).
        # In row chunks of ~4 M values: the product is a temporary as large as h, which on a
        # long transcript's batch of masked copies costs hundreds of MB (rows are independent,
        # so chunking does not change a value).
        h = h.contiguous()
        w = self.score.weight[0]
        rows = max(1, (1 << 22) // max(1, h.shape[1] * h.shape[2]))
        s = torch.tanh(torch.cat([(part * w).sum(-1) for part in h.split(rows)]) + self.score.bias[0])
        s = s.masked_fill(~step_mask(lengths, h.shape[1]), float("-inf"))
        alpha = torch.softmax(s, dim=1)
        return torch.bmm(alpha.unsqueeze(1), h).squeeze(1), alpha


def masked_mean(h: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over valid steps: the `noattention` ablation's pooling (uniform weights).

    Returns ``(mean (batch, features), weights (batch, steps))`` like :class:`MaskedAttention`.
    """
    mask = step_mask(lengths, h.shape[1]).to(h.dtype)
    weights = mask / lengths.to(h.dtype)[:, None]
    return torch.bmm(weights.unsqueeze(1), h).squeeze(1), weights
