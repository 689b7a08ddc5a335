"""Training data held in memory, and the seeded validation split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnatracker_cli.encoding import Encoding
from rnatracker_cli.errors import CacheError, RNATrackerError
from rnatracker_cli.io.cache import Cache


@dataclass
class TrainingSet:
    """Transcripts for fitting or evaluation.

    sequences: uint8 code arrays; structures: uint8 element arrays or None; nt_lengths:
    int64 (n,) true transcript lengths (before any truncation in the cache); targets:
    float32 (n, F); ids: (n,) object array.
    """

    ids: np.ndarray
    sequences: list[np.ndarray]
    structures: list[np.ndarray] | None
    nt_lengths: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> np.ndarray:
        """int64 (n,) stored sequence lengths."""
        return np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=len(self.sequences))

    def subset(self, idx: np.ndarray) -> TrainingSet:
        return TrainingSet(
            self.ids[idx], [self.sequences[i] for i in idx],
            None if self.structures is None else [self.structures[i] for i in idx],
            self.nt_lengths[idx], self.targets[idx],
        )


def mutate_sequences(sequences: list[np.ndarray], rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Copies of ``sequences`` in which each position is redrawn, with probability ``rate``,
    as a uniformly random base (A C G T; it may draw the base it replaces); ``rate`` 0
    returns the input list and draws nothing from ``rng``.

    Random substitutions as training augmentation (EvoAug, Lee et al., Genome Biology 2023):
    the target stays that of the unmutated transcript, so the network learns that a motif
    with a changed base still acts — binding sites of RNA-binding proteins are degenerate.
    Draws, per sequence in order, one uniform per position then one base per redrawn position.
    """
    if rate <= 0:
        return sequences
    out = []
    for codes in sequences:
        codes = codes.copy()
        hit = rng.random(len(codes)) < rate
        codes[hit] = rng.integers(0, 4, size=int(hit.sum()), dtype=codes.dtype)
        out.append(codes)
    return out


def load_training_set(cache: Cache, encoding: Encoding, indices: Sequence[int] | None = None) -> TrainingSet:
    """Read sequences (and structure when ``encoding`` needs it) of ``indices`` into memory.

    Raises :class:`CacheError` when a structure encoding is asked for and the cache has not
    been (completely) folded.
    """
    idx = np.arange(len(cache)) if indices is None else np.asarray(indices, dtype=np.int64)
    structures = None
    if encoding.needs_structure:
        if not cache.has_structure:
            raise CacheError(
                f"{cache.path} has no secondary structure (needed by encoding {encoding.name}): "
                f"run `rnatracker fold {cache.path}` first"
            )
        structures = cache.structures(idx)
    cache.load()
    return TrainingSet(
        ids=np.asarray(cache.ids)[idx], sequences=cache.sequences(idx), structures=structures,
        nt_lengths=np.asarray(cache.full_lengths, dtype=np.int64)[idx],
        targets=np.asarray(cache.targets, dtype=np.float32)[idx],
    )


def split_validation(n: int, fraction: float, seed: int, genes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train, validation)`` index arrays (sorted int64).

    About ``fraction`` of the transcripts (at least one when ``fraction > 0`` and n ≥ 2) go to
    validation. With ``genes``, whole genes are assigned to one side, so isoforms of a gene
    never straddle the split.
    """
    if not 0.0 <= fraction < 1.0:
        raise RNATrackerError("--val-fraction must be in [0, 1)")
    all_idx = np.arange(n, dtype=np.int64)
    if fraction == 0.0 or n < 2:
        return all_idx, np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n_val = min(n - 1, max(1, int(round(fraction * n))))
    if genes is None:
        val = np.sort(rng.permutation(n)[:n_val])
    else:
        names, group = np.unique(np.asarray(genes, dtype=object).astype(str), return_inverse=True)
        order = rng.permutation(len(names))
        sizes = np.bincount(group, minlength=len(names))[order]
        chosen = order[(np.cumsum(sizes) - sizes) < n_val]
        val = np.flatnonzero(np.isin(group, chosen))
        if len(val) >= n:  # one gene holds everything: fall back to transcripts
            val = np.sort(rng.permutation(n)[:n_val])
    train = np.setdiff1d(all_idx, val)
    return train, val.astype(np.int64)
