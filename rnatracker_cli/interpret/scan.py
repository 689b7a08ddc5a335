"""Zipcode scans of whole transcripts: options, one transcript → regions, regions → BED rows.

:class:`TranscriptScanner` scans one transcript with
:func:`rnatracker_cli.interpret.zipcodes.scan_transcript` and calls its regions;
:func:`collect_regions` turns the results into BED records. Reading FASTA files, resuming and
writing the outputs is one layer up (:mod:`rnatracker_cli.workflows.scan`); the Python API
(:func:`rnatracker_cli.api.scan_sequences`) uses the same scanner. See docs/zipcodes.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from rnatracker_cli.defaults import (
    DEFAULT_MASK, DEFAULT_MAX_TRANSCRIPT_NT, DEFAULT_MIN_KL, DEFAULT_MIN_SUPPORT, DEFAULT_REPEATS, DEFAULT_STRIDE,
    DEFAULT_WINDOW,
)
from rnatracker_cli.encoding import check_input_width, check_transcript_length
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.interpret.perturb import MaskSpec, transcript_key
from rnatracker_cli.interpret.zipcodes import (
    SCORE_CAP_FACTOR,
    ScanSettings,
    bed_score,
    call_regions,
    kl_track,
    region_name,
    scan_transcript,
)
from rnatracker_cli.interpret.progress import TranscriptResult, sequence_sha256
from rnatracker_cli.io.bed import ZipcodeRecord, genomic_blocks, project_track
from rnatracker_cli.io.gtf import TranscriptModel


@dataclass(frozen=True)
class ScanOptions:
    """Everything that shapes the result (recorded in the BED's comment line).

    score_cap: KL that maps to BED score 1000 (None = :data:`SCORE_CAP_FACTOR` × min_kl, or
    × the default min_kl when min_kl is 0);
    repeats: random masks per window (``mask="random"`` only).
    """

    window: int = DEFAULT_WINDOW
    stride: int = DEFAULT_STRIDE
    min_kl: float = DEFAULT_MIN_KL
    merge_gap: int = 0
    min_support: int = DEFAULT_MIN_SUPPORT
    score_cap: float | None = None
    mask: str = DEFAULT_MASK
    repeats: int = DEFAULT_REPEATS
    seed: int = 0
    method: str = "auto"
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if not self.min_kl >= 0:
            raise RNATrackerError("--min-kl must be at least 0")
        if self.merge_gap < 0:
            raise RNATrackerError("--merge-gap must be at least 0")
        if self.min_support < 1:
            raise RNATrackerError("--min-support must be at least 1")
        if self.score_cap is not None and not self.score_cap > 0:
            raise RNATrackerError("--score-cap must be positive")
        self.settings()  # validates window, stride, mask, repeats, method, batch size

    @property
    def cap(self) -> float:
        if self.score_cap is not None:
            return self.score_cap
        return SCORE_CAP_FACTOR * (self.min_kl if self.min_kl > 0 else DEFAULT_MIN_KL)

    def settings(self) -> ScanSettings:
        mask = MaskSpec(self.mask, self.repeats if self.mask == "random" else 1, self.seed)
        return ScanSettings(self.window, self.stride, mask, self.method, self.batch_size)

    def describe(self, score: bool = True) -> str:
        """Settings as ``key=value`` words (the score cap only with ``score``)."""
        text = (f"window={self.window} stride={self.stride} min_kl={self.min_kl:g} merge_gap={self.merge_gap} "
                f"min_support={self.min_support} "
                + (f"score_cap={self.cap:g} " if score else "") + f"mask={self.mask}")
        if self.mask == "random":
            text += f" repeats={self.repeats} seed={self.seed}"
        return text


@dataclass
class ScanSummary:
    """What a scan did (for the stderr summary).

    skipped: transcripts not scanned (``.skipped`` holds the reason); truncated: scanned
    transcripts whose 5' end lies outside the model's input (mode fixed, or the training
    cache's ``--max-length``; ``unscanned_nt`` in all); max_len: that input length;
    resumed: transcripts taken from an interrupted run's progress file.
    """

    transcripts: int = 0
    nucleotides: int = 0
    windows: int = 0
    regions: int = 0
    by_class: Counter = field(default_factory=Counter)  # (fraction, direction) → regions
    skipped: list[TranscriptResult] = field(default_factory=list)
    truncated: int = 0
    unscanned_nt: int = 0
    resumed: int = 0
    seconds: float = 0.0
    device: str = ""
    method: str = ""
    model: str = ""
    max_len: int | None = None
    sidecar: str | None = None  # where the BED12's extra columns went (genomic output)
    shard: tuple[int, int] | None = None  # --shard (K, N)
    first: int = 0  # the shard's first record (0-based, among the selected ones)
    records: int = 0  # records in the shard (scanned, skipped or resumed)


class TranscriptScanner:
    """Scans single transcripts with one loaded model and one set of options.

    loaded: a :class:`rnatracker_cli.model.checkpoint.LoadedModel`; keep_track: keep each
    transcript's per-nucleotide KL track; max_transcript_nt: longest transcript accepted
    (None = no limit). Structure models fold each transcript with the training cache's settings.
    """

    def __init__(self, loaded, options: ScanOptions, device, keep_track: bool = False,
                 max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT) -> None:
        self.loaded = loaded
        self.options = options
        self.settings = options.settings()
        self.device = device
        self.keep_track = keep_track
        self.fold = loaded.fold_function()
        if max_transcript_nt is not None and max_transcript_nt < 1:
            raise RNATrackerError("--max-transcript-nt must be positive")
        self.max_transcript_nt = max_transcript_nt
        config = loaded.config
        check_input_width(config["mode"], config.get("max_len"), loaded.model.min_length)
        #: Longest input the model reads (None = all): 5' ends beyond it are not scanned.
        limits = [v for v in (config.get("max_len"), config.get("truncate_5p")) if v]
        self.input_nt = min(limits) if limits else None

    def scan(self, record) -> TranscriptResult:
        """Scan one record (``.id``, ``.codes``) into a :class:`TranscriptResult` (transcript
        coordinates)."""
        check_transcript_length(record.id, len(record.codes), self.max_transcript_nt)
        options, length = self.options, len(record.codes)
        sha = sequence_sha256(record.codes)
        structure = self.fold(record.codes) if self.fold is not None else None
        scores = scan_transcript(self.loaded.model, self.loaded.config, record.codes, self.settings, self.device,
                                 structure, key=transcript_key(record.id))
        lo, hi = scores.scanned
        if len(scores.starts) == 0:
            part = "transcript" if (lo, hi) == (0, length) else f"scanned part ({hi - lo} of {length} nt)"
            return TranscriptResult(record.id, length, skipped=f"window ({options.window} nt) longer than the {part}",
                                    sha256=sha)
        return TranscriptResult(
            record.id, length, call_regions(scores, options.window, options.min_kl, options.merge_gap, options.min_support),
            kl_track(scores, options.window) if self.keep_track else None, len(scores.starts), lo, scores.method,
            sha256=sha,
        )


def collect_regions(results: list[TranscriptResult], fractions: list[str], cap: float, models: dict[str, TranscriptModel],
             summary: ScanSummary) -> tuple[list[ZipcodeRecord], list[tuple]]:
    """BED rows (:class:`ZipcodeRecord`, unsorted) and track rows of the scanned transcripts
    (``models``: transcript id → genomic model, for ``--gtf``); fills the summary's counts."""
    records, tracks = [], []
    for result in results:
        rows, track = transcript_rows(result, fractions, cap, models.get(result.id), summary)
        records += rows
        if track is not None:
            tracks.append(track)
    summary.method = summary.method or "none"
    return records, tracks


def transcript_rows(result: TranscriptResult, fractions: list[str], cap: float, model: TranscriptModel | None,
                    summary: ScanSummary) -> tuple[list[ZipcodeRecord], tuple | None]:
    """BED rows and track row ``(chrom, starts, ends, values)`` (None without a track) of one
    result (projected to the genome with ``model``); adds its counts to the summary (a
    skipped result gives nothing and counts nothing: it goes to ``summary.skipped``
    separately)."""
    if result.skipped is not None:
        return [], None
    summary.transcripts += 1
    summary.nucleotides += result.length
    summary.windows += result.windows
    summary.truncated += result.unscanned > 0
    summary.unscanned_nt += result.unscanned
    records = _bed_records(result, fractions, cap, model)
    for rec in records:
        summary.by_class[(rec.fraction, rec.direction)] += 1
    summary.regions += len(records)
    methods = set(filter(None, summary.method.split("+"))) - {"none"}
    summary.method = "+".join(sorted(methods | {result.method}))
    return records, (_track_rows(result, model) if result.track is not None else None)


def _bed_records(result: TranscriptResult, fractions: list[str], cap: float,
                 model: TranscriptModel | None) -> list[ZipcodeRecord]:
    """BED rows of one transcript's regions (projected to the genome when ``model``)."""
    rows = []
    for region in result.regions:
        rec = ZipcodeRecord(result.id, region.start, region.end, region_name(result.id, region, fractions),
                            bed_score(region.kl_peak, cap), "+", region.kl_peak, fractions[region.fraction],
                            region.direction, region.deltas)
        if model is not None:
            blocks = genomic_blocks(model, region.start, region.end)
            rec.chrom, rec.strand, rec.blocks = model.chrom, model.strand, blocks
            rec.start, rec.end = blocks[0][0], blocks[-1][1]
        rows.append(rec)
    return rows


def _track_rows(result: TranscriptResult, model: TranscriptModel | None) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    t = result.track
    if model is not None:
        return (model.chrom, *project_track(model, t.starts, t.ends, t.values))
    return result.id, t.starts, t.ends, t.values
