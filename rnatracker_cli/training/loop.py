"""The fit loop: KL(p‖q) loss (``--loss``: or clr, or their sum), NAdam, per-epoch validation (KL),
early stopping on validation loss.

Steps of :func:`fit`: prepare the model (feature statistics; the length prior of
``length_prior`` models), then per epoch: one pass over length-bucketed batches (linear
learning-rate warm-up over the first ``warmup`` epochs, gradient clipping, an exponential
moving average (EMA) of the weights updated after every step), validation of the **averaged**
weights, early stopping (not before ``min_epochs``). At the end the best averaged weights are
loaded and, for ``length_prior`` models, the sequence part's weight over the prior is shrunk
on the validation split (:func:`fit_residual_scale`).

Batches follow the model config's input mode (:func:`rnatracker_cli.encoding.plan_batches`):
shuffled chunks of ``batch_size`` in mode ``fixed``; length buckets capped at ``batch_nt``
padded nucleotides and ``batch_size`` rows in mode ``full``, re-drawn each epoch from a
seeded generator. The best epoch's weights (lowest validation loss) are restored at the end.

Loss of a batch = its summed per-transcript loss divided by the epoch's mean batch size. With
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
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from rnatracker_cli.defaults import (
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EMA, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_LR_BY_ARCH,
    DEFAULT_LOSS, DEFAULT_MIN_EPOCHS, DEFAULT_MUTATION_RATE, DEFAULT_PATIENCE, DEFAULT_WARMUP, DEFAULT_WEIGHT_DECAY, LOSSES,
)
from rnatracker_cli.encoding import get_encoding, make_batch, plan_batches
from rnatracker_cli.metrics import kl_divergence, pearson
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.training.data import TrainingSet, mutate_sequences
from rnatracker_cli.training.metrics import loss_rows, resolve_loss
from rnatracker_cli.utils.device import bf16_supported


@dataclass
class FitOptions:
    """Optimisation settings. ``lr=None`` picks :data:`DEFAULT_LR_BY_ARCH` for the
    architecture if listed there, else :data:`DEFAULT_LR` for the mode;
    ``patience=0`` disables early stopping; ``clip_norm=0`` disables gradient clipping;
    ``ema=0`` disables weight averaging (else the per-step decay of the moving average);
    ``warmup`` epochs of linear learning-rate warm-up (0 = off); early stopping never
    stops before ``min_epochs``; ``mutation_rate``: each training base is redrawn at random
    with this probability, anew every batch (:func:`mutate_sequences`; 0 = off);
    ``weight_decay``: decoupled decay of the weight matrices and kernels per step, times the
    learning rate (:func:`make_optimizer`; 0 = off); ``loss``: the
    training loss (:data:`~rnatracker_cli.defaults.LOSSES`; ``auto`` is resolved from the
    training targets by :func:`~rnatracker_cli.training.metrics.resolve_loss`; validation always
    uses KL)."""

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_nt: int = DEFAULT_BATCH_NT
    lr: float | None = None
    patience: int = DEFAULT_PATIENCE
    seed: int = 0
    clip_norm: float = DEFAULT_CLIP_NORM
    bf16: bool = False
    ema: float = DEFAULT_EMA
    warmup: int = DEFAULT_WARMUP
    min_epochs: int = DEFAULT_MIN_EPOCHS
    mutation_rate: float = DEFAULT_MUTATION_RATE
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    loss: str = DEFAULT_LOSS
    shrink: bool = True
    #: Refit only the output head (prior + dense layer) by maximum likelihood, no gradient
    #: steps: ``--fine-tune head`` (:mod:`rnatracker_cli.training.head`).
    head_only: bool = False

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
        if not 0.0 <= self.ema < 1.0:
            raise RNATrackerError("--ema must be in [0, 1) (0 = no weight averaging)")
        if self.warmup < 0 or self.min_epochs < 0:
            raise RNATrackerError("--warmup and --min-epochs must be >= 0")
        if not 0.0 <= self.mutation_rate <= 0.5:
            raise RNATrackerError("--mutation-rate must be in [0, 0.5] (0 = no mutations)")
        if not (0.0 <= self.weight_decay <= 100.0):
            raise RNATrackerError("--weight-decay must be in [0, 100] (0 = no weight decay)")
        if self.loss not in LOSSES:
            raise RNATrackerError(f"unknown --loss {self.loss!r} (expected one of {', '.join(LOSSES)})")

    def learning_rate(self, config: dict) -> float:
        """The learning rate used for ``config`` (see the class docstring)."""
        return self.lr if self.lr is not None else DEFAULT_LR_BY_ARCH.get(config.get("arch"), DEFAULT_LR[config["mode"]])


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
    #: Weight of the sequence part over the length prior after shrinkage (None without a prior).
    residual_scale: float | None = None

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


def prepare_model(model: nn.Module, config: dict, train: TrainingSet, options: FitOptions, device) -> None:
    """Statistics and priors that come from the training split, before any gradient step."""
    model.to(device)
    if getattr(model, "needs_normalization", False):
        model.fit_normalization(torch.from_numpy(train.nt_lengths),
                                _normalization_batches(model, config, train, device, options.batch_nt))
    if hasattr(model, "fit_prior"):
        model.fit_prior(torch.from_numpy(train.nt_lengths), torch.from_numpy(train.targets))
        model.to(device)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """NAdam over ``model``'s parameters. With ``weight_decay`` > 0 the weight matrices and
    convolution kernels (parameters of two or more dimensions) decay by ``lr × weight_decay``
    of themselves per step, decoupled from the gradient (AdamW-style); biases and
    normalisation scales/shifts (one dimension) are not decayed. The length prior is a buffer,
    never a parameter, so it is never decayed: the decay shrinks the network's correction of
    the prior, not the prior."""
    params = list(model.parameters())
    if weight_decay == 0:
        return torch.optim.NAdam(params, lr=lr)
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.NAdam([g for g in groups if g["params"]], lr=lr, decoupled_weight_decay=True)


class _WeightAverage:
    """Exponential moving average of a model's parameters and buffers (``decay`` per step;
    0 = none: the live weights are used). Validation and the saved weights use the average:
    single steps can swing the loss of the live weights (docs/model.md, "Weight averaging")."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()} if decay > 0 else None

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if self.shadow is None:
            return
        self.steps += 1
        # Bias-corrected start: early on the average is over the steps taken so far.
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                self.shadow[k].copy_(v)

    def state(self, model: nn.Module) -> dict:
        """The weights to evaluate and keep (CPU copies)."""
        source = self.shadow if self.shadow is not None else model.state_dict()
        return {k: v.detach().cpu().clone() for k, v in source.items()}

    @contextlib.contextmanager
    def applied(self, model: nn.Module):
        """Temporarily load the averaged weights into ``model``."""
        if self.shadow is None:
            yield
            return
        live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(live)


def _train_epoch(model: nn.Module, config: dict, train: TrainingSet, options: FitOptions, optimizer, lr: float,
                 epoch: int, rng: np.random.Generator, average: _WeightAverage, device,
                 on_batch: Callable[[int, int], None] | None) -> float:
    """One pass over the training split; returns the mean per-transcript training loss.

    Loss of a batch = its summed per-transcript loss / the epoch's mean batch size (every transcript weighs the
    same, whatever the size of its length bucket; see the module docstring).
    """
    mode, max_len = config["mode"], config.get("max_len")
    encoding = get_encoding(config["encoding"])
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if options.bf16 else contextlib.nullcontext
    model.train()
    plan = plan_batches(train.lengths, mode, batch_size=options.batch_size, batch_nt=options.batch_nt,
                        max_len=max_len, min_len=model.min_length, rng=rng)
    mean_rows = len(train) / len(plan)
    targets = torch.from_numpy(train.targets)
    total = 0.0
    for step, idx in enumerate(plan, 1):
        if options.warmup and epoch <= options.warmup:
            done = (epoch - 1) * len(plan) + step
            for group in optimizer.param_groups:
                group["lr"] = lr * done / (options.warmup * len(plan))
        sequences = mutate_sequences([train.sequences[i] for i in idx], options.mutation_rate, rng)
        batch = make_batch(sequences, mode, max_len, model.min_length,
                           None if train.structures is None else [train.structures[i] for i in idx])
        batch.nt_lengths = train.nt_lengths[idx]
        x = encoding.tensors(batch, device)
        with autocast():
            log_q = model(x, torch.from_numpy(batch.lengths).to(device), torch.from_numpy(batch.nt_lengths).to(device))
        loss_sum = loss_rows(options.loss, log_q.float(), targets[idx].to(device)).sum()
        optimizer.zero_grad(set_to_none=True)
        (loss_sum / mean_rows).backward()
        if options.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
        optimizer.step()
        average.update(model)
        total += float(loss_sum.detach())
        if on_batch is not None:
            on_batch(step, len(plan))
    loss = total / len(train)
    if not math.isfinite(loss):
        raise RNATrackerError(f"training diverged at epoch {epoch} (loss {loss}); try a lower --lr")
    return loss


def fit_residual_scale(model: nn.Module, config: dict, val: TrainingSet, device, bf16: bool = False,
                       grid: int = 21) -> float:
    """Shrink a ``length_prior`` model's sequence part on held-out data; returns the scale.

    With ``s`` the weight of the sequence part, logits(s) = log p₀ + s·(log p₁ − log p₀) up to
    a per-row constant (p₀: the prior alone, s = 0; p₁: prior + sequence, s = 1). ``s`` is the
    value of an even grid on [0, 1] with the lowest mean KL on ``val`` (ties: the smaller s),
    i.e. a one-parameter stack fitted on data the network did not train on.
    """
    model.set_residual_scale(0.0)
    _, _, p0 = evaluate(model, config, val, device, bf16=bf16)
    model.set_residual_scale(1.0)
    _, _, p1 = evaluate(model, config, val, device, bf16=bf16)
    lp0, lp1 = np.log(np.clip(p0, 1e-12, None)), np.log(np.clip(p1, 1e-12, None))
    best_s, best_loss = 1.0, math.inf
    for s in np.linspace(0.0, 1.0, grid):
        logits = lp0 + s * (lp1 - lp0)
        q = np.exp(logits - logits.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        loss = float(kl_divergence(val.targets, q).mean())
        if loss < best_loss - 1e-9:
            best_s, best_loss = float(s), loss
    model.set_residual_scale(best_s)
    return best_s


def fit(model: nn.Module, config: dict, train: TrainingSet, val: TrainingSet | None, options: FitOptions,
        device: torch.device, on_epoch: Callable[[EpochRecord, bool], None] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        on_best: Callable[[nn.Module, int], None] | None = None) -> FitResult:
    """Train ``model`` in place (seeded by ``options.seed``); returns the history.

    on_epoch(record, is_best) after each epoch; on_batch(done, total) after each step;
    on_best(model, epoch) when an epoch is the best so far, before on_epoch, with the (averaged)
    weights loaded (e.g. to save them as training goes, so that a crash keeps them).
    The (averaged) weights of the best epoch (lowest validation loss; the last epoch without a
    validation split) are loaded back into ``model`` before returning.
    """
    options.check()
    if len(train) == 0:
        raise RNATrackerError("no training transcripts")
    if options.loss == "auto":
        options = replace(options, loss=resolve_loss(options.loss, train.targets, "the training set"))
    if hasattr(model, "fit_direct"):  # models fitted in one call (kmer-gbm): no epochs
        return _fit_direct(model, config, train, val, options, device, on_epoch)
    if options.head_only:  # --fine-tune head: the trunk stays as it is
        from rnatracker_cli.training.head import fit_head

        result = fit_head(model, config, train, val, options, device)
        if on_best is not None:
            on_best(model, 1)
        if on_epoch is not None:
            on_epoch(result.history[0], True)
        return result
    if options.bf16 and not bf16_supported(device):
        raise RNATrackerError("--bf16 needs a CUDA device with bfloat16 support")
    has_val = val is not None and len(val) > 0
    lr = options.learning_rate(config)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    prepare_model(model, config, train, options, device)
    optimizer = make_optimizer(model, lr, options.weight_decay)
    average = _WeightAverage(model, options.ema)
    result = FitResult(lr=lr)
    best_loss, best_state, waited = math.inf, None, 0
    for epoch in range(1, options.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(model, config, train, options, optimizer, lr, epoch, rng, average, device, on_batch)
        with average.applied(model):
            if has_val:
                val_loss, val_r, _ = evaluate(model, config, val, device, bf16=options.bf16)
            else:
                val_loss, val_r = float("nan"), np.full(train.targets.shape[1], np.nan)
            record = EpochRecord(epoch, train_loss, val_loss, val_r, time.perf_counter() - started)
            result.history.append(record)
            monitored = val_loss if math.isfinite(val_loss) else train_loss
            is_best = monitored < best_loss or best_state is None
            if is_best:
                best_loss, waited, result.best_epoch = monitored, 0, epoch
                best_state = average.state(model)
                if on_best is not None:
                    on_best(model, epoch)
            elif epoch > options.min_epochs:
                waited += 1
            if on_epoch is not None:
                on_epoch(record, is_best)
        if options.patience and waited >= options.patience and has_val:
            result.stopped_early = True
            break
    if has_val:
        model.load_state_dict(best_state)
    else:
        model.load_state_dict(average.state(model))
        result.best_epoch = len(result.history)
    model.eval()
    if getattr(model, "residual_scale", None) is not None and has_val and options.shrink:
        result.residual_scale = fit_residual_scale(model, config, val, device, bf16=options.bf16)
    return result


def _fit_direct(model: nn.Module, config: dict, train: TrainingSet, val: TrainingSet | None, options: FitOptions,
                device: torch.device, on_epoch: Callable[[EpochRecord, bool], None] | None) -> FitResult:
    """Fit a model that has ``fit_direct`` (no gradient steps; epochs/lr/batches do not apply):
    one EpochRecord with the training and validation KL, best_epoch 1."""
    started = time.perf_counter()
    model.to(device)
    model.fit_direct(train, val, options.seed, config=config, device=device)
    train_loss = evaluate(model, config, train, device)[0]
    if val is not None and len(val):
        val_loss, val_r, _ = evaluate(model, config, val, device)
    else:
        val_loss, val_r = float("nan"), np.full(train.targets.shape[1], np.nan)
    record = EpochRecord(1, train_loss, val_loss, val_r, time.perf_counter() - started)
    if on_epoch is not None:
        on_epoch(record, True)
    model.eval()
    return FitResult(history=[record], best_epoch=1, lr=float(config.get("learning_rate", 0.0)))
