"""The training loss. (Evaluation metrics live in :mod:`rnatracker_cli.metrics`.)"""

from __future__ import annotations

import numpy as np
import torch

from rnatracker_cli.defaults import AUTO_FRACTIONS_LOSS, CLR_FLOOR
from rnatracker_cli.errors import RNATrackerError


def kl_rows(log_q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) = Σ_f p log(p / q) per row (0·log 0 = 0): float32 (batch,).

    log_q: float32 (batch, F) predicted log-probabilities; p: float32 (batch, F) targets.
    """
    return (torch.xlogy(p, p) - p * log_q).sum(dim=1)


def clr_rows(log_q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """½ · mean_f (clr(q)_f − clr(p)_f)² per row: float32 (batch,).

    clr(x) = log x − mean_f log x (centred log-ratio); the targets are floored at
    :data:`~rnatracker_cli.defaults.CLR_FLOOR` first (a fraction of 0 has no logarithm). The
    ½ puts it on KL's scale: for small changes around uniform fractions, KL ≈ this.
    Unlike KL, which weighs each fraction by its target, a fraction pushed from 0.25 down to
    0.07 counts as much as one pushed up to 0.6 (same change of logit).
    """
    log_p = torch.log(p.clamp_min(CLR_FLOOR))
    diff = (log_q - log_q.mean(dim=1, keepdim=True)) - (log_p - log_p.mean(dim=1, keepdim=True))
    return 0.5 * (diff * diff).mean(dim=1)


def loss_rows(name: str, log_q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The training loss ``name`` (``kl``, ``clr`` or ``kl+clr``) per row."""
    if name == "clr":
        return clr_rows(log_q, p)
    if name == "kl+clr":
        return kl_rows(log_q, p) + clr_rows(log_q, p)
    return kl_rows(log_q, p)


def resolve_loss(loss: str, targets: np.ndarray, source: str) -> str:
    """The loss to train with: ``kl``, ``clr`` or ``kl+clr``. ``auto`` picks ``kl`` when at least
    half the targets are one-hot 0/1 labels (a class per transcript, as in the lncATLAS and
    Halo-seq caches; KL on labels is the cross-entropy) and
    :data:`~rnatracker_cli.defaults.AUTO_FRACTIONS_LOSS` on measured fractions. An explicit loss
    with ``clr`` in it is refused on such labels: the centred log of a 0/1 target is
    ±log(1/floor) and the loss would fit those extremes."""
    if loss == "kl":
        return loss
    targets = np.asarray(targets)
    labels = int((targets.max(axis=1) >= 0.999).sum()) if len(targets) else 0
    is_labels = labels * 2 >= len(targets)
    if loss == "auto":
        return "kl" if is_labels else AUTO_FRACTIONS_LOSS
    if is_labels:
        raise RNATrackerError(f"--loss {loss} needs measured fractions, but {labels:,} of the {len(targets):,} targets in "
                              f"{source} are 0/1 labels; use --loss kl (cross-entropy on labels)")
    return loss
