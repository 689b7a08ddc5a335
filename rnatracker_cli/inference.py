"""Batched prediction with length bucketing under a nucleotide budget.

:class:`Predictor` wraps a model and its config: it pads transcripts the way the model was
trained (mode ``fixed`` or ``full``, see :mod:`rnatracker_cli.encoding`), groups similar
lengths so that a batch holds at most ``batch_nt`` padded nucleotides, and returns results in
input order. :meth:`Predictor.stream` does this over an iterator of records in bounded chunks
(constant memory on any FASTA size). Attention weights can be mapped back to nucleotides
(:func:`attention_track`). Files are read and written one layer up
(:mod:`rnatracker_cli.workflows.predict`, formats in :mod:`rnatracker_cli.io.writers`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnatracker_cli.encoding import (
    PaddedBatch, check_input_width, check_transcript_length, get_encoding, make_batch, plan_batches,
)
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.utils.device import bf16_supported

#: Default nucleotide budget per prediction batch (rows × padded width), by device type:
#: on CPU the activations of larger batches fall out of cache and run slower per nucleotide;
#: on a GPU larger batches keep it busy.
DEFAULT_PREDICT_NT = {"cpu": 100_000, "cuda": 1_000_000}


def default_batch_nt(device: torch.device | str) -> int:
    """Nucleotide budget per prediction batch for ``device`` (see :data:`DEFAULT_PREDICT_NT`)."""
    return DEFAULT_PREDICT_NT.get(torch.device(device).type, DEFAULT_PREDICT_NT["cpu"])
#: Records read ahead per chunk when streaming (bounded by nucleotides and by count).
STREAM_CHUNK_NT = 8_000_000
STREAM_CHUNK_RECORDS = 8192


@dataclass
class AttentionTrack:
    """Per-nucleotide attention of one transcript, as bedGraph intervals.

    starts/ends: int64 (k,) 0-based half-open transcript coordinates (sorted, disjoint);
    values: float64 (k,) weight per nucleotide (each step's weight spread evenly over the
    nucleotides of its receptive field, summed over the steps covering a nucleotide).
    Nucleotides no step covers (cut by 5' truncation, or a 3' tail shorter than a stride)
    are absent.
    """

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray


def attention_track(weights: np.ndarray, start: int, nt_length: int, size: int, stride: int) -> AttentionTrack:
    """Map step weights (steps,) of one row to nucleotide intervals.

    Step ``t`` covers input columns ``[t·stride, t·stride + size)``; column ``p`` is
    nucleotide ``p + start`` (``start`` from :class:`PaddedBatch`); intervals are clipped to
    ``[0, nt_length)``. Vectorised with difference arrays.
    """
    w = np.asarray(weights, dtype=np.float64)
    t = np.arange(len(w), dtype=np.int64)
    lo = np.clip(t * stride + start, 0, nt_length)
    hi = np.clip(t * stride + size + start, 0, nt_length)
    keep = hi > lo
    lo, hi, w = lo[keep], hi[keep], w[keep]
    density = np.zeros(nt_length + 1)
    cover = np.zeros(nt_length + 1, dtype=np.int64)
    np.add.at(density, lo, w / size)
    np.add.at(density, hi, -w / size)
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi, -1)
    density, cover = np.cumsum(density), np.cumsum(cover)
    bounds = np.unique(np.concatenate([lo, hi]))
    starts, ends = bounds[:-1], bounds[1:]
    covered = cover[starts] > 0
    return AttentionTrack(starts[covered], ends[covered], np.maximum(density[starts[covered]], 0.0))


class Predictor:
    """Run a trained model on code arrays.

    model: an rnatracker model (eval mode is set here); config: its JSON-able config
    (``truncate_5p``: transcripts longer than this lose their 5' end first, as the training
    cache's did); device: where to run; batch_nt: padded nucleotides per batch (None = the
    device's default, :func:`default_batch_nt`); batch_size: rows per batch at most; bf16:
    bfloat16 autocast (CUDA only; refused elsewhere); max_transcript_nt: longest transcript
    accepted (None = no limit, the default here: training and CV predict what their cache
    holds; the entry points for new inputs pass
    :data:`rnatracker_cli.defaults.DEFAULT_MAX_TRANSCRIPT_NT`).
    """

    def __init__(self, model: nn.Module, config: dict, device: torch.device | str = "cpu",
                 batch_nt: int | None = None, batch_size: int = 1024, bf16: bool = False,
                 max_transcript_nt: int | None = None) -> None:
        self.model = model
        self.config = config
        self.device = torch.device(device)
        self.encoding = get_encoding(config.get("encoding", "seq"))
        self.mode = config["mode"]
        self.max_len = config.get("max_len")
        self.truncate = config.get("truncate_5p")
        check_input_width(self.mode, self.max_len, model.min_length)
        if max_transcript_nt is not None and max_transcript_nt < 1:
            raise RNATrackerError("--max-transcript-nt must be positive")
        self.max_transcript_nt = max_transcript_nt
        self.batch_nt = default_batch_nt(self.device) if batch_nt is None else int(batch_nt)
        if self.batch_nt < 1:
            raise RNATrackerError("--batch-nt must be positive")
        self.batch_size = int(batch_size)
        if bf16 and not bf16_supported(self.device):
            raise RNATrackerError("--bf16 needs a CUDA device with bfloat16 support")
        self.bf16 = bf16

    @property
    def has_attention(self) -> bool:
        return bool(getattr(self.model, "has_attention", False))

    @property
    def is_ensemble(self) -> bool:
        """True for replicate ensembles (:class:`rnatracker_cli.model.ensemble.Ensemble`),
        whose predictions come with a spread across members."""
        return hasattr(self.model, "member_log_probs")

    def _autocast(self):
        if self.bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_batch(self, batch: PaddedBatch, attention: bool = False, spread: bool = False):
        """Model output for one padded batch: probabilities float32 (rows, F)
        [and ``(weights (rows, steps), step_lengths (rows,))`` as NumPy when ``attention``];
        with ``spread``, ``(probabilities, sd)``: sd float32 (rows, F) is the standard deviation
        of each fraction across an ensemble's members (0 for a single model)."""
        x = self.encoding.tensors(batch, self.device)
        lengths = torch.from_numpy(batch.lengths).to(self.device)
        nt = torch.from_numpy(batch.nt_lengths).to(self.device)
        if spread:
            with self._autocast():
                if self.is_ensemble:
                    members = torch.exp(self.model.member_log_probs(x, lengths, nt).float())
                    probs, sd = members.mean(0), members.std(0, unbiased=False)
                else:
                    probs = torch.exp(self.model(x, lengths, nt).float())
                    sd = torch.zeros_like(probs)
            return probs.cpu().numpy(), sd.cpu().numpy()
        with self._autocast():
            out = self.model(x, lengths, nt, return_attention=attention)
        if attention:
            log_q, weights, steps = out
            return torch.exp(log_q).float().cpu().numpy(), (weights.float().cpu().numpy(), steps.cpu().numpy())
        return torch.exp(out).float().cpu().numpy()

    def _always_alone(self, length: int, plan_len: int | None) -> bool:
        """True when a transcript of ``length`` nt gets a batch of its own whatever it is
        planned with (:func:`rnatracker_cli.encoding.plan_batches`): one row per batch, or
        in full mode a width that two rows would take past the nucleotide budget."""
        if self.batch_size == 1:
            return True
        width = max(min(length, plan_len) if plan_len else length, int(self.model.min_length))
        return self.mode == "full" and 2 * width > self.batch_nt

    @torch.no_grad()
    def predict(self, sequences: Sequence[np.ndarray], structures: Sequence[np.ndarray] | None = None,
                nt_lengths: Sequence[int] | None = None, attention: bool = False, spread: bool = False):
        """Probabilities float32 (n, F) in input order [and a list of :class:`AttentionTrack`].

        nt_lengths: true transcript lengths when ``sequences`` were truncated upstream (the
        length feature uses them); default the sequence lengths. spread: return
        ``(probabilities, sd)`` with sd float32 (n, F) the spread across ensemble members
        (not with ``attention``).
        """
        if attention and spread:
            raise ValueError("spread and attention cannot be asked together")
        if attention and not self.has_attention:
            raise RNATrackerError(f"a {self.config['arch']} model has no attention weights")
        if self.encoding.needs_structure and structures is None:
            raise RNATrackerError(
                f"this model reads structure ({self.encoding.name}): its inputs need folding first"
            )
        was_training = self.model.training
        self.model.eval()
        n = len(sequences)
        probs = np.zeros((n, self.config["n_fractions"]), dtype=np.float32)
        sds = np.zeros_like(probs) if spread else None
        tracks: list[AttentionTrack | None] = [None] * n
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=n)
        if n and self.max_transcript_nt is not None and lengths.max() > self.max_transcript_nt:
            i = int(lengths.argmax())
            check_transcript_length(f"transcript {i + 1} of {n}", int(lengths[i]), self.max_transcript_nt)
        size, stride = self.model.receptive_field() if attention else (1, 1)
        # Bucket by the width the model will see (after the cache's 5' truncation, if any).
        plan_len = min(v for v in (self.max_len, self.truncate) if v) if (self.max_len or self.truncate) else None
        try:
            for idx in plan_batches(lengths, self.mode, batch_size=self.batch_size, batch_nt=self.batch_nt,
                                    max_len=plan_len, min_len=self.model.min_length):
                # A one-row batch runs other CPU kernels (matrix-vector paths) whose last bits
                # differ from the batched ones; running it as two copies of the row keeps every
                # transcript's result independent of what it is batched with, so that
                # `predict --shard` outputs merge into exactly the single run's. A transcript
                # too wide to share any batch is alone in every run: no copy (it would double
                # the time and memory of the longest transcripts).
                rows = np.concatenate([idx, idx]) if len(idx) == 1 and not self._always_alone(
                    int(lengths[idx[0]]), plan_len) else idx
                batch = make_batch([sequences[i] for i in rows], self.mode, self.max_len, self.model.min_length,
                                   None if structures is None else [structures[i] for i in rows],
                                   truncate=self.truncate)
                if nt_lengths is not None:
                    batch.nt_lengths = np.asarray([nt_lengths[i] for i in rows], dtype=np.int64)
                    batch.starts = batch.starts + (batch.nt_lengths - lengths[rows])
                if attention:
                    p, (weights, steps) = self.forward_batch(batch, attention=True)
                    for row, i in enumerate(idx):
                        tracks[i] = attention_track(weights[row, : steps[row]], int(batch.starts[row]),
                                                    int(batch.nt_lengths[row]), size, stride)
                elif spread:
                    p, sd = self.forward_batch(batch, spread=True)
                    sds[idx] = sd[: len(idx)]
                else:
                    p = self.forward_batch(batch)
                probs[idx] = p[: len(idx)]
        finally:
            self.model.train(was_training)
        if spread:
            return probs, sds
        return (probs, tracks) if attention else probs

    def stream(self, records: Iterable, attention: bool = False, fold: Callable[[np.ndarray], np.ndarray] | None = None,
               chunk_nt: int = STREAM_CHUNK_NT, chunk_records: int = STREAM_CHUNK_RECORDS,
               spread: bool = False) -> Iterator[tuple]:
        """Yield ``(record, probs (F,), track or None)`` in input order for records with ``.codes``
        (with ``spread``: ``(record, probs, None, sd (F,))``, sd across ensemble members).

        Records are read in chunks of at most ``chunk_records`` records / ``chunk_nt``
        nucleotides (one record may exceed it), so memory does not grow with the input.
        fold: codes → structure element codes, for models that read structure.
        """
        chunk: list = []
        held = 0
        for record in records:
            check_transcript_length(record.id, len(record.codes), self.max_transcript_nt)
            chunk.append(record)
            held += len(record.codes)
            if len(chunk) >= chunk_records or held >= chunk_nt:
                yield from self._run_chunk(chunk, attention, fold, spread)
                chunk, held = [], 0
        if chunk:
            yield from self._run_chunk(chunk, attention, fold, spread)

    def _run_chunk(self, chunk: list, attention: bool, fold, spread: bool = False) -> Iterator[tuple]:
        structures = [fold(r.codes) for r in chunk] if fold is not None else None
        if spread:
            probs, sds = self.predict([r.codes for r in chunk], structures=structures, spread=True)
            for record, p, sd in zip(chunk, probs, sds):
                yield record, p, None, sd
            return
        out = self.predict([r.codes for r in chunk], structures=structures, attention=attention)
        probs, tracks = out if attention else (out, [None] * len(chunk))
        for record, p, track in zip(chunk, probs, tracks):
            yield record, p, track
