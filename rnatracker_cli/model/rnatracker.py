"""The RNATracker network and its two ablations.

``rnatracker``: per encoding branch, 2 × (Conv1d 32×10 → ReLU → MaxPool 3/3 → Dropout 0.2);
branches concatenated on channels → BiLSTM (32 units per direction) → masked attention →
Dense + softmax over the fractions (Yan et al. 2019).
``nolstm``: attention directly over the conv outputs.
``noattention``: mean over the (valid) LSTM outputs instead of attention.

Option ``batch_norm`` (default for new models, not in the paper): each pooled convolution output
is batch-normalised before its ReLU (:class:`~rnatracker_cli.model.layers.MaskedBatchNorm1d`).

Option ``sum_pooling`` (not in the paper): the pooled context vector is extended by the
*sum* of the (valid) LSTM outputs over the transcript, divided by :data:`SUM_POOL_STEPS`
steps. Attention and mean pooling are weighted means: a second copy of an element barely
moves them, and an element's weight falls with the transcript's length; a sum counts
elements whatever the length (docs/model.md, "Sum pooling").

Option ``length_feature``: the standardised log transcript length is appended to the pooled
context vector before the dense layer (attention pooling is a weighted mean and cannot see
length). Its mean/std are buffers set from the training split by :meth:`fit_normalization`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from rnatracker_cli.model.layers import ConvStack, MaskedAttention, MaskedBiLSTM, masked_mean

VARIANTS = ("rnatracker", "nolstm", "noattention")
#: Sum pooling's scale: the sum over valid steps divided by this many steps (≈ 900 nt with the
#: default layers), i.e. the mean times ``steps / SUM_POOL_STEPS``.
SUM_POOL_STEPS = 100.0


class LengthFeature(nn.Module):
    """log(length) standardised with training-split statistics (buffers, saved in the checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def forward(self, nt_lengths: torch.Tensor) -> torch.Tensor:
        """int64 (batch,) → float32 (batch, 1)."""
        return ((torch.log(nt_lengths.float().clamp(min=1)) - self.mean) / self.std)[:, None]

    def fit(self, nt_lengths: torch.Tensor) -> None:
        logs = torch.log(nt_lengths.double().clamp(min=1))
        self.mean.fill_(float(logs.mean()))
        self.std.fill_(float(logs.std()) if len(logs) > 1 and float(logs.std()) > 0 else 1.0)


class LengthPrior(nn.Module):
    """Frozen softmax regression on standardised log length: logits float32 (batch, F).

    All parameters are buffers (saved in the checkpoint, never trained by the optimiser);
    :meth:`fit` sets them from the training split by maximum likelihood (L-BFGS, a small L2
    penalty so that a constant target set stays finite).
    """

    def __init__(self, n_fractions: int) -> None:
        super().__init__()
        self.length = LengthFeature()
        self.register_buffer("weight", torch.zeros(n_fractions))
        self.register_buffer("bias", torch.zeros(n_fractions))
        # Weight of the network's sequence part on top of the prior (1 while training).
        self.register_buffer("residual_scale", torch.ones(()))

    def forward(self, nt_lengths: torch.Tensor) -> torch.Tensor:
        return self.length(nt_lengths) * self.weight[None, :] + self.bias[None, :]

    @torch.enable_grad()
    def fit(self, nt_lengths: torch.Tensor, targets: torch.Tensor, l2: float = 1e-4) -> None:
        """nt_lengths int64 (n,); targets float32 (n, F) distributions (rows sum to 1)."""
        self.length.fit(nt_lengths)
        z = self.length(nt_lengths.cpu()).double()
        p = targets.detach().cpu().double()
        w = torch.zeros(p.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.log(p.mean(0).clamp(min=1e-6)).clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            log_q = torch.log_softmax(z * w[None, :] + b[None, :], dim=1)
            loss = -(p * log_q).sum(1).mean() + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.weight.copy_(w.detach().float())
        self.bias.copy_((b - b.mean()).detach().float())


class RNATrackerNet(nn.Module):
    """CNN (+ BiLSTM) + attention/mean pooling → log-probabilities over fractions.

    branches: input channels per conv branch (e.g. (4,) for ``seq``, (4, 6) for ``seq+struct``).
    Forward input: x float32 (batch, sum(branches), width), lengths int64 (batch,) valid
    columns (≥ :attr:`min_length`), nt_lengths int64 (batch,) transcript lengths (length
    feature only). Output: float32 (batch, n_fractions) log-probabilities.
    """

    def __init__(self, variant: str, branches: tuple[int, ...], n_fractions: int, filters: int = 32,
                 kernel: int = 10, pool: int = 3, conv_layers: int = 2, dropout: float = 0.2,
                 lstm_units: int = 32, length_feature: bool = False, length_prior: bool = False,
                 batch_norm: bool = False, sum_pooling: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant}")
        self.variant = variant
        self.branches = tuple(branches)
        self.convs = nn.ModuleList(
            ConvStack(c, filters, kernel, pool, conv_layers, dropout, batch_norm) for c in self.branches
        )
        features = filters * len(self.branches)
        self.lstm = MaskedBiLSTM(features, lstm_units) if variant != "nolstm" else None
        if self.lstm is not None:
            features = self.lstm.out_features
        self.attention = MaskedAttention(features) if variant != "noattention" else None
        self.has_attention = self.attention is not None
        self.sum_pooling = bool(sum_pooling)
        self.length = LengthFeature() if length_feature else None
        pooled = features * (2 if sum_pooling else 1)
        self.dense = nn.Linear(pooled + (1 if length_feature else 0), n_fractions)
        self.prior = LengthPrior(n_fractions) if length_prior else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras-style initialisation, as in the original implementation: Glorot-uniform
        kernels and zero biases; LSTM recurrent kernels orthogonal and the forget-gate bias 1,
        which lets the LSTM carry a motif's signal over many steps early in training."""
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LSTM):
                for name, param in module.named_parameters():
                    if name.startswith("weight_ih"):
                        for gate in param.chunk(4, dim=0):
                            nn.init.xavier_uniform_(gate)
                    elif name.startswith("weight_hh"):
                        for gate in param.chunk(4, dim=0):
                            nn.init.orthogonal_(gate)
                    else:
                        nn.init.zeros_(param)
                        if name.startswith("bias_ih"):
                            units = param.shape[0] // 4
                            param.data[units : 2 * units] = 1.0  # PyTorch gate order: i, f, g, o
        if self.prior is not None:
            # Start exactly at the length model: the sequence part's contribution begins at 0.
            nn.init.zeros_(self.dense.weight)

    @property
    def min_length(self) -> int:
        return self.convs[0].min_length()

    def receptive_field(self) -> tuple[int, int]:
        """``(size, stride)`` of one pooled step in input columns (for attention maps)."""
        return self.convs[0].receptive_field()

    @property
    def needs_normalization(self) -> bool:
        return self.length is not None

    @torch.no_grad()
    def fit_normalization(self, nt_lengths: torch.Tensor, batches: Iterable | None = None) -> None:
        """Set the length feature's statistics from the training split's transcript lengths."""
        if self.length is not None:
            self.length.fit(nt_lengths)

    def fit_prior(self, nt_lengths: torch.Tensor, targets: torch.Tensor) -> None:
        """Fit the length prior (if any) on the training split: nt_lengths int64 (n,),
        targets float32 (n, F)."""
        if self.prior is not None:
            self.prior.fit(nt_lengths, targets)

    @property
    def residual_scale(self) -> float | None:
        """Weight of the sequence part over the length prior (None without a prior)."""
        return None if self.prior is None else float(self.prior.residual_scale)

    def set_residual_scale(self, value: float) -> None:
        if self.prior is None:
            raise ValueError("this model has no length prior")
        self.prior.residual_scale.fill_(float(value))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor | None = None,
                return_attention: bool = False):
        """Log-probabilities (batch, F); with ``return_attention`` also
        ``(weights (batch, steps), step_lengths (batch,))`` (uniform weights for `noattention`)."""
        h, steps = self.trunk(x, lengths)
        out, weights = self.head(h, steps, nt_lengths)
        return (out, weights, steps) if return_attention else out

    def trunk(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolutions (+ BiLSTM): features float32 (batch, steps, D) and valid steps int64 (batch,)."""
        splits = torch.split(x, list(self.branches), dim=1) if len(self.branches) > 1 else (x,)
        h = torch.cat([conv(part, lengths) for conv, part in zip(self.convs, splits)], dim=1)
        steps = self.convs[0].output_lengths(lengths)
        h = h.transpose(1, 2)  # (batch, steps, features)
        if self.lstm is not None:
            h = self.lstm(h, steps)
        return h, steps

    def pooled(self, h: torch.Tensor, steps: torch.Tensor, nt_lengths: torch.Tensor | None = None):
        """Pooling (→ length feature): the dense layer's input (batch, D) and the pooling
        weights (batch, steps); h, steps as for :meth:`head`."""
        if self.attention is not None:
            context, weights = self.attention(h, steps)
        else:
            context, weights = masked_mean(h, steps)
        if self.sum_pooling:
            mean = context if self.attention is None else masked_mean(h, steps)[0]
            context = torch.cat([context, mean * (steps.to(mean.dtype)[:, None] / SUM_POOL_STEPS)], dim=1)
        if (self.length is not None or self.prior is not None) and nt_lengths is None:
            raise ValueError("this model uses the transcript length: pass nt_lengths")
        if self.length is not None:
            context = torch.cat([context, self.length(nt_lengths).to(context.dtype)], dim=1)
        return context, weights

    def context(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The dense layer's input float32 (batch, D) for inputs as in :meth:`forward`
        (a per-data-set head is refitted on it: :mod:`rnatracker_cli.training.head`)."""
        h, steps = self.trunk(x, lengths)
        return self.pooled(h, steps, nt_lengths)[0].float()

    def head(self, h: torch.Tensor, steps: torch.Tensor, nt_lengths: torch.Tensor | None = None):
        """Pooling → (length feature) → dense → log-softmax, on sequence features.

        h: float32 (batch, steps, features) LSTM (or conv) outputs; steps: int64 (batch,) valid
        steps. Returns ``(log-probabilities (batch, F), pooling weights (batch, steps))``.
        Also used by the zipcode scan's fast path on features it assembled itself.
        """
        context, weights = self.pooled(h, steps, nt_lengths)
        logits = self.dense(context).float()
        if self.prior is not None:
            logits = self.prior(nt_lengths) + self.prior.residual_scale * logits
        return torch.log_softmax(logits, dim=1), weights
