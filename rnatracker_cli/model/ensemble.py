"""Ensembles of replicate models (``train --replicates K``), saved as one checkpoint.

The members share one architecture config and differ in seed and validation split. The
ensemble's prediction is the mean of the members' predicted distributions (returned as its
log); :meth:`Ensemble.member_log_probs` gives each member's, from which `predict` reports the
spread (standard deviation across members) of every fraction.
"""

from __future__ import annotations

import torch
from torch import nn


class Ensemble(nn.Module):
    """K models with the same input contract → log of their mean probabilities (batch, F).

    Forward input as for any model: x float32 (batch, channels, width), lengths int64
    (batch,), nt_lengths int64 (batch,).
    """

    has_attention = False

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @property
    def min_length(self) -> int:
        return max(int(m.min_length) for m in self.members)

    def member_log_probs(self, x: torch.Tensor, lengths: torch.Tensor,
                         nt_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """float32 (K, batch, F) log-probabilities of every member."""
        return torch.stack([m(x, lengths, nt_lengths) for m in self.members])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, nt_lengths: torch.Tensor | None = None,
                return_attention: bool = False):
        if return_attention:
            raise ValueError("ensembles report no attention (use one member's checkpoint)")
        log_p = self.member_log_probs(x, lengths, nt_lengths)
        return torch.logsumexp(log_p, dim=0) - torch.log(torch.tensor(float(len(self.members)), device=log_p.device))


def combine_checkpoints(paths: list) -> tuple[Ensemble, dict, list[str], dict]:
    """One ensemble from member checkpoints trained separately (e.g. one cluster job per seed).

    The members must share their config, fractions and training data (``data_sha256``);
    the result equals ``train --replicates K`` when the members were trained with seeds
    ``SEED … SEED+K−1`` and the same options. Returns ``(model, config, fractions, training)``
    ready for :func:`rnatracker_cli.model.checkpoint.save_checkpoint`.
    """
    from rnatracker_cli.errors import RNATrackerError
    from rnatracker_cli.model.checkpoint import load_model

    if not paths:
        raise RNATrackerError("no member checkpoints to combine")
    loaded = [load_model(p) for p in paths]
    first = loaded[0]
    for other in loaded[1:]:
        for what, a, b in (("config", first.config, other.config), ("fractions", first.fractions, other.fractions),
                           ("training data", first.training.get("data_sha256"), other.training.get("data_sha256"))):
            if a != b:
                raise RNATrackerError(f"{other.path} and {first.path} differ in {what}: not members of one ensemble")
    if first.config.get("replicates", 1) != 1:
        raise RNATrackerError(f"{first.path} is an ensemble already")
    members_meta = [{"seed": m.training.get("seed"), "epochs": m.training.get("epochs"),
                     "best_epoch": m.training.get("best_epoch"),
                     "val_loss": (m.training.get("metrics") or {}).get("val_loss"),
                     "residual_scale": getattr(m.model, "residual_scale", None)} for m in loaded]
    training = {**first.training, "replicates": len(loaded), "members": members_meta}
    config = {**first.config, "replicates": len(loaded)}
    return Ensemble([m.model for m in loaded]), config, list(first.fractions), training
