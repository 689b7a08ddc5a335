"""Input encodings: nucleotide (and structure) codes → padded batches → one-hot channels.

Two steps, so that little data crosses to the GPU:

1. :func:`make_batch` (NumPy, on the host) pads a list of uint8 code arrays into a
   ``(batch, length)`` matrix and records, per row, the valid length and where the
   transcript's nucleotide 0 sits.
2. :meth:`Encoding.one_hot` (torch, on the model's device) turns that matrix into float32
   channels ``(batch, channels, length)`` with one table lookup.

Input modes (see docs/model.md):

* ``fixed`` (the paper's batch mode): every row is ``max_len`` (4,000) columns; longer
  transcripts lose their 5' end, shorter ones get all-zero columns at the 5' end. The zero
  columns are part of the input (no mask), as in the paper, so ``lengths == max_len``.
* ``full`` (default): every nucleotide; rows are padded at the 3' end to the longest row of
  the batch and ``lengths`` holds each row's valid length, which the network propagates
  through conv/pool, packs into the LSTM and masks in the attention. A transcript shorter
  than the network's minimum length is zero-padded (3') up to it and that padding counts as
  input, so its prediction is still independent of the batch it sits in.

Encodings (registry :data:`ENCODINGS`, chosen by name in the model config):

* ``seq``: 4 channels A C G T; N and padding are all-zero columns.
* ``seqxstruct``: 24 channels, joint one-hot of base × structure element
  (channel ``4·0 + …`` = ``base * 6 + element``, elements F T I H M S = 0..5); N → all-zero.
* ``seq+struct``: 4 base channels then 6 element channels, fed to separate conv branches
  that are concatenated before the LSTM; N zeroes the base channels only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnatracker_cli.alphabet import N
from rnatracker_cli.defaults import check_transcript_length  # noqa: F401 - part of this module's API
from rnatracker_cli.errors import RNATrackerError

MODES = ("fixed", "full")
#: Structure element codes as stored by `fold` (``Cache.structures``).
STRUCTURE_ALPHABET = "FTIHMS"
N_ELEMENTS = len(STRUCTURE_ALPHABET)
#: Fill value of the padded structure matrix (any code works for `seqxstruct`, where the
#: base N already zeroes the column; `seq+struct` maps it to an all-zero column).
STRUCTURE_PAD = N_ELEMENTS


@dataclass
class PaddedBatch:
    """Host-side padded batch.

    codes: uint8 (batch, length), A C G T N = 0..4, padding = N (4).
    structure: uint8 (batch, length), elements 0..5, padding = 6; None for `seq`.
    lengths: int64 (batch,) columns the network treats as input (mode ``fixed``: all
        ``length``; mode ``full``: max(transcript length, min_length)).
    nt_lengths: int64 (batch,) true transcript lengths (for the length feature).
    starts: int64 (batch,) transcript coordinate of column 0 (column p is nucleotide
        ``p + starts[i]``; negative when the row starts with 5' padding).
    """

    codes: np.ndarray
    structure: np.ndarray | None
    lengths: np.ndarray
    nt_lengths: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def width(self) -> int:
        return int(self.codes.shape[1])


def _pad(arrays: Sequence[np.ndarray], width: int, fill: int, left: bool, limit: int = N, what: str = "nucleotide") -> np.ndarray:
    """Pad/truncate uint8 arrays into (len(arrays), width).

    ``left`` (5' mode): keep the last ``width`` values and right-align them; otherwise keep
    the first ``width`` values and left-align them. Vectorised over nucleotides. Values
    outside ``0..limit`` raise :class:`RNATrackerError` (a code past the encoding table would
    index out of range, a device-side assert on CUDA).
    """
    lens = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    keep = np.minimum(lens, width)
    out = np.full((len(arrays), width), fill, dtype=np.uint8)
    if keep.sum() == 0:
        return out
    flat = np.concatenate([np.asarray(a)[len(a) - k :] if left else np.asarray(a)[:k] for a, k in zip(arrays, keep)])
    _check_codes(flat, limit, what)
    rows = np.repeat(np.arange(len(arrays)), keep)
    first = np.repeat(np.cumsum(keep) - keep, keep)
    cols = np.arange(len(flat)) - first
    if left:
        cols += np.repeat(width - keep, keep)
    out[rows, cols] = flat
    return out


def _check_codes(values: np.ndarray, limit: int, what: str) -> None:
    """Refuse codes outside ``0..limit`` (one vectorised pass)."""
    if values.dtype.kind not in "iub":
        raise RNATrackerError(f"{what} codes must be integers (got {values.dtype}); encode strings with "
                              "rnatracker_cli.alphabet.encode or pass them to rnatracker_cli.predict_sequences")
    if values.size and (int(values.min()) < 0 or int(values.max()) > limit):
        bad = values[(values < 0) | (values > limit)][0]
        raise RNATrackerError(f"invalid {what} code {int(bad)} (expected 0..{limit}; "
                              + ("A C G T N = 0..4)" if what == "nucleotide" else "F T I H M S = 0..5)"))


def clip_5p(arrays: Sequence[np.ndarray], truncate: int | None) -> list[np.ndarray]:
    """Keep the last ``truncate`` values of each array (``prepare --max-length``'s 5'
    truncation); None or 0 keeps everything."""
    if not truncate:
        return list(arrays)
    return [a[len(a) - truncate :] if len(a) > truncate else a for a in arrays]


def check_input_width(mode: str, max_len: int | None, min_len: int) -> None:
    """Refuse a mode-``fixed`` input width below the network's minimum input (``min_len``
    columns give one valid step): such a network cannot compute anything. Mode ``full`` pads
    short rows up to ``min_len``, so any ``max_len`` works there."""
    if mode == "fixed" and max_len is not None and int(max_len) < min_len:
        raise RNATrackerError(f"--max-len {int(max_len)} is shorter than the network's minimum input in mode fixed "
                              f"({min_len} nt): use --max-len {min_len} or more")


def make_batch(
    sequences: Sequence[np.ndarray],
    mode: str,
    max_len: int | None,
    min_len: int = 1,
    structures: Sequence[np.ndarray] | None = None,
    truncate: int | None = None,
) -> PaddedBatch:
    """Pad code arrays for one forward pass.

    mode ``fixed``: rows of exactly ``max_len`` columns, 5' truncation, 5' zero padding.
    mode ``full``: rows as long as the longest transcript (at least ``min_len``), 3' padding;
    with ``max_len`` set, longer transcripts are truncated at the 5' end first.
    structures: uint8 element arrays aligned with ``sequences`` (for structure encodings).
    truncate: transcripts longer than this lose their 5' end before anything else, as the
    training cache did (a model config's ``truncate_5p``); ``nt_lengths`` stay the true
    lengths, as in training.
    Codes outside A C G T N = 0..4 (or structure elements outside 0..5) raise
    :class:`RNATrackerError`.
    """
    if mode not in MODES:
        raise RNATrackerError(f"unknown input mode {mode!r} (expected one of {', '.join(MODES)})")
    if not len(sequences):
        raise ValueError("empty batch")
    nt_lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    sequences = clip_5p(sequences, truncate)
    if structures is not None:
        structures = clip_5p(structures, truncate)
    if mode == "fixed":
        if not max_len:
            raise RNATrackerError("mode fixed needs a maximum length")
        width = int(max_len)
        check_input_width(mode, width, min_len)
        codes = _pad(sequences, width, N, left=True)
        struct = None if structures is None else _pad(structures, width, STRUCTURE_PAD, left=True,
                                                      limit=STRUCTURE_PAD, what="structure")
        lengths = np.full(len(sequences), width, dtype=np.int64)
        starts = nt_lengths - width
    else:
        present = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        kept = present if not max_len else np.minimum(present, max_len)
        starts = nt_lengths - kept  # 5' truncation when max_len (or truncate) cuts
        if max_len:
            sequences = [s[len(s) - k :] for s, k in zip(sequences, kept)]
            if structures is not None:
                structures = [s[len(s) - k :] for s, k in zip(structures, kept)]
        lengths = np.maximum(kept, min_len).astype(np.int64)
        width = int(lengths.max())
        codes = _pad(sequences, width, N, left=False)
        struct = None if structures is None else _pad(structures, width, STRUCTURE_PAD, left=False,
                                                      limit=STRUCTURE_PAD, what="structure")
    return PaddedBatch(codes, struct, lengths, nt_lengths, starts.astype(np.int64))


@dataclass(frozen=True)
class Encoding:
    """A named input encoding.

    branches: channels per convolution branch (one branch = one conv stack; several are
    concatenated before the LSTM). ``table`` maps a combined code (see :meth:`_index`) to
    the channel vector, float32 (n_codes, channels).
    """

    name: str
    branches: tuple[int, ...]
    needs_structure: bool
    table: np.ndarray

    @property
    def channels(self) -> int:
        return int(sum(self.branches))

    def _index(self, codes: torch.Tensor, structure: torch.Tensor | None) -> torch.Tensor:
        c = codes.long()
        if self.name == "seq":
            return c
        if structure is None:
            raise RNATrackerError(f"encoding {self.name} needs structure codes (run `rnatracker fold`)")
        s = structure.long()
        if self.name == "seqxstruct":
            # base * 6 + element for A C G T; N (and padding) → the all-zero row 24.
            return torch.where(c < 4, c * N_ELEMENTS + s.clamp(max=N_ELEMENTS - 1), 4 * N_ELEMENTS)
        # seq+struct: index = base * 7 + element, element 6 = padding.
        return c * (N_ELEMENTS + 1) + s.clamp(max=N_ELEMENTS)

    def one_hot(self, codes: torch.Tensor, structure: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (batch, length) codes [+ structure] → float32 (batch, channels, length)."""
        table = torch.as_tensor(self.table, device=codes.device)
        return table[self._index(codes, structure)].transpose(1, 2).contiguous()

    def tensors(self, batch: PaddedBatch, device: torch.device | str) -> torch.Tensor:
        """Encode a :class:`PaddedBatch` on ``device`` (float32 (batch, channels, length))."""
        codes = torch.from_numpy(batch.codes).to(device, non_blocking=True)
        struct = None
        if self.needs_structure:
            if batch.structure is None:
                raise RNATrackerError(f"encoding {self.name} needs structure codes (run `rnatracker fold`)")
            struct = torch.from_numpy(batch.structure).to(device, non_blocking=True)
        return self.one_hot(codes, struct)


def _seq_table() -> np.ndarray:
    return np.eye(5, 4, dtype=np.float32)  # row N = all zero


def _joint_table() -> np.ndarray:
    return np.eye(4 * N_ELEMENTS + 1, 4 * N_ELEMENTS, dtype=np.float32)


def _split_table() -> np.ndarray:
    # index = base * 7 + element (base 0..4, element 0..6); columns 0-3 base, 4-9 element.
    table = np.zeros((5 * (N_ELEMENTS + 1), 4 + N_ELEMENTS), dtype=np.float32)
    for base in range(5):
        for element in range(N_ELEMENTS + 1):
            row = base * (N_ELEMENTS + 1) + element
            if base < 4:
                table[row, base] = 1.0
            if element < N_ELEMENTS:
                table[row, 4 + element] = 1.0
    return table


ENCODINGS: dict[str, Encoding] = {
    "seq": Encoding("seq", (4,), False, _seq_table()),
    "seqxstruct": Encoding("seqxstruct", (4 * N_ELEMENTS,), True, _joint_table()),
    "seq+struct": Encoding("seq+struct", (4, N_ELEMENTS), True, _split_table()),
}


def get_encoding(name: str) -> Encoding:
    """Look up an encoding by name; unknown names raise :class:`RNATrackerError`."""
    try:
        return ENCODINGS[name]
    except KeyError:
        raise RNATrackerError(f"unknown input encoding {name!r} (expected one of {', '.join(ENCODINGS)})") from None


def plan_batches(
    lengths: np.ndarray,
    mode: str,
    *,
    batch_size: int,
    batch_nt: int,
    max_len: int | None = None,
    min_len: int = 1,
    rng: np.random.Generator | None = None,
    jitter: float = 0.1,
) -> list[np.ndarray]:
    """Group positions ``0..len(lengths)-1`` into batches.

    mode ``fixed``: consecutive chunks of ``batch_size`` (shuffled first when ``rng``).
    mode ``full``: length bucketing. Transcripts are sorted by length (with ``rng``: by log
    length plus uniform noise of ±``jitter``, so batch composition changes between epochs)
    and cut greedily so that rows × padded width ≤ ``batch_nt`` and rows ≤ ``batch_size``;
    a transcript longer than ``batch_nt`` gets a batch of its own. With ``rng`` the order of
    the batches is shuffled. Returns a list of int64 position arrays.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if batch_size < 1 or batch_nt < 1:
        raise RNATrackerError("batch size and nucleotide budget must be positive")
    if mode == "fixed":
        order = rng.permutation(n) if rng is not None else np.arange(n)
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    width = np.maximum(lengths if not max_len else np.minimum(lengths, max_len), min_len)
    if rng is not None:
        key = np.log(width) + rng.uniform(-jitter, jitter, size=n)
        order = np.argsort(key, kind="stable")
    else:
        order = np.argsort(width, kind="stable")
    batches: list[np.ndarray] = []
    start, widest = 0, 0
    # A loop over transcripts (not nucleotides): at most one comparison per transcript.
    for pos in range(n):
        w = int(width[order[pos]])
        rows = pos - start
        new_widest = max(widest, w)
        if rows and (rows + 1 > batch_size or (rows + 1) * new_widest > batch_nt):
            batches.append(order[start:pos])
            start, new_widest = pos, w
        widest = new_widest
    if n:
        batches.append(order[start:])
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
