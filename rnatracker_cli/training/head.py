"""Refit only the output head of a trained network on a new data set (``--fine-tune head``).

The trunk (convolutions, BiLSTM, attention) is kept frozen as a feature extractor: each
transcript's pooled context vector (the dense layer's input, :meth:`RNATrackerNet.context`)
is computed once. Then, on the training split,

1. the length prior (if the model has one) is refitted: the new data set's own length model;
2. the dense layer is fitted by L-BFGS on the training loss of the run (``--loss``, resolved:
   KL divergence to the target distributions on labels, ``kl+clr`` by default on measured
   fractions; L2 penalty :data:`DEFAULT_HEAD_L2` on standardised features) with the prior's
   logits as a fixed offset — a softmax regression on the trunk's features;
3. the prior's residual scale ``s`` is validated on the validation split, as after
   gradient training (:func:`rnatracker_cli.training.loop.fit_residual_scale`).

No epochs, no learning rate: deterministic and fast (one forward pass of the trunk per
transcript). A trunk trained on one assay thus gets a head per assay, so that a sequence
signal that reverses between assays is re-weighted rather than carried over (docs/model.md,
"Fine-tuning on another assay").
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from rnatracker_cli.encoding import get_encoding, make_batch, plan_batches
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.loop import EpochRecord, FitOptions, FitResult, evaluate, fit_residual_scale, prepare_model
from rnatracker_cli.training.metrics import kl_rows, loss_rows

#: L2 penalty of the head fit, per standardised feature (a mean-loss scale). Out-of-fold
#: nuclear AUROC on Halo-seq moved by < 0.005 between 1e-3, 1e-2 and 1e-1 (docs/model.md).
DEFAULT_HEAD_L2 = 1e-2


@torch.no_grad()
def context_features(model: nn.Module, config: dict, data: TrainingSet, device, batch_nt: int) -> np.ndarray:
    """The dense layer's input for every transcript of ``data``: float64 (n, D), data order."""
    encoding = get_encoding(config["encoding"])
    model.eval()
    out = np.zeros((len(data), model.dense.in_features), dtype=np.float64)
    for idx in plan_batches(data.lengths, config["mode"], batch_size=256, batch_nt=batch_nt,
                            max_len=config.get("max_len"), min_len=model.min_length):
        b = make_batch([data.sequences[i] for i in idx], config["mode"], config.get("max_len"), model.min_length,
                       None if data.structures is None else [data.structures[i] for i in idx])
        b.nt_lengths = data.nt_lengths[idx]
        ctx = model.context(encoding.tensors(b, device), torch.from_numpy(b.lengths).to(device),
                            torch.from_numpy(np.asarray(b.nt_lengths)).to(device))
        out[np.asarray(idx)] = ctx.double().cpu().numpy()
    return out


def _prior_logits(model: nn.Module, nt_lengths: np.ndarray, n_fractions: int) -> torch.Tensor:
    if getattr(model, "prior", None) is None:
        return torch.zeros((len(nt_lengths), n_fractions), dtype=torch.float64)
    with torch.no_grad():
        return model.prior.cpu()(torch.from_numpy(np.asarray(nt_lengths, dtype=np.int64))).double()


def fit_dense(features: np.ndarray, targets: np.ndarray, offset: torch.Tensor, l2: float = DEFAULT_HEAD_L2,
              loss: str = "kl") -> tuple[np.ndarray, np.ndarray, float]:
    """Softmax regression: minimise the mean training loss ``loss`` (``kl``, ``clr`` or ``kl+clr``,
    :func:`~rnatracker_cli.training.metrics.loss_rows`) between targets and
    softmax(offset + X·Wᵀ + b), + l2·‖W‖², over standardised X. features float64 (n, D); targets
    (n, F) distributions; offset (n, F). Returns ``(W (F, D), b (F,), mean KL)`` on the original
    (unstandardised) feature scale (the reported loss is KL whatever ``loss`` is)."""
    x = torch.from_numpy(features)
    mu, sd = x.mean(0), x.std(0)
    sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
    z = (x - mu) / sd
    p = torch.from_numpy(np.asarray(targets, dtype=np.float64))
    w = torch.zeros((p.shape[1], z.shape[1]), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(p.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        log_q = torch.log_softmax(offset + z @ w.T + b, dim=1)
        value = loss_rows(loss, log_q, p).mean() + l2 * (w * w).sum()
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        w_raw = w / sd[None, :]
        b_raw = b - (w_raw * mu[None, :]).sum(1)
        kl = float(kl_rows(torch.log_softmax(offset + z @ w.T + b, dim=1), p).mean())
    return w_raw.numpy(), (b_raw - b_raw.mean()).numpy(), kl


def fit_head(model: nn.Module, config: dict, train: TrainingSet, val: TrainingSet | None, options: FitOptions,
             device) -> FitResult:
    """``--fine-tune head`` (``options.head_only``) in place of gradient training: refit the
    prior and the dense layer on ``train``, validate the residual scale on ``val``. Returns
    a fit result with one record (epoch 1; ``lr`` 0: no gradient steps)."""
    if not hasattr(model, "context"):
        raise RNATrackerError(f"--fine-tune head needs a network with a dense head (got {config.get('arch')})")
    started = time.perf_counter()
    prepare_model(model, config, train, options, device)
    feats = context_features(model, config, train, device, options.batch_nt)
    offset = _prior_logits(model, train.nt_lengths, train.targets.shape[1]).cpu()
    w, b, train_loss = fit_dense(feats, train.targets, offset, l2=DEFAULT_HEAD_L2, loss=options.loss)
    with torch.no_grad():
        model.dense.weight.copy_(torch.from_numpy(w).to(model.dense.weight))
        model.dense.bias.copy_(torch.from_numpy(b).to(model.dense.bias))
    if getattr(model, "prior", None) is not None:
        model.set_residual_scale(1.0)
    model.to(device).eval()
    has_val = val is not None and len(val) > 0
    if has_val:
        val_loss, val_r, _ = evaluate(model, config, val, device, bf16=options.bf16)
    else:
        val_loss, val_r = float("nan"), np.full(train.targets.shape[1], np.nan)
    result = FitResult(lr=0.0)
    result.history.append(EpochRecord(1, train_loss, val_loss, val_r, time.perf_counter() - started))
    result.best_epoch = 1
    if getattr(model, "residual_scale", None) is not None and has_val and options.shrink:
        result.residual_scale = fit_residual_scale(model, config, val, device, bf16=options.bf16)
        if math.isfinite(val_loss):
            result.history[0].val_loss, result.history[0].val_pearson = evaluate(model, config, val, device,
                                                                                  bf16=options.bf16)[:2]
    return result
