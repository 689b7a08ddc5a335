"""Local base-pair probabilities with RNAplfold, through ViennaRNA's Python API.

RNATracker folds each transcript with RNAplfold (window W = 150, maximal pair span L = 100,
as in the paper): the partition function is computed in every window of W nucleotides and
a pair's probability is averaged over the windows that contain it; pairs below the cutoff
are dropped. We call ``RNA.pfl_fold`` (the library behind the ``RNAplfold`` program, with
ViennaRNA's default energy model: Turner 2004, 37 °C), in-process: no subprocess, no
``plfold_dp.ps`` files.
"""

from __future__ import annotations

import numpy as np

from rnatracker_cli.errors import InputError

DEFAULT_WINDOW = 150
DEFAULT_SPAN = 100
DEFAULT_CUTOFF = 0.01

# Codes A C G T N = 0..4 → RNA letters. U, not T: ViennaRNA finds its special hairpin
# loops (tetraloop bonuses) by comparing sequence strings written with U, so a T-sequence
# folds differently.
_RNA_LETTERS = np.frombuffer(b"ACGUN", dtype=np.uint8)


def check_params(window: int, span: int, cutoff: float) -> None:
    """Raise :class:`InputError` for RNAplfold settings that make no sense."""
    if span < 1:
        raise InputError(f"--span must be >= 1 (got {span})")
    if window < span:
        raise InputError(f"--window ({window}) must be >= --span ({span})")
    if not 0.0 < cutoff < 1.0:
        raise InputError(f"--cutoff must be > 0 and < 1 (got {cutoff})")


def viennarna_version() -> str:
    """Version of the ViennaRNA library doing the folding (recorded with the results)."""
    import RNA

    return str(RNA.__version__)


def codes_to_rna(codes: np.ndarray) -> str:
    """uint8 codes A C G T N = 0..4 (length,) → ``ACGUN`` string for ViennaRNA."""
    return _RNA_LETTERS[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def plfold_pairs(
    codes: np.ndarray,
    window: int = DEFAULT_WINDOW,
    span: int = DEFAULT_SPAN,
    cutoff: float = DEFAULT_CUTOFF,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RNAplfold pair probabilities of one sequence.

    codes: uint8 (length,), A C G T N = 0..4 (N never pairs). window/span/cutoff: RNAplfold's
    ``-W``, ``-L`` and ``-c``. Returns ``(i, j, p)``: int64 (P,) 0-based bases with i < j,
    and float64 (P,) window-averaged probabilities, all >= cutoff. A sequence shorter than
    the window is folded as a whole (RNAplfold does the same).
    """
    import RNA  # imported here so that `rnatracker --help` does not load ViennaRNA

    check_params(window, span, cutoff)
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.size < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    entries = RNA.pfl_fold(codes_to_rna(codes), int(window), int(span), float(cutoff))
    if entries is None:
        raise RuntimeError(f"RNAplfold failed on a sequence of {codes.size} nt")
    # One pass over the returned SWIG objects (a few per nucleotide); the list ends with
    # no sentinel in the Python binding, but skip i == 0 entries in case it ever does.
    flat = np.fromiter(
        (v for e in entries for v in (e.i, e.j, e.p)), dtype=np.float64, count=3 * len(entries)
    ).reshape(-1, 3)
    flat = flat[flat[:, 0] > 0]
    i = flat[:, 0].astype(np.int64) - 1
    j = flat[:, 1].astype(np.int64) - 1
    return i, j, flat[:, 2].copy()
