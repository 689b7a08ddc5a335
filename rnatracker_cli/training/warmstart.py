"""Warm start (``train/cv --init MODEL``): fine-tune a trained network on another data set.

The architecture is the initial model's (its config, without any ensemble wrapper); the
weights are its weights, or those of member ``r % K`` for replicate ``r`` of a K-member
ensemble. What comes from the training split is fitted again on the new data before the
first step (:func:`rnatracker_cli.training.loop.fit` calls the model's ``fit_prior`` and
``fit_normalization``): with a length prior, the frozen length model becomes the new data
set's own, and the network's sequence part is what is carried over and corrected.
A length prior's validated shrinkage ``s`` is folded into the dense layer (``W, b ← s·W,
s·b`` and ``s ← 1``; the same predictions) so that training starts from the initial model's
function with ``s = 1``, as for a fresh network, and ``s`` is validated again at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model import build_model
from rnatracker_cli.model.checkpoint import read_checkpoint, resolve_model
from rnatracker_cli.utils.hashing import file_sha256

#: Config keys that describe the data rather than the network; the new data set sets them.
DATA_KEYS = ("replicates", "truncate_5p")


@dataclass
class InitWeights:
    """The network an ``--init`` run starts from.

    config: single-member architecture config; fractions: its output order; states: one
    state dict per member (float tensors on CPU); source: ``{"model": str, "sha256": str}``
    recorded in the new checkpoint's training metadata.
    """

    config: dict
    fractions: list[str]
    states: list[dict] = field(repr=False)
    source: dict

    @property
    def arch(self) -> str:
        return str(self.config["arch"])

    def check_fractions(self, fractions: list[str], where: str) -> None:
        if list(fractions) != list(self.fractions):
            raise RNATrackerError(
                f"--init: the model predicts {', '.join(self.fractions)} but {where} has "
                f"{', '.join(fractions)} (same fractions in the same order needed to fine-tune)"
            )

    def apply(self, model: nn.Module, replicate: int = 0) -> None:
        """Load member ``replicate % K`` into a freshly built ``model`` of :attr:`config`."""
        model.load_state_dict(self.states[replicate % len(self.states)])
        scale = getattr(model, "residual_scale", None)
        if scale is not None and scale != 1.0:
            with torch.no_grad():
                model.dense.weight.mul_(scale)
                model.dense.bias.mul_(scale)
            model.set_residual_scale(1.0)


def load_init(spec: str | os.PathLike) -> InitWeights:
    """Read the checkpoint named by ``spec`` (built-in name, ``model.pt`` or run directory)."""
    path = resolve_model(spec)
    payload = read_checkpoint(path)
    config = {k: v for k, v in payload["config"].items() if k not in DATA_KEYS}
    probe = build_model(config)
    if hasattr(probe, "fit_direct") or not any(True for _ in probe.parameters()):
        raise RNATrackerError(f"--init: {path} is a {config.get('arch')} model, which is not trained by gradient "
                              "steps; fine-tuning needs a network (e.g. rnatracker)")
    state = payload["state_dict"]
    k = int(payload["config"].get("replicates", 1))
    if k > 1:
        states = [{name[len(f"members.{i}."):]: v for name, v in state.items() if name.startswith(f"members.{i}.")}
                  for i in range(k)]
    else:
        states = [dict(state)]
    for s in states:
        try:
            probe.load_state_dict(s)
        except RuntimeError as exc:
            raise RNATrackerError(f"--init: {path}: weights do not fit the stored config "
                                  f"({str(exc).splitlines()[0]})") from None
    source = {"model": str(spec), "sha256": file_sha256(path)}
    return InitWeights(config, list(payload["fractions"]), states, source)


def check_no_architecture_options(**given) -> None:
    """With ``--init`` the architecture is the initial model's: refuse options that set it
    (``given``: option name → value, None = not given)."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if named:
        raise RNATrackerError(f"--init: {', '.join(named)} cannot be combined with --init "
                              "(the architecture is the initial model's)")


#: ``--fine-tune`` values; the first is the default with ``--init``: on Halo-seq (5-fold CV)
#: head and all were equally accurate (nuclear AUROC 0.871 vs 0.879, DeLong p = 0.40) and
#: head cost 1/25 of the time (docs/model.md, "Fine-tuning on another assay").
FINE_TUNE_MODES = ("head", "all")


def resolve_fine_tune(init: object | None, fine_tune: str | None) -> str | None:
    """The fine-tuning mode (None without ``--init``); one error line for a bad value."""
    if fine_tune is not None and init is None:
        raise RNATrackerError("--fine-tune needs --init (the model to start from)")
    if init is None:
        return None
    mode = FINE_TUNE_MODES[0] if fine_tune is None else fine_tune
    if mode not in FINE_TUNE_MODES:
        raise RNATrackerError(f"--fine-tune must be one of {', '.join(FINE_TUNE_MODES)} (got {fine_tune!r})")
    return mode
