"""The fit loop: KL(p‖q) loss, NAdam, per-epoch validation, early stopping on validation loss.

Batches follow the model config's input mode (:func:`rnatracker_cli.encoding.plan_batches`):
shuffled chunks of ``batch_size`` in mode ``fixed``; length buckets capped at ``batch_nt``
padded nucleotides and ``batch_size`` rows in mode ``full``, re-drawn each epoch from a
seeded generator. The best epoch's weights (lowest validation loss) are restored at the end.

Loss of a batch = its summed per-transcript KL divided by the epoch's mean batch size. With
equal batches (fixed mode) this is the batch mean; with length buckets, whose sizes differ
~20-fold (a few long transcripts or many short ones), it keeps every transcript's weight
equal. A plain batch mean would weigh a transcript in a batch of 8 long ones 20× more than
one among 180 short ones, and since length predicts localization that biases the model
(measured on lncATLAS mRNAs: training loss stuck above the constant predictor's).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rnatracker_cli.defaults import (
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_LR_BY_ARCH, DEFAULT_PATIENCE,
)
from rnatracker_cli.encoding import get_encoding, make_batch, plan_batches
from rnatracker_cli.metrics import kl_divergence, pearson
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.training.data import TrainingSet
from rnatracker_cli.training.metrics import kl_rows
from rnatracker_cli.utils.device import bf16_supported



@dataclass
class FitOptions:
    """Optimisation settings. ``lr=None`` picks :data:`DEFAULT_LR_BY_ARCH` for the
    architecture if listed there, else :data:`DEFAULT_LR` for the mode;
    ``patience=0`` disables early stopping; ``clip_norm=0`` disables gradient clipping."""

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_nt: int = DEFAULT_BATCH_NT
    lr: float | None = None
    patience: int = DEFAULT_PATIENCE
    seed: int = 0
    clip_norm: float = DEFAULT_CLIP_NORM
    bf16: bool = False

    def check(self) -> None:
        if self.epochs < 1:
            raise RNATrackerError("--epochs must be at least 1")
        if self.batch_size < 1 or self.batch_nt < 1:
            raise RNATrackerError("--batch-size and --batch-nt must be positive")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise RNATrackerError("--lr must be a positive number")
        if self.patience < 0:
            raise RNATrackerError("--patience must be >= 0 (0 = no early stopping)")
        if not (self.clip_norm >= 0 and math.isfinite(self.clip_norm)):
            raise RNATrackerError("--clip-norm must be >= 0 (0 = no clipping)")


@dataclass
class EpochRecord:
    """One row of ``log.tsv``; val_* are NaN without a validation split."""

    epoch: int
    train_loss: float
    val_loss: float
    val_pearson: np.ndarray
    seconds: float


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    lr: float = 0.0

    @property
    def best(self) -> EpochRecord:
        return self.history[self.best_epoch - 1]


def evaluate(model: nn.Module, config: dict, data: TrainingSet, device: torch.device | str,
             batch_nt: int | None = None, bf16: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """``(mean KL, Pearson per fraction (F,), probabilities (n, F))`` of ``model`` on ``data``
    (batch_nt None = the device's prediction default)."""
    predictor = Predictor(model, config, device, batch_nt=batch_nt, bf16=bf16)
    probs = predictor.predict(data.sequences, data.structures, nt_lengths=data.nt_lengths)
    return float(kl_divergence(data.targets, probs).mean()), pearson(probs, data.targets, axis=0), probs


def _normalization_batches(model, config, data: TrainingSet, device, batch_nt: int):
    encoding = get_encoding(config["encoding"])

    def batches():
        for idx in plan_batches(data.lengths, config["mode"], batch_size=256, batch_nt=batch_nt,
                                max_len=config.get("max_len"), min_len=model.min_length):
            b = make_batch([data.sequences[i] for i in idx], config["mode"], config.get("max_len"),
                           model.min_length, None if data.structures is None else [data.structures[i] for i in idx])
            b.nt_lengths = data.nt_lengths[idx]
            yield (encoding.tensors(b, device), torch.from_numpy(b.lengths).to(device),
                   torch.from_numpy(b.nt_lengths).to(device))

    return batches


def fit(model: nn.Module, config: dict, train: TrainingSet, val: TrainingSet | None, options: FitOptions,
        device: torch.device, on_epoch: Callable[[EpochRecord, bool], None] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        on_best: Callable[[nn.Module, int], None] | None = None) -> FitResult:
    """Train ``model`` in place (seeded by ``options.seed``); returns the history.

    on_epoch(record, is_best) after each epoch; on_batch(done, total) after each step;
    on_best(model, epoch) when an epoch is the best so far, before on_epoch (e.g. to save
    the weights as training goes, so that a crash keeps them).
    The weights of the best epoch (lowest validation loss; the last epoch without a
    validation split) are loaded back into ``model`` before returning.
    """
    options.check()
    if len(train) == 0:
        raise RNATrackerError("no training transcripts")
    if options.bf16 and not bf16_supported(device):
        raise RNATrackerError("--bf16 needs a CUDA device with bfloat16 support")
    mode, max_len = config["mode"], config.get("max_len")
    encoding = get_encoding(config["encoding"])
    lr = options.lr if options.lr is not None else DEFAULT_LR_BY_ARCH.get(config.get("arch"), DEFAULT_LR[mode])
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model.to(device)
    if getattr(model, "needs_normalization", False):
        model.fit_normalization(torch.from_numpy(train.nt_lengths),
                                _normalization_batches(model, config, train, device, options.batch_nt))
    optimizer = torch.optim.NAdam(model.parameters(), lr=lr)
    lengths = train.lengths
    targets = torch.from_numpy(train.targets)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if options.bf16 else contextlib.nullcontext
    result = FitResult(lr=lr)
    best_loss, best_state, waited = math.inf, None, 0
    for epoch in range(1, options.epochs + 1):
        started = time.perf_counter()
        model.train()
        plan = plan_batches(lengths, mode, batch_size=options.batch_size, batch_nt=options.batch_nt,
                            max_len=max_len, min_len=model.min_length, rng=rng)
        mean_rows = len(train) / len(plan)
        total_loss = 0.0
        for step, idx in enumerate(plan, 1):
            batch = make_batch([train.sequences[i] for i in idx], mode, max_len, model.min_length,
                               None if train.structures is None else [train.structures[i] for i in idx])
            batch.nt_lengths = train.nt_lengths[idx]
            x = encoding.tensors(batch, device)
            with autocast():
                log_q = model(x, torch.from_numpy(batch.lengths).to(device), torch.from_numpy(batch.nt_lengths).to(device))
            kl_sum = kl_rows(log_q.float(), targets[idx].to(device)).sum()
            optimizer.zero_grad(set_to_none=True)
            (kl_sum / mean_rows).backward()
            if options.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
            optimizer.step()
            total_loss += float(kl_sum.detach())
            if on_batch is not None:
                on_batch(step, len(plan))
        train_loss = total_loss / len(train)
        if not math.isfinite(train_loss):
            raise RNATrackerError(f"training diverged at epoch {epoch} (loss {train_loss}); try a lower --lr")
        if val is not None and len(val):
            val_loss, val_r, _ = evaluate(model, config, val, device, bf16=options.bf16)
        else:
            val_loss, val_r = float("nan"), np.full(train.targets.shape[1], np.nan)
        record = EpochRecord(epoch, train_loss, val_loss, val_r, time.perf_counter() - started)
        result.history.append(record)
        monitored = val_loss if math.isfinite(val_loss) else train_loss
        is_best = monitored < best_loss or best_state is None
        if is_best:
            best_loss, waited, result.best_epoch = monitored, 0, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            if on_best is not None:
                on_best(model, epoch)
        else:
            waited += 1
        if on_epoch is not None:
            on_epoch(record, is_best)
        if options.patience and waited >= options.patience and math.isfinite(val_loss):
            result.stopped_early = True
            break
    if best_state is not None and val is not None and len(val):
        model.load_state_dict(best_state)
    elif val is None or not len(val):
        result.best_epoch = len(result.history)
    model.eval()
    return result
