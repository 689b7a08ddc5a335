"""The training loss. (Evaluation metrics live in :mod:`rnatracker_cli.metrics`.)"""

from __future__ import annotations

import torch


def kl_rows(log_q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) = Σ_f p log(p / q) per row (0·log 0 = 0): float32 (batch,).

    log_q: float32 (batch, F) predicted log-probabilities; p: float32 (batch, F) targets.
    """
    return (torch.xlogy(p, p) - p * log_q).sum(dim=1)
