"""`scan-zipcodes` over files: FASTA → scanned transcripts → BED (+ bedGraph track).

Transcripts are read one at a time (stdin works), scanned with
:class:`rnatracker_cli.interpret.scan.TranscriptScanner`, and their regions collected; the
BED (and track) are written at the end, sorted, atomically. With a file output, finished
transcripts are kept in ``OUT.part`` (:mod:`rnatracker_cli.interpret.progress`) so that an
interrupted run resumes. See docs/zipcodes.md.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnatracker_cli import __version__
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT
from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.interpret.progress import Progress, TranscriptResult, file_sha256, sequence_sha256
from rnatracker_cli.interpret.scan import ScanOptions, ScanSummary, TranscriptScanner, collect_regions
from rnatracker_cli.io.atomic import check_output, open_output
from rnatracker_cli.io.bed import TranscriptIndex, ZipcodeRecord, format_bedgraph, sidecar_path, write_bed
from rnatracker_cli.io.fasta import fasta_ids, read_fasta
from rnatracker_cli.io.gtf import TranscriptModel
from rnatracker_cli.io.tables import strip_version
from rnatracker_cli.utils.shard import Shard, check_shard, shard_bounds
from rnatracker_cli.workflows._outputs import check_outputs

__all__ = ["ScanOptions", "ScanSummary", "parse_ids", "scan_fasta"]


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
               max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT, sidecar: str | None = None,
               shard: Shard | None = None) -> ScanSummary:
    """Scan every (selected) transcript of ``fasta``; write the BED to ``out`` (``-`` = stdout).

    track: bedGraph of per-nucleotide KL; gtf: project BED rows (standard BED12) and the track
    to genomic coordinates; the BED12's extra columns go to ``sidecar`` (default
    :func:`~rnatracker_cli.io.bed.sidecar_path` of ``out``; none when ``out`` is stdout and no
    sidecar is given). Outputs are checked before any work and written atomically at the
    end; with ``out`` a file, finished transcripts are kept in ``OUT.part`` so an interrupted
    run resumes (:mod:`rnatracker_cli.interpret.progress`). on_skip/on_transcript: called
    for each skipped / scanned transcript. max_transcript_nt: longest transcript accepted.

    shard: ``(K, N)`` to scan only the K-th of N contiguous blocks of the selected records
    (``ids`` apply first; :mod:`rnatracker_cli.utils.shard`; not from stdin). Its outputs
    (and its ``OUT.part``, so it resumes on its own) are its own files, which
    `rnatracker merge` joins back into exactly the single run's.
    """
    from rnatracker_cli.io.gtf import read_gtf
    from rnatracker_cli.model.checkpoint import load_model
    from rnatracker_cli.utils.device import resolve_device

    options = options or ScanOptions()
    if shard is not None:
        shard = check_shard(shard)
        if str(fasta) == "-":
            raise RNATrackerError("--shard needs a FASTA file, not stdin: the records are counted before the run")
    check_outputs(out, track, "--track", force)
    sidecar = _sidecar(out, track, gtf, sidecar, force)
    where = "<stdin>" if str(fasta) == "-" else str(fasta)
    selection = _preflight_ids(fasta, ids, where)
    lo, hi = _shard_range(fasta, ids, shard)
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    scanner = TranscriptScanner(loaded, options, dev, track is not None, max_transcript_nt)
    index = TranscriptIndex(read_gtf(gtf)) if gtf is not None else None
    progress = _open_progress(out, loaded, options, track, force)
    summary = ScanSummary(device=str(dev), model=str(loaded.path), max_len=scanner.input_nt, sidecar=sidecar,
                          shard=shard, first=lo)
    models: dict[str, TranscriptModel] = {}
    started = time.perf_counter()
    finished = False
    try:
        results = []
        position = -1  # among the selected records
        for record in read_fasta(fasta):
            if not selection.wants(record.id):
                continue
            position += 1
            if position < lo:
                continue
            if position >= hi:
                break  # the other shards' (every requested id was found by the preflight)
            summary.records += 1
            if index is not None:
                models[record.id] = index.get(record.id, len(record.codes), str(gtf))
            result = _resume_or_scan(scanner, record, progress, summary)
            results.append(result)
            _announce(result, summary, on_skip, on_transcript)
        if shard is None:
            selection.check(where)
        records, tracks = collect_regions(results, loaded.fractions, options.cap, models, summary)
        comment = (f"rnatracker {__version__} scan-zipcodes model={loaded.path} {options.describe()} "
                   f"fractions={','.join(loaded.fractions)} coordinates={'genome' if index is not None else 'transcript'}")
        _write_outputs(out, track, force, records, tracks, index is not None, comment, sidecar)
        finished = True
    finally:
        if progress is not None:
            progress.close(finished)
    summary.seconds = time.perf_counter() - started
    return summary


def _preflight_ids(fasta: str, ids: list[str] | None, where: str) -> _Selection:
    """Fail before the (long) scan when a requested id is missing (stdin can only be
    checked at the end); returns a fresh selection for the scan."""
    if ids is not None and str(fasta) != "-":
        selection = _Selection(ids)
        for record in read_fasta(fasta):
            selection.wants(record.id)
        selection.check(where)
    return _Selection(ids)


def _shard_range(fasta: str, ids: list[str] | None, shard: Shard | None) -> tuple[int, int]:
    """Positions ``[lo, hi)`` among the selected records that this run scans (all without a
    shard); the selected records are counted from the headers alone."""
    if shard is None:
        return 0, 2**63
    counter = _Selection(ids)
    return shard_bounds(shard, sum(1 for rid in fasta_ids(fasta) if counter.wants(rid)))


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


def _sidecar(out: str, track: str | None, gtf: str | None, sidecar: str | None, force: bool) -> str | None:
    """Where the genomic BED12's extra columns go (checked like the other outputs)."""
    if sidecar is not None and gtf is None:
        raise RNATrackerError("--sidecar is for genomic output (--gtf): transcript-coordinate BEDs keep their extra columns")
    if gtf is not None and sidecar is None and str(out) != "-":
        sidecar = str(sidecar_path(out))
    if sidecar is not None:
        if str(sidecar) in {str(out), str(track)}:
            raise RNATrackerError("--sidecar must differ from --out and --track")
        check_output(sidecar, force)
    return sidecar


def _write_outputs(out: str, track: str | None, force: bool, records: list[ZipcodeRecord], tracks: list[tuple],
                   genomic: bool, comment: str, sidecar: str | None = None) -> None:
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_output(out, force))
        track_handle = stack.enter_context(open_output(track, force)) if track is not None else None
        extra = stack.enter_context(open_output(sidecar, force)) if sidecar is not None else None
        write_bed(handle, records, bed12=genomic, comment=comment, sidecar=extra)
        if track_handle is not None:
            _write_track(track_handle, tracks)


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
