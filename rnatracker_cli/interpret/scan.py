"""`scan-zipcodes` end to end: FASTA → window scores → regions → BED (+ bedGraph track).

Transcripts are read one at a time (stdin works), scanned with
:func:`rnatracker_cli.interpret.zipcodes.scan_transcript`, and their regions collected; the
BED (and track) are written at the end, sorted, atomically. See docs/zipcodes.md.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.encoding import get_encoding
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
from rnatracker_cli.interpret.progress import Progress, TranscriptResult, file_sha256
from rnatracker_cli.io.bed import (
    TranscriptIndex, ZipcodeRecord, format_bedgraph, genomic_blocks, project_track, sidecar_path, write_bed,
)
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
    transcripts whose 5' end lies outside a fixed-length input (``unscanned_nt`` in all);
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


def scan_fasta(model_path: str, fasta: str, out: str = "-", track: str | None = None, gtf: str | None = None,
               ids: list[str] | None = None, options: ScanOptions | None = None, device: str = "auto",
               force: bool = False, on_skip: Callable[[TranscriptResult], None] | None = None,
               on_transcript: Callable[[TranscriptResult], None] | None = None,
               sidecar: str | None = None) -> ScanSummary:
    """Scan every (selected) transcript of ``fasta``; write the BED to ``out`` (``-`` = stdout).

    track: bedGraph of per-nucleotide KL; gtf: project BED rows (standard BED12) and the track
    to genomic coordinates; the BED12's extra columns go to ``sidecar`` (default
    :func:`~rnatracker_cli.io.bed.sidecar_path` of ``out``; none when ``out`` is stdout and
    no sidecar is given). Outputs are checked before any work and written atomically at the
    end; with ``out`` a file, finished transcripts are kept in ``OUT.part`` so an interrupted
    run resumes (:mod:`rnatracker_cli.interpret.progress`). on_skip/on_transcript: called
    for each skipped / scanned transcript.
    """
    from rnatracker_cli.io.gtf import read_gtf
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.utils.device import resolve_device

    options = options or ScanOptions()
    settings = options.settings()
    if track is not None and str(track) == "-" and str(out) == "-":
        raise RNATrackerError("--track and --out cannot both be stdout")
    if track is not None and str(track) == str(out):
        raise RNATrackerError("--track and --out must be different files")
    if sidecar is not None and gtf is None:
        raise RNATrackerError("--sidecar is for genomic output (--gtf): transcript-coordinate BEDs keep their extra columns")
    if gtf is not None and sidecar is None and str(out) != "-":
        sidecar = str(sidecar_path(out))
    if sidecar is not None and str(sidecar) in {str(out), str(track)}:
        raise RNATrackerError("--sidecar must differ from --out and --track")
    check_output(out, force)
    if track is not None:
        check_output(track, force)
    if sidecar is not None:
        check_output(sidecar, force)
    selection = _Selection(ids)
    where = "<stdin>" if str(fasta) == "-" else str(fasta)
    if ids is not None and str(fasta) != "-":
        # Fail before the (long) scan when an id is missing; stdin can only be checked at the end.
        for record in read_fasta(fasta):
            selection.wants(record.id)
        selection.check(where)
        selection = _Selection(ids)
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    config, fractions = loaded.config, loaded.fractions
    encoding = get_encoding(config.get("encoding", "seq"))
    index = TranscriptIndex(read_gtf(gtf)) if gtf is not None else None
    fold = None
    if encoding.needs_structure:
        # Fold each transcript on the fly with the settings its training cache was folded with.
        from rnatracker_cli.structure import fold_sequence

        params = loaded.training.get("structure_params") or {}
        fold = functools.partial(fold_sequence, **{k: params[k] for k in ("window", "span", "cutoff") if k in params})
    progress = None
    if str(out) != "-":
        signature = {"model_sha256": file_sha256(loaded.path), "settings": options.describe(False),
                     "fractions": ",".join(fractions), "track": track is not None}
        progress = Progress(out, signature, force)
    summary = ScanSummary(device=str(dev), model=str(loaded.path), max_len=config.get("max_len"), sidecar=sidecar)
    results: list[TranscriptResult] = []
    models: dict[str, TranscriptModel] = {}
    started = time.perf_counter()
    finished = False
    try:
        for record in read_fasta(fasta):
            if not selection.wants(record.id):
                continue
            length = len(record.codes)
            if index is not None:
                models[record.id] = index.get(record.id, length, str(gtf))
            result = progress.done.get(record.id) if progress is not None else None
            if result is not None and result.length == length:
                summary.resumed += 1
            else:
                result = _scan_record(loaded.model, config, record, settings, options, dev, fold, track is not None)
                if progress is not None:
                    progress.add(result)
            results.append(result)
            if result.skipped is not None:
                summary.skipped.append(result)
                if on_skip is not None:
                    on_skip(result)
            elif on_transcript is not None:
                on_transcript(result)
        selection.check(where)
        records, tracks = [], []
        for result in results:
            if result.skipped is not None:
                continue
            summary.transcripts += 1
            summary.nucleotides += result.length
            summary.windows += result.windows
            summary.truncated += result.unscanned > 0
            summary.unscanned_nt += result.unscanned
            records += _bed_records(result, fractions, options.cap, models.get(result.id))
            if result.track is not None:
                tracks.append(_track_rows(result, models.get(result.id)))
        for rec in records:
            summary.by_class[(rec.fraction, rec.direction)] += 1
        summary.regions = len(records)
        summary.method = "+".join(sorted({r.method for r in results if r.skipped is None})) or "none"
        comment = (f"rnatracker {__version__} scan-zipcodes model={loaded.path} {options.describe()} "
                   f"fractions={','.join(fractions)} coordinates={'genome' if index is not None else 'transcript'}")
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(open_output(out, force))
            track_handle = stack.enter_context(open_output(track, force)) if track is not None else None
            extra = stack.enter_context(open_output(sidecar, force)) if sidecar is not None else None
            write_bed(handle, records, bed12=index is not None, comment=comment, sidecar=extra)
            if track_handle is not None:
                _write_track(track_handle, tracks)
        finished = True
    finally:
        if progress is not None:
            progress.close(finished)
    summary.seconds = time.perf_counter() - started
    return summary


def _scan_record(model, config: dict, record, settings, options: ScanOptions, device, fold, keep_track: bool) -> TranscriptResult:
    """Scan one FASTA record into a :class:`TranscriptResult` (transcript coordinates)."""
    length = len(record.codes)
    structure = fold(record.codes) if fold is not None else None
    scores = scan_transcript(model, config, record.codes, settings, device, structure, key=transcript_key(record.id))
    lo, hi = scores.scanned
    if len(scores.starts) == 0:
        part = "transcript" if (lo, hi) == (0, length) else f"scanned part ({hi - lo} of {length} nt)"
        return TranscriptResult(record.id, length, skipped=f"window ({options.window} nt) longer than the {part}")
    return TranscriptResult(
        record.id, length, call_regions(scores, options.window, options.min_kl, options.merge_gap, options.min_support),
        kl_track(scores, options.window) if keep_track else None, len(scores.starts), lo, scores.method,
    )


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
