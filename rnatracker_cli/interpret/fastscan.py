"""The fast, exact scan path for the CNN models (``rnatracker``, ``nolstm``, ``noattention``).

Masking a window of ``w`` input columns changes only the conv/pool steps whose receptive
field touches it. With valid convolutions and pooling stride = pool size, conv-stack step
``t`` reads exactly input columns ``[t·S, t·S + R)`` (``(R, S) = ConvStack.receptive_field()``,
45 and 9 for the defaults), so a window at column ``c`` can change only steps

    ceil((c − R + 1) / S) ≤ t ≤ floor((c + w − 1) / S)

(at most ``n = floor((w + R − 2) / S) + 1`` steps, 17 for w = 100). Everything else is
reused from the original transcript:

1. **Convolutions.** The conv stacks are run once on the original (``h0``, (T, features)).
   For each masked copy only ``n`` steps are recomputed: the input slice
   ``[q·S, q·S + (n − 1)·S + R)`` (``q`` = first recomputed step), masked, through the same
   conv stacks gives exactly steps ``q … q + n − 1`` (the slice starts on the pooling grid),
   which are spliced into a copy of ``h0``. Recomputing a few unaffected steps (at the
   transcript's ends, where ``q`` is clamped so the stretch stays inside) is harmless.
2. **BiLSTM.** The forward LSTM's states before the first changed step and the backward
   LSTM's states after the last changed step equal the original's. Per batch of windows the
   forward LSTM runs only from the batch's first changed step ``q_min`` to the end, started
   from the original's state at ``q_min``; the backward LSTM only from the batch's last
   changed step ``q_max`` down to step 0, started from the original's backward state there.
   Outputs outside those ranges are the original's. The original's states at the batch
   boundaries are computed once, in one pass over the original per direction. Both runs
   go over time segments (:data:`SEGMENT_ROW_STEPS`), the state carried from one segment to
   the next, so memory holds the (rows, T, 2·units) outputs but the LSTM's inputs and gate
   buffers for one segment only (bit-identical results, tested).
3. **Pooling and dense layer** run as in the model on the assembled (rows, T, 2·units)
   outputs (attention, or the mean for ``noattention``).

Each step is the same arithmetic as the full forward pass on the same values, so results
agree with full recomputation up to float32 rounding (tested: < 1e-5 in KL). Work per window
drops from ``2·T`` LSTM steps + the whole conv stack to about ``T + n`` LSTM steps + ``n``
conv steps. The model must be in eval mode (dropout off).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnatracker_cli.encoding import Encoding
from rnatracker_cli.interpret.perturb import PreparedInput, apply_mask
from rnatracker_cli.model.layers import ConvStack, MaskedAttention, MaskedBiLSTM
from rnatracker_cli.model.rnatracker import RNATrackerNet

#: Rows × steps per LSTM time segment in the BiLSTM recomputation (:meth:`FastScanner._bilstm`):
#: with 32 features and units, ~34 MB of LSTM inputs and ~134 MB of gate pre-activations at a
#: time, whatever the transcript's length (4,096 steps at the CPU default of 64 rows). Running
#: the whole transcript at once took 2.0 GB peak RSS on a 1-Mb transcript, segments 1.2 GB.
SEGMENT_ROW_STEPS = 262_144


def supports_fast_path(model: nn.Module) -> bool:
    """True for RNATracker networks built from the standard layers (else use the naive path)."""
    if not isinstance(model, RNATrackerNet):
        return False
    if not all(isinstance(c, ConvStack) for c in model.convs):
        return False
    if len({c.receptive_field() for c in model.convs}) != 1:
        return False
    if model.lstm is not None and not isinstance(model.lstm, MaskedBiLSTM):
        return False
    return model.attention is None or isinstance(model.attention, MaskedAttention)


def _prefix_states(lstm: nn.LSTM, seq: torch.Tensor, points: list[int]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """States ``(h, c)`` (each (1, 1, units)) of ``lstm`` after reading ``seq[:, :p]`` for each p.

    seq: float32 (1, T, features). One pass over the sequence, segment by segment.
    """
    units = lstm.hidden_size
    zero = seq.new_zeros(1, 1, units)
    state = (zero, zero)
    pos, out = 0, {}
    for p in sorted(set(points)):
        if p > pos:
            _, state = lstm(seq[:, pos:p], state)
            pos = p
        out[p] = state
    return out


class FastScanner:
    """Masked-copy log-probabilities of one transcript, reusing the unmasked computation.

    model: an :class:`RNATrackerNet` in eval mode (see :func:`supports_fast_path`);
    encoding: its input encoding; prep: the transcript's padded input row; window: masked
    columns per copy. Call :meth:`plan` with the start columns of every batch before
    :meth:`logprobs`.
    """

    @torch.no_grad()
    def __init__(self, model: RNATrackerNet, encoding: Encoding, prep: PreparedInput, window: int) -> None:
        self.model, self.encoding, self.prep, self.window = model, encoding, prep, int(window)
        self.size, self.stride = model.convs[0].receptive_field()
        x0 = self._encode(prep.codes[None, : prep.valid],
                          None if prep.structure is None else prep.structure[None, : prep.valid])
        self.h0 = self._features(x0)[0]  # (T, features)
        self.steps = int(self.h0.shape[0])
        expected = int(model.convs[0].output_lengths(torch.tensor([prep.valid]))[0])
        if self.steps != expected:
            raise RuntimeError(f"conv stack gave {self.steps} steps, expected {expected}")
        # Steps one window can change, and the input slice that recomputes them.
        self.n = min(self.steps, (self.window + self.size - 2) // self.stride + 1)
        self.slice_len = (self.n - 1) * self.stride + self.size
        self.device = self.h0.device
        self._offsets = torch.arange(self.slice_len, device=self.device)
        self._spots = torch.arange(self.n, device=self.device)
        self.lstm = model.lstm
        if self.lstm is not None:
            seq = self.h0[None]
            self.f0 = self.lstm.forward_lstm(seq)[0][0]  # (T, units)
            self.b0 = self.lstm.backward_lstm(seq.flip(1))[0][0].flip(0)
            self._fstates: dict = {}
            self._bstates: dict = {}

    def _encode(self, codes: torch.Tensor, structure: torch.Tensor | None) -> torch.Tensor:
        return self.encoding.one_hot(codes, structure if self.encoding.needs_structure else None)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """float32 (rows, channels, cols) → conv-stack outputs (rows, steps, features)."""
        branches = self.model.branches
        parts = torch.split(x, list(branches), dim=1) if len(branches) > 1 else (x,)
        return torch.cat([conv(part) for conv, part in zip(self.model.convs, parts)], dim=1).transpose(1, 2)

    def first_steps(self, columns: torch.Tensor) -> torch.Tensor:
        """int64 (rows,): first recomputed step for windows starting at ``columns``."""
        q = torch.div(columns - self.size + self.stride, self.stride, rounding_mode="floor")
        return q.clamp(0, self.steps - self.n)

    @torch.no_grad()
    def plan(self, batches: list[np.ndarray]) -> None:
        """Precompute the original LSTM states needed by batches of window start columns."""
        if self.lstm is None:
            return
        forward, backward = [], []
        for cols in batches:
            q = self.first_steps(torch.as_tensor(np.asarray(cols), device=self.device))
            forward.append(int(q.min()))
            backward.append(self.steps - 1 - (int(q.max()) + self.n - 1))
        seq = self.h0[None]
        self._fstates = _prefix_states(self.lstm.forward_lstm, seq, forward)
        self._bstates = _prefix_states(self.lstm.backward_lstm, seq.flip(1), backward)

    @torch.no_grad()
    def logprobs(self, columns: torch.Tensor, bases: torch.Tensor | None = None) -> torch.Tensor:
        """float32 (rows, F) log-probabilities of masked copies.

        columns: int64 (rows,) window start columns (as planned); bases: uint8 (rows, window)
        random bases or None (zero mask).
        """
        rows = len(columns)
        q = self.first_steps(columns)
        starts = q * self.stride
        idx = starts[:, None] + self._offsets[None, :]
        codes = self.prep.codes[idx]
        struct = None if self.prep.structure is None else self.prep.structure[idx]
        codes, struct = apply_mask(codes, struct, columns - starts, self.window, bases)
        new = self._features(self._encode(codes, struct))  # (rows, n, features): steps q … q + n − 1
        if self.lstm is not None:
            h = self._bilstm(new, q)
        else:
            h = self.h0[None].repeat(rows, 1, 1)
            h.scatter_(1, self._spots_of(q, h.shape[2]), new)
        lengths = torch.full((rows,), self.steps, dtype=torch.int64, device=self.device)
        nt = torch.full((rows,), self.prep.nt_length, dtype=torch.int64, device=self.device)
        return self.model.head(h, lengths, nt)[0]

    def _spots_of(self, first: torch.Tensor, features: int) -> torch.Tensor:
        """Scatter index (rows, n, features) of steps ``first … first + n − 1``."""
        return (first[:, None] + self._spots[None, :])[:, :, None].expand(-1, -1, features)

    def _bilstm(self, new: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """BiLSTM outputs (rows, T, 2·units) when steps ``q … q + n − 1`` of ``h0`` become ``new``.

        The forward LSTM reads steps q_min … T − 1 from the original's state at q_min; the
        backward LSTM reads steps q_max … 0 (in that order) from the original's backward state
        at q_max; the rest of each output is the original's. Each direction runs over time
        segments of :attr:`segment_steps` steps, carrying its state from one segment to the
        next and writing straight into the output: the same steps in the same order (the
        results do not depend on the segment length, tested), but the LSTM's inputs and
        its per-step gate buffers exist for one segment at a time instead of the whole
        transcript, which more than halves the scan's peak memory on long transcripts.
        """
        rows, steps, features = new.shape[0], self.steps, new.shape[2]
        q_min, q_max = int(q.min()), int(q.max()) + self.n - 1
        lstm, units = self.lstm, self.f0.shape[1]
        out = torch.empty(rows, steps, 2 * units, dtype=new.dtype, device=new.device)
        out[:, :q_min, :units] = self.f0[None, :q_min]
        out[:, q_max + 1 :, units:] = self.b0[None, q_max + 1 :]
        seg = self.segment_steps(rows)
        # Row and step of every recomputed conv step (each row's steps q … q + n − 1).
        row_of = torch.arange(rows, device=new.device)[:, None].expand(-1, self.n)
        step_of = q[:, None] + self._spots[None, :]
        # Forward direction: input steps q_min … T − 1 in segments [a, b).
        hf, cf = self._fstates[q_min]
        state = (hf.expand(-1, rows, -1).contiguous(), cf.expand(-1, rows, -1).contiguous())
        for a in range(q_min, steps, seg):
            b = min(a + seg, steps)
            x = self.h0[None, a:b].repeat(rows, 1, 1)
            inside = (step_of >= a) & (step_of < b)
            x[row_of[inside], step_of[inside] - a] = new[inside]
            y, state = lstm.forward_lstm(x, state)
            out[:, a:b, :units] = y
        # Backward direction: input steps q_max … 0, i.e. reversed positions r = q_max − step
        # in segments [a, b) of r (steps q_max − a down to q_max − b + 1).
        hb, cb = self._bstates[steps - 1 - q_max]
        state = (hb.expand(-1, rows, -1).contiguous(), cb.expand(-1, rows, -1).contiguous())
        rev_of = q_max - step_of
        for a in range(0, q_max + 1, seg):
            b = min(a + seg, q_max + 1)
            x = self.h0[None, q_max - b + 1 : q_max - a + 1].flip(1).repeat(rows, 1, 1)
            inside = (rev_of >= a) & (rev_of < b)
            x[row_of[inside], rev_of[inside] - a] = new[inside]
            y, state = lstm.backward_lstm(x, state)
            out[:, q_max - b + 1 : q_max - a + 1, units:] = y.flip(1)
        return out

    def segment_steps(self, rows: int) -> int:
        """LSTM steps per time segment for a batch of ``rows`` copies
        (:data:`SEGMENT_ROW_STEPS` rows × steps, at least 1 step)."""
        return max(1, SEGMENT_ROW_STEPS // max(rows, 1))
