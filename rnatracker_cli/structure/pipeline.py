"""One sequence → element codes: RNAplfold → greedy nesting → element annotation.

This module is what worker processes import: NumPy and ViennaRNA only (no HDF5, no CLI),
so that starting a worker stays cheap.
"""

from __future__ import annotations

import time

import numpy as np

from rnatracker_cli.structure.elements import annotate
from rnatracker_cli.structure.nesting import nest_pairs
from rnatracker_cli.structure.plfold import DEFAULT_CUTOFF, DEFAULT_SPAN, DEFAULT_WINDOW, plfold_pairs

#: Stage names used as keys of the ``timings`` dict of :func:`fold_sequence`.
STAGES = ("plfold", "nesting", "annotation")


def fold_sequence(
    codes: np.ndarray,
    window: int = DEFAULT_WINDOW,
    span: int = DEFAULT_SPAN,
    cutoff: float = DEFAULT_CUTOFF,
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """Per-nucleotide secondary-structure elements of one sequence.

    codes: uint8 (length,), A C G T N = 0..4. window/span/cutoff: RNAplfold's W, L and
    probability cutoff (paper: 150, 100; cutoff 0.01). Returns uint8 (length,) element
    codes F T I H M S = 0..5 (see :mod:`rnatracker_cli.structure.elements`). The result
    depends only on the sequence and these settings (and the ViennaRNA version).

    timings: if given, seconds spent per stage (:data:`STAGES`) are added to it.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    t0 = time.perf_counter()
    i, j, p = plfold_pairs(codes, window, span, cutoff)
    t1 = time.perf_counter()
    partner = nest_pairs(i, j, p, codes.size)
    t2 = time.perf_counter()
    elements = annotate(partner)
    if timings is not None:
        t3 = time.perf_counter()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
            timings[stage] = timings.get(stage, 0.0) + seconds
    return elements


def _worker_init() -> None:
    """Pool initializer: Ctrl-C is for the parent, which stops the pool cleanly."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _fold_task(index: int, codes: np.ndarray, window: int, span: int, cutoff: float) -> tuple[int, np.ndarray]:
    """Worker entry point: ``(index, element codes)`` of one record."""
    return index, fold_sequence(codes, window, span, cutoff)
