"""Zipcode scan of one transcript: window scores, called regions, per-nucleotide track.

Paper §2.10 (docs/zipcodes.md): a window of ``window`` nt is masked at every start
``0, stride, 2·stride, …`` (the whole window inside the part of the transcript the model
reads); each window is scored by ``KL(p ‖ q)``, ``p`` the prediction on the original, ``q``
on the masked copy (for random masks, ``q`` = the mean of the ``repeats`` masked
predictions, then the KL). ``deltas = q − p`` per fraction.

Regions: windows with KL > ``min_kl`` that stay above it while the window slides at least
``min(min_support, window)`` nt (a run of ``k`` consecutive called windows on the stride grid
has support ``k × stride``; a run that reaches the first or last scanned window always
counts, as the window cannot slide further there), merged when they overlap, touch, or are
at most ``merge_gap`` nt apart (like ``bedtools merge -d``); a region keeps its peak window
(highest KL, the first one on ties), that window's KL and deltas; the named fraction is the one whose
peak delta is largest in magnitude: ``enhancing`` when masking lowers it, ``repressive``
when it raises it.

Track: each nucleotide gets the largest KL of the scanned windows that cover it (so with
``merge_gap`` 0 and ``min(min_support, window)`` ≤ stride the regions are exactly the
maximal runs of nucleotides whose track value exceeds ``min_kl``); nucleotides no scanned
window covers have no value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import maximum_filter1d
from torch import nn

from rnatracker_cli.defaults import DEFAULT_MIN_KL, DEFAULT_MIN_SUPPORT, DEFAULT_WINDOW
from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.interpret.fastscan import FastScanner, supports_fast_path
from rnatracker_cli.interpret.perturb import (
    MaskSpec,
    PreparedInput,
    naive_logprobs,
    original_logprobs,
    prepare_input,
    random_bases,
)

#: Default score cap = this × min_kl: a region at the threshold scores 100, one at ten
#: times the threshold or more scores 1000.
SCORE_CAP_FACTOR = 10.0
METHODS = ("auto", "fast", "naive")
#: Masked copies per forward batch by device type and path (CPU LSTMs run fastest on small
#: batches; GPUs want large ones). The naive path is further capped by nucleotides.
DEFAULT_BATCH = {("cpu", "fast"): 64, ("cpu", "naive"): 64, ("cuda", "fast"): 1024, ("cuda", "naive"): 256}
NAIVE_BATCH_NT = {"cpu": 256_000, "cuda": 4_000_000}
#: Fast path: rows × conv steps per batch at most (bounds memory on very long transcripts).
FAST_BATCH_STEPS = 2_000_000


@dataclass(frozen=True)
class ScanSettings:
    """How windows are masked and batched.

    window/stride: nt (≥ 1; every start by default — the command's defaults are
    :class:`rnatracker_cli.interpret.scan.ScanOptions`); mask: :class:`MaskSpec` (zero by
    default); method: ``auto`` (fast when the model
    supports it, else naive), ``fast`` or ``naive``; batch_size: masked copies per forward
    batch (None = :data:`DEFAULT_BATCH` for the device).
    """

    window: int = DEFAULT_WINDOW
    stride: int = 1
    mask: MaskSpec = field(default_factory=MaskSpec)
    method: str = "auto"
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.window < 1:
            raise RNATrackerError("--window must be at least 1")
        if self.stride < 1:
            raise RNATrackerError("--stride must be at least 1")
        if self.method not in METHODS:
            raise RNATrackerError(f"method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise RNATrackerError("--batch-size must be at least 1")


@dataclass
class WindowScores:
    """Scan results of one transcript.

    starts: int64 (n,) window start (transcript coordinate, 0-based; window = [start,
    start + window)); kl: float64 (n,) ≥ 0; deltas: float64 (n, F) masked − original
    prediction; probs: float64 (F,) original prediction; scanned: transcript coordinates
    ``[lo, hi)`` the model reads (fixed mode drops the 5' end beyond max_len); method:
    ``fast`` or ``naive``; length: transcript length.
    """

    starts: np.ndarray
    kl: np.ndarray
    deltas: np.ndarray
    probs: np.ndarray
    scanned: tuple[int, int]
    method: str
    length: int


@dataclass
class Region:
    """A called region (transcript coordinates, 0-based half-open).

    peak: start of the peak window; kl_peak: its KL; deltas: float64 (F,) at the peak;
    fraction: index of the named fraction; direction: ``enhancing`` | ``repressive``.
    """

    start: int
    end: int
    peak: int
    kl_peak: float
    deltas: np.ndarray
    fraction: int
    direction: str


def window_starts(lo: int, hi: int, window: int, stride: int) -> np.ndarray:
    """int64 starts on the grid ``0, stride, …`` with ``[start, start + window) ⊆ [lo, hi)``."""
    first = -(-lo // stride) * stride
    return np.arange(first, hi - window + 1, stride, dtype=np.int64)


def default_batch_size(device: torch.device, method: str) -> int:
    """Masked copies per batch for ``device`` and path (see :data:`DEFAULT_BATCH`)."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    return DEFAULT_BATCH[(kind, method)]


class _NaivePath:
    """Adapter with the :class:`FastScanner` interface over :func:`naive_logprobs`."""

    def __init__(self, model: nn.Module, encoding, prep: PreparedInput, window: int) -> None:
        self.model, self.encoding, self.prep, self.window = model, encoding, prep, window

    def plan(self, batches: list[np.ndarray]) -> None:
        return None

    def logprobs(self, columns: torch.Tensor, bases: torch.Tensor | None = None) -> torch.Tensor:
        return naive_logprobs(self.model, self.encoding, self.prep, columns, self.window, bases)


def _rows_per_batch(settings: ScanSettings, method: str, device: torch.device, prep: PreparedInput,
                    steps: int) -> int:
    rows = settings.batch_size or default_batch_size(device, method)
    if method == "naive":
        budget = NAIVE_BATCH_NT["cuda" if device.type == "cuda" else "cpu"]
        rows = min(rows, max(1, budget // max(prep.width, 1))) if settings.batch_size is None else rows
    else:
        rows = min(rows, max(1, FAST_BATCH_STEPS // max(steps, 1)))
    return max(1, rows)


class _EnsemblePath:
    """The scan path of a replicate ensemble: each member's fast path, their predicted
    distributions averaged (the ensemble's prediction) → log-probabilities (rows, F)."""

    def __init__(self, paths: list) -> None:
        self.paths = paths
        self.steps = getattr(paths[0], "steps", 1)

    def plan(self, batches: list[np.ndarray]) -> None:
        for path in self.paths:
            path.plan(batches)

    def logprobs(self, columns: torch.Tensor, bases: torch.Tensor | None = None) -> torch.Tensor:
        log_p = torch.stack([path.logprobs(columns, bases).float() for path in self.paths])
        return torch.logsumexp(log_p, dim=0) - float(np.log(len(self.paths)))


def _supports_fast(model: nn.Module) -> bool:
    members = getattr(model, "members", None)
    if members is not None:
        return all(supports_fast_path(m) for m in members)
    return supports_fast_path(model)


def _fast_path(model: nn.Module, encoding, prep, window: int):
    members = getattr(model, "members", None)
    if members is not None:
        return _EnsemblePath([FastScanner(m, encoding, prep, window) for m in members])
    return FastScanner(model, encoding, prep, window)


@torch.no_grad()
def scan_transcript(model: nn.Module, config: dict, codes: np.ndarray, settings: ScanSettings,
                    device: torch.device | str = "cpu", structure: np.ndarray | None = None,
                    key: int = 0) -> WindowScores:
    """Score every window of one transcript.

    model: a loaded model (switched to eval mode here and restored after); config: its
    config (mode, max_len, encoding); codes: uint8 (length,); structure: uint8 (length,)
    element codes for structure encodings; key: seeds random masks with ``settings.mask.seed``
    (see :func:`rnatracker_cli.interpret.perturb.transcript_key`). A window longer than the
    scanned part gives zero windows (``len(starts) == 0``).
    """
    dev = torch.device(device)
    encoding = get_encoding(config.get("encoding", "seq"))
    if encoding.needs_structure and structure is None:
        raise RNATrackerError(f"this model reads structure ({encoding.name}): pass the transcript's structure")
    method = settings.method
    if method == "auto":
        method = "fast" if _supports_fast(model) else "naive"
    elif method == "fast" and not _supports_fast(model):
        raise RNATrackerError(f"the fast scan path does not support a {config.get('arch')} model (use naive)")
    was_training = model.training
    model.eval()
    try:
        prep = prepare_input(np.asarray(codes, dtype=np.uint8), config, model.min_length, dev, structure)
        log_p = original_logprobs(model, encoding, prep).double()
        p = torch.exp(log_p)
        lo, hi = prep.scanned
        starts = window_starts(lo, hi, settings.window, settings.stride)
        n, n_frac = len(starts), len(p)
        kl = np.zeros(n, dtype=np.float64)
        deltas = np.zeros((n, n_frac), dtype=np.float64)
        if n:
            path = (_fast_path(model, encoding, prep, settings.window) if method == "fast"
                    else _NaivePath(model, encoding, prep, settings.window))
            steps = getattr(path, "steps", 1)
            copies = settings.mask.copies
            per_batch = max(1, _rows_per_batch(settings, method, dev, prep, steps) // copies)
            columns = starts - prep.start
            chunks = [np.arange(i, min(i + per_batch, n)) for i in range(0, n, per_batch)]
            path.plan([columns[c] for c in chunks])
            for chunk in chunks:
                cols = torch.as_tensor(np.repeat(columns[chunk], copies), device=dev)
                bases = None
                if settings.mask.kind == "random":
                    bases = torch.as_tensor(random_bases(settings.mask, key, starts[chunk], settings.window), device=dev)
                log_q = path.logprobs(cols, bases).double().reshape(len(chunk), copies, n_frac)
                # Random masks: average the predictions, then take the KL against the mean.
                log_q = torch.logsumexp(log_q, dim=1) - np.log(copies) if copies > 1 else log_q[:, 0]
                kl[chunk] = torch.clamp((p * (log_p - log_q)).sum(dim=1), min=0.0).cpu().numpy()
                deltas[chunk] = (torch.exp(log_q) - p).cpu().numpy()
    finally:
        model.train(was_training)
    return WindowScores(starts, kl, deltas, p.cpu().numpy(), (lo, hi), method, len(codes))


def call_regions(scores: WindowScores, window: int, min_kl: float = DEFAULT_MIN_KL, merge_gap: int = 0,
                 min_support: int = DEFAULT_MIN_SUPPORT) -> list[Region]:
    """Regions of windows with KL > ``min_kl`` (see the module docstring), by start."""
    if merge_gap < 0:
        raise RNATrackerError("--merge-gap must be at least 0")
    if min_support < 1:
        raise RNATrackerError("--min-support must be at least 1")
    hit = np.flatnonzero(scores.kl > min_kl)
    need = min(min_support, window)
    if len(hit) and need > 1:
        hit = hit[_supported(scores.starts, hit, need)]
    if not len(hit):
        return []
    s = scores.starts[hit]
    e = s + window
    k = scores.kl[hit]
    # All windows have one width and come sorted, so the running end is the previous end.
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > e[:-1] + merge_gap
    group = np.cumsum(new) - 1
    firsts = np.flatnonzero(new)
    lasts = np.append(firsts[1:] - 1, len(s) - 1)
    order = np.lexsort((np.arange(len(s)), -k, group))  # by group, then KL descending, then position
    peaks = order[np.searchsorted(group[order], np.arange(len(firsts)))]
    regions = []
    for g, peak in enumerate(peaks.tolist()):
        d = scores.deltas[hit[peak]]
        f = int(np.argmax(np.abs(d)))
        regions.append(Region(int(s[firsts[g]]), int(e[lasts[g]]), int(s[peak]), float(k[peak]), d.copy(), f,
                              "enhancing" if d[f] < 0 else "repressive"))
    return regions


def _supported(starts: np.ndarray, hit: np.ndarray, min_support: int) -> np.ndarray:
    """bool (len(hit),): the called windows (indices into ``starts``) in runs with enough support."""
    if len(starts) < 2:
        return np.ones(len(hit), dtype=bool)  # one window: it cannot slide at all
    stride = int(np.min(np.diff(starts)))
    breaks = np.ones(len(hit), dtype=bool)
    breaks[1:] = np.diff(hit) != 1  # consecutive grid positions form a run
    run = np.cumsum(breaks) - 1
    first, last = hit[breaks], hit[np.append(np.flatnonzero(breaks)[1:] - 1, len(hit) - 1)]
    at_edge = (first == 0) | (last == len(starts) - 1)
    ok = ((last - first + 1) * stride >= min_support) | at_edge
    return ok[run]


def region_name(record_id: str, region: Region, fractions: list[str]) -> str:
    """``ID:FRACTION:enhancing|repressive``."""
    return f"{record_id}:{fractions[region.fraction]}:{region.direction}"


def bed_score(kl_peak: float, cap: float) -> int:
    """BED score ``min(1000, round(1000 · kl_peak / cap))`` (halves round up)."""
    if cap <= 0:
        raise RNATrackerError("--score-cap must be positive")
    return int(min(1000, np.floor(1000.0 * kl_peak / cap + 0.5)))


@dataclass
class Track:
    """Per-nucleotide KL as intervals: int64 starts/ends (k,), float64 values (k,)."""

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray


def kl_track(scores: WindowScores, window: int) -> Track:
    """Each nucleotide's largest KL over the scanned windows covering it, run-length encoded.

    Runs of equal values become one interval; uncovered nucleotides are left out.
    """
    length = scores.length
    if not len(scores.starts) or length == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Track(empty, empty, np.zeros(0))
    dense = np.full(length, -np.inf)
    dense[scores.starts] = scores.kl
    # out[i] = max(dense[i - window + 1 … i]): the windows that start at most window − 1 before i.
    size = min(window, length)
    cover = maximum_filter1d(dense, size=size, origin=(size - 1) // 2, mode="constant", cval=-np.inf)
    change = np.flatnonzero(cover[1:] != cover[:-1]) + 1
    bounds = np.concatenate([[0], change, [length]])
    lo, hi = bounds[:-1], bounds[1:]
    vals = cover[lo]
    keep = np.isfinite(vals)
    return Track(lo[keep].astype(np.int64), hi[keep].astype(np.int64), vals[keep])
