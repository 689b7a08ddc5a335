"""Nucleotide codes shared by every module.

Sequences are stored as ``uint8`` codes ``A C G T N = 0 1 2 3 4`` (U is read as T).
Conversion is one table lookup over the whole byte string, never a Python loop per base.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGTN"
A, C, G, T, N = range(5)
INVALID = 255

#: IUPAC ambiguity letters: accepted on input and stored as N (counted in summaries).
AMBIGUOUS = "RYKMSWBDHV"

_ENCODE = np.full(256, INVALID, dtype=np.uint8)
for _code, _letters in enumerate(("Aa", "Cc", "Gg", "TtUu", "Nn")):
    for _ch in _letters:
        _ENCODE[ord(_ch)] = _code
_AMBIGUOUS_MASK = np.zeros(256, dtype=bool)
for _ch in AMBIGUOUS + AMBIGUOUS.lower():
    _ENCODE[ord(_ch)] = N
    _AMBIGUOUS_MASK[ord(_ch)] = True

_DECODE = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_COMPLEMENT = np.array([T, G, C, A, N], dtype=np.uint8)


def encode(seq: bytes | str) -> tuple[np.ndarray, int, int]:
    """Encode a nucleotide string.

    Returns ``(codes, n_ambiguous, first_invalid)``: codes is uint8 (length,), values 0..4;
    ``n_ambiguous`` counts IUPAC ambiguity letters turned into N; ``first_invalid`` is the
    index of the first character outside ACGTUN/IUPAC, or -1 when there is none.
    """
    raw = np.frombuffer(seq.encode() if isinstance(seq, str) else seq, dtype=np.uint8)
    codes = _ENCODE[raw]
    bad = np.flatnonzero(codes == INVALID)
    first_invalid = int(bad[0]) if bad.size else -1
    return codes, int(_AMBIGUOUS_MASK[raw].sum()), first_invalid


def decode(codes: np.ndarray) -> str:
    """uint8 codes (length,) → ``ACGTN`` string."""
    return _DECODE[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of uint8 codes (N stays N)."""
    return _COMPLEMENT[np.asarray(codes, dtype=np.uint8)[::-1]]
