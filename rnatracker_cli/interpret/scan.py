"""`scan-zipcodes` end to end: FASTA → window scores → regions → BED (+ bedGraph track).

Transcripts are read one at a time (stdin works), scanned with
:func:`rnatracker_cli.interpret.zipcodes.scan_transcript`, and their regions collected; the
BED (and track) are written at the end, sorted, atomically. See docs/zipcodes.md.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT
from rnatracker_cli.encoding import check_input_width, check_transcript_length
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.interpret.perturb import MaskSpec, transcript_key
from rnatracker_cli.interpret.zipcodes import (
    DEFAULT_MIN_KL,
    DEFAULT_MIN_SUPPORT,
    DEFAULT_STRIDE,
    DEFAULT_WINDOW,
    SCORE_CAP_FACTOR,
    ScanSettings,
    bed_score,
    call_regions,
    kl_track,
    region_name,
    scan_transcript,
)
from rnatracker_cli.io.atomic import check_output, open_output
from rnatracker_cli.interpret.progress import Progress, TranscriptResult, file_sha256, sequence_sha256
from rnatracker_cli.io.bed import TranscriptIndex, ZipcodeRecord, format_bedgraph, genomic_blocks, project_track, write_bed
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.io.gtf import TranscriptModel
from rnatracker_cli.io.tables import strip_version


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
    mask: str = "zero"
    repeats: int = 100
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


def parse_ids(ids: str | None, ids_file: str | None) -> list[str] | None:
    """Ids from ``--ids A,B`` and/or ``--ids-file`` (one per line, ``#`` comments); None = all."""
    if ids is None and ids_file is None:
        return None
    out: list[str] = []
    if ids is not None:
        out += [t.strip() for t in ids.split(",") if t.strip()]
    if ids_file is not None:
        p = Path(ids_file)
        if not p.is_file():
            raise InputError(f"{p}: file not found")
        for line in p.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line.split()[0])
    if not out:
        raise InputError("--ids/--ids-file: no transcript ids given")
    return list(dict.fromkeys(out))


class _Selection:
    """Matches FASTA ids against requested ids, exactly or without version suffixes."""

    def __init__(self, ids: list[str] | None) -> None:
        self.ids = ids
        self.keys = None if ids is None else {strip_version(i): i for i in ids}
        self.found: set[str] = set()

    def wants(self, record_id: str) -> bool:
        if self.keys is None:
            return True
        asked = self.keys.get(strip_version(record_id))
        if asked is None:
            return False
        self.found.add(asked)
        return True

    def check(self, where: str) -> None:
        if self.ids is None:
            return
        missing = [i for i in self.ids if i not in self.found]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise InputError(f"{len(missing)} requested id(s) not in {where}: {shown}")


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


def scan_fasta(model_path: str, fasta: str, out: str = "-", track: str | None = None, gtf: str | None = None,
               ids: list[str] | None = None, options: ScanOptions | None = None, device: str = "auto",
               force: bool = False, on_skip: Callable[[TranscriptResult], None] | None = None,
               on_transcript: Callable[[TranscriptResult], None] | None = None,
               max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT) -> ScanSummary:
    """Scan every (selected) transcript of ``fasta``; write the BED to ``out`` (``-`` = stdout).

    track: bedGraph of per-nucleotide KL; gtf: project BED rows (BED12+4) and the track to
    genomic coordinates. Outputs are checked before any work and written atomically at the
    end; with ``out`` a file, finished transcripts are kept in ``OUT.part`` so an interrupted
    run resumes (:mod:`rnatracker_cli.interpret.progress`). on_skip/on_transcript: called
    for each skipped / scanned transcript. max_transcript_nt: longest transcript accepted.
    """
    from rnatracker_cli.io.gtf import read_gtf
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.utils.device import resolve_device

    options = options or ScanOptions()
    _check_outputs(out, track, force)
    where = "<stdin>" if str(fasta) == "-" else str(fasta)
    selection = _preflight_ids(fasta, ids, where)
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    scanner = TranscriptScanner(loaded, options, dev, track is not None, max_transcript_nt)
    index = TranscriptIndex(read_gtf(gtf)) if gtf is not None else None
    progress = _open_progress(out, loaded, options, track, force)
    summary = ScanSummary(device=str(dev), model=str(loaded.path), max_len=scanner.input_nt)
    models: dict[str, TranscriptModel] = {}
    started = time.perf_counter()
    finished = False
    try:
        results = []
        for record in read_fasta(fasta):
            if not selection.wants(record.id):
                continue
            if index is not None:
                models[record.id] = index.get(record.id, len(record.codes), str(gtf))
            result = _resume_or_scan(scanner, record, progress, summary)
            results.append(result)
            _announce(result, summary, on_skip, on_transcript)
        selection.check(where)
        records, tracks = collect_regions(results, loaded.fractions, options.cap, models, summary)
        comment = (f"rnatracker {__version__} scan-zipcodes model={loaded.path} {options.describe()} "
                   f"fractions={','.join(loaded.fractions)} coordinates={'genome' if index is not None else 'transcript'}")
        _write_outputs(out, track, force, records, tracks, index is not None, comment)
        finished = True
    finally:
        if progress is not None:
            progress.close(finished)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_outputs(out: str, track: str | None, force: bool) -> None:
    if track is not None and str(track) == "-" and str(out) == "-":
        raise RNATrackerError("--track and --out cannot both be stdout")
    if track is not None and str(track) == str(out):
        raise RNATrackerError("--track and --out must be different files")
    check_output(out, force)
    if track is not None:
        check_output(track, force)


def _preflight_ids(fasta: str, ids: list[str] | None, where: str) -> _Selection:
    """Fail before the (long) scan when a requested id is missing (stdin can only be
    checked at the end); returns a fresh selection for the scan."""
    if ids is not None and str(fasta) != "-":
        selection = _Selection(ids)
        for record in read_fasta(fasta):
            selection.wants(record.id)
        selection.check(where)
    return _Selection(ids)


def _open_progress(out: str, loaded, options: ScanOptions, track: str | None, force: bool) -> Progress | None:
    """The resumable progress file beside a file output (None for stdout)."""
    if str(out) == "-":
        return None
    signature = {"model_sha256": file_sha256(loaded.path), "settings": options.describe(False),
                 "fractions": ",".join(loaded.fractions), "track": track is not None}
    return Progress(out, signature, force)


def _resume_or_scan(scanner: TranscriptScanner, record, progress: Progress | None,
                    summary: ScanSummary) -> TranscriptResult:
    """The committed result of an interrupted run when the sequence is unchanged, else a scan."""
    if progress is not None:
        result = progress.finished(record.id, sequence_sha256(record.codes))
        if result is not None:
            summary.resumed += 1
            return result
    result = scanner.scan(record)
    if progress is not None:
        progress.add(result)
    return result


def _announce(result: TranscriptResult, summary: ScanSummary, on_skip, on_transcript) -> None:
    if result.skipped is not None:
        summary.skipped.append(result)
        if on_skip is not None:
            on_skip(result)
    elif on_transcript is not None:
        on_transcript(result)


def collect_regions(results: list[TranscriptResult], fractions: list[str], cap: float, models: dict[str, TranscriptModel],
             summary: ScanSummary) -> tuple[list[ZipcodeRecord], list[tuple]]:
    """BED rows (:class:`ZipcodeRecord`, unsorted) and track rows of the scanned transcripts
    (``models``: transcript id → genomic model, for ``--gtf``); fills the summary's counts."""
    records, tracks = [], []
    for result in results:
        if result.skipped is not None:
            continue
        summary.transcripts += 1
        summary.nucleotides += result.length
        summary.windows += result.windows
        summary.truncated += result.unscanned > 0
        summary.unscanned_nt += result.unscanned
        records += _bed_records(result, fractions, cap, models.get(result.id))
        if result.track is not None:
            tracks.append(_track_rows(result, models.get(result.id)))
    for rec in records:
        summary.by_class[(rec.fraction, rec.direction)] += 1
    summary.regions = len(records)
    summary.method = "+".join(sorted({r.method for r in results if r.skipped is None})) or "none"
    return records, tracks


def _write_outputs(out: str, track: str | None, force: bool, records: list[ZipcodeRecord], tracks: list[tuple],
                   genomic: bool, comment: str) -> None:
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_output(out, force))
        track_handle = stack.enter_context(open_output(track, force)) if track is not None else None
        write_bed(handle, records, bed12=genomic, comment=comment)
        if track_handle is not None:
            _write_track(track_handle, tracks)


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


def _write_track(handle, tracks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """bedGraph sorted by chrom (byte order) then start."""
    by_chrom: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for chrom, s, e, v in tracks:
        by_chrom.setdefault(chrom, []).append((s, e, v))
    for chrom in sorted(by_chrom, key=lambda c: c.encode("utf-8")):
        parts = by_chrom[chrom]
        s = np.concatenate([p[0] for p in parts])
        e = np.concatenate([p[1] for p in parts])
        v = np.concatenate([p[2] for p in parts])
        order = np.lexsort((e, s))
        handle.write(format_bedgraph(chrom, s[order], e[order], v[order]))
