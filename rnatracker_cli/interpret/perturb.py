"""Masked copies of one transcript: the masks, and the naive (full recomputation) path.

A transcript is held as its padded model input row (:class:`PreparedInput`, the same row
:func:`rnatracker_cli.encoding.make_batch` builds for prediction). Masking works on codes,
before the one-hot encoding, so every encoding is handled the same way:

* ``zero``: the window's columns become N (and structure padding), i.e. all-zero one-hot
  columns, exactly like the padding of the input (paper §2.10);
* ``random``: the window's bases are replaced by uniform random bases A/C/G/T (structure
  codes, for structure models, are kept), ``repeats`` times per window.

Random bases are drawn per window from ``numpy.random.default_rng([seed, key, start])``
(``key`` derived from the transcript id, ``start`` the window's transcript coordinate), so a
window's draws do not depend on batch sizes, other windows, or other transcripts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnatracker_cli.alphabet import N
from rnatracker_cli.encoding import STRUCTURE_PAD, Encoding, make_batch
from rnatracker_cli.errors import RNATrackerError

MASKS = ("zero", "random")


@dataclass(frozen=True)
class MaskSpec:
    """How a window is masked: ``kind`` zero|random, ``repeats`` (random only), ``seed``."""

    kind: str = "zero"
    repeats: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MASKS:
            raise RNATrackerError(f"--mask {self.kind}: expected one of {', '.join(MASKS)}")
        if self.repeats < 1:
            raise RNATrackerError("--repeats must be at least 1")

    @property
    def copies(self) -> int:
        """Masked copies per window (1 for ``zero``)."""
        return 1 if self.kind == "zero" else self.repeats


def transcript_key(record_id: str) -> int:
    """A stable 32-bit key for a transcript id (CRC-32), used to seed its random masks."""
    return zlib.crc32(record_id.encode("utf-8"))


def random_bases(spec: MaskSpec, key: int, starts: np.ndarray, window: int) -> np.ndarray:
    """uint8 (len(starts) · repeats, window) random bases, rows ordered window-major.

    Loops over windows (not nucleotides): one generator per window makes its draws
    independent of batching.
    """
    out = np.empty((len(starts), spec.repeats, window), dtype=np.uint8)
    for i, start in enumerate(np.asarray(starts).tolist()):
        rng = np.random.default_rng([spec.seed, key, start])
        out[i] = rng.integers(0, 4, size=(spec.repeats, window), dtype=np.uint8)
    return out.reshape(len(starts) * spec.repeats, window)


@dataclass
class PreparedInput:
    """One transcript as the model sees it, on the model's device.

    codes: uint8 tensor (width,) padded row (A C G T N = 0..4); structure: uint8 tensor
    (width,) or None; valid: columns the network reads (``lengths`` of the batch);
    nt_length: transcript length; start: transcript coordinate of column 0 (negative with
    5' padding, positive when the 5' end was truncated); clipped: 5' nucleotides removed
    before padding (the config's ``truncate_5p``, as in the training cache).
    """

    codes: torch.Tensor
    structure: torch.Tensor | None
    valid: int
    nt_length: int
    start: int
    clipped: int = 0

    @property
    def width(self) -> int:
        return int(self.codes.shape[0])

    @property
    def scanned(self) -> tuple[int, int]:
        """Transcript coordinates ``[lo, hi)`` present in the input (the rest is not scanned)."""
        return max(0, self.start, self.clipped), min(self.nt_length, self.start + self.valid)


def prepare_input(codes: np.ndarray, config: dict, min_length: int, device: torch.device | str,
                  structure: np.ndarray | None = None) -> PreparedInput:
    """Pad one transcript's codes (uint8 (length,)) as the model's config says (mode, max_len,
    truncate_5p)."""
    truncate = config.get("truncate_5p")
    batch = make_batch([codes], config["mode"], config.get("max_len"), min_length,
                       None if structure is None else [structure], truncate=truncate)
    dev = torch.device(device)
    struct = None if batch.structure is None else torch.from_numpy(batch.structure[0]).to(dev)
    clipped = max(0, len(codes) - truncate) if truncate else 0
    return PreparedInput(torch.from_numpy(batch.codes[0]).to(dev), struct, int(batch.lengths[0]),
                         int(batch.nt_lengths[0]), int(batch.starts[0]), clipped)


def apply_mask(codes: torch.Tensor, structure: torch.Tensor | None, offsets: torch.Tensor, window: int,
               bases: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mask one window per row.

    codes/structure: uint8 (rows, cols) (copied, not modified); offsets: int64 (rows,)
    column of each row's window start (the window may reach outside the row: only the part
    inside is masked); bases: uint8 (rows, window) random bases, or None for zero masking.
    Returns the masked ``(codes, structure)``.
    """
    cols = torch.arange(codes.shape[1], device=codes.device)[None, :] - offsets[:, None]
    inside = (cols >= 0) & (cols < window)
    if bases is None:
        out = codes.masked_fill(inside, N)
        struct = None if structure is None else structure.masked_fill(inside, STRUCTURE_PAD)
        return out, struct
    fill = torch.gather(bases, 1, cols.clamp(0, window - 1))
    return torch.where(inside, fill, codes), structure


@torch.no_grad()
def naive_logprobs(model: nn.Module, encoding: Encoding, prep: PreparedInput, columns: torch.Tensor,
                   window: int, bases: torch.Tensor | None = None) -> torch.Tensor:
    """Reference path: the whole model on each masked copy.

    columns: int64 (rows,) window start columns (one row per masked copy); bases: uint8
    (rows, window) or None. Returns float32 log-probabilities (rows, F).
    """
    rows = len(columns)
    codes = prep.codes[None, :].expand(rows, -1)
    struct = None if prep.structure is None else prep.structure[None, :].expand(rows, -1)
    codes, struct = apply_mask(codes, struct, columns, window, bases)
    x = encoding.one_hot(codes, struct if encoding.needs_structure else None)
    device = x.device
    lengths = torch.full((rows,), prep.valid, dtype=torch.int64, device=device)
    nt = torch.full((rows,), prep.nt_length, dtype=torch.int64, device=device)
    return model(x, lengths, nt).float()


@torch.no_grad()
def original_logprobs(model: nn.Module, encoding: Encoding, prep: PreparedInput) -> torch.Tensor:
    """float32 (F,) log-probabilities of the unmasked transcript (the model's own forward)."""
    x = encoding.one_hot(prep.codes[None, :], None if prep.structure is None else prep.structure[None, :])
    device = x.device
    lengths = torch.tensor([prep.valid], dtype=torch.int64, device=device)
    nt = torch.tensor([prep.nt_length], dtype=torch.int64, device=device)
    return model(x, lengths, nt).float()[0]
