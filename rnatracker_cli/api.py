"""The public Python API: load a model, predict and scan sequences held in memory.

The functions are re-exported at the package top level::

    import rnatracker_cli as rt
    model = rt.load_model("runs/lncatlas")                 # model.pt or its run directory
    table = rt.predict_sequences(model, {"tx1": "ACGU…"})  # pandas DataFrame
    regions = rt.scan_sequences(model, {"tx1": "ACGU…"}, window=100, stride=10)

They go through the same code as ``rnatracker predict`` and ``rnatracker scan-zipcodes``
(:class:`rnatracker_cli.inference.Predictor`,
:class:`rnatracker_cli.interpret.scan.TranscriptScanner`), with the same validation: an
invalid letter, an empty or duplicated record, or a transcript over the length cap raises
:class:`rnatracker_cli.errors.RNATrackerError` (an :class:`InputError`) with the message the
CLI prints after ``error:``. See docs/api.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from rnatracker_cli.alphabet import encode
from rnatracker_cli.defaults import (
    DEFAULT_MASK, DEFAULT_MAX_TRANSCRIPT_NT, DEFAULT_MIN_KL, DEFAULT_MIN_SUPPORT, DEFAULT_REPEATS, DEFAULT_STRIDE,
    DEFAULT_WINDOW, check_transcript_length,
)
from rnatracker_cli.errors import InputError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.interpret.scan import ScanOptions, ScanSummary, TranscriptScanner, collect_regions
from rnatracker_cli.io.bed import BED_COLUMNS, ZipcodeRecord, format_bed6
from rnatracker_cli.io.fasta import FastaRecord
from rnatracker_cli.io.writers import predict_columns
from rnatracker_cli.model import checkpoint
from rnatracker_cli.model.checkpoint import LoadedModel, resolve_model
from rnatracker_cli.utils.device import resolve_device

__all__ = ["LoadedModel", "as_records", "load_model", "predict_sequences", "resolve_model", "scan_sequences"]

Sequences = Mapping[str, "str | np.ndarray"] | Iterable


def load_model(path_or_run_dir: str | os.PathLike | None = None, device: str | None = None) -> LoadedModel:
    """Load a trained model in eval mode on ``device`` (None = CUDA when present, else CPU):
    a built-in model's name, a ``model.pt`` or the run directory holding it, or (None) the
    built-in default model (resolved by :func:`resolve_model`)."""
    return checkpoint.load_model(path_or_run_dir, resolve_device("auto" if device is None else device))


def as_records(sequences: Sequences, max_transcript_nt: int | None = None) -> list[FastaRecord]:
    """Validate and encode in-memory sequences.

    sequences: ``{id: seq}``, a list of ``seq`` (ids ``seq1``, ``seq2``, … in order) or a list
    of ``(id, seq)``; ``seq`` is a string (ACGTUN and IUPAC ambiguity codes, any case; U = T)
    or a uint8 code array (A C G T N = 0..4). Raises :class:`InputError` naming the record for
    an invalid letter or code, an empty sequence, a duplicate id or an empty input, and
    :class:`RNATrackerError` for a sequence longer than ``max_transcript_nt`` (checked first).
    """
    if isinstance(sequences, (str, bytes)):
        raise InputError("sequences: give {id: sequence}, a list of sequences or a list of (id, sequence), not one string")
    pairs = list(sequences.items()) if isinstance(sequences, Mapping) else [
        item if isinstance(item, tuple) else (f"seq{i + 1}", item) for i, item in enumerate(sequences)]
    if not pairs:
        raise InputError("sequences: no sequences given")
    records, seen = [], set()
    for pair in pairs:
        if len(pair) != 2:
            raise InputError(f"sequences: expected (id, sequence) pairs, got {pair!r:.60}")
        rid, seq = str(pair[0]), pair[1]
        if rid in seen:
            raise InputError(f"sequences: duplicate id {rid}")
        seen.add(rid)
        if hasattr(seq, "__len__"):  # before encoding: a huge record costs nothing more
            check_transcript_length(rid, len(seq), max_transcript_nt)
        records.append(_record(rid, seq))
    return records


def _record(rid: str, seq) -> FastaRecord:
    if isinstance(seq, (str, bytes)):
        raw = seq.encode() if isinstance(seq, str) else seq
        if not raw:
            raise InputError(f"record {rid} has no sequence")
        codes, n_amb, bad = encode(raw)
        if bad >= 0:
            ch = chr(raw[bad]) if 32 < raw[bad] < 127 else f"\\x{raw[bad]:02x}"
            raise InputError(f"record {rid} has invalid character '{ch}' at position {bad + 1} "
                             "(allowed: ACGTUN and IUPAC ambiguity codes)")
        return FastaRecord(rid, "", codes, n_amb)
    codes = np.asarray(seq)
    if codes.ndim != 1 or codes.dtype.kind not in "iu":
        raise InputError(f"record {rid}: a sequence is a string or a 1-D integer code array (A C G T N = 0..4)")
    if not len(codes):
        raise InputError(f"record {rid} has no sequence")
    bad = np.flatnonzero((codes < 0) | (codes > 4))
    if bad.size:
        raise InputError(f"record {rid} has invalid code {int(codes[bad[0]])} at position {int(bad[0]) + 1} "
                         "(A C G T N = 0..4)")
    return FastaRecord(rid, "", codes.astype(np.uint8), 0)


def _loaded(model: LoadedModel | str | os.PathLike) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def predict_sequences(model: LoadedModel | str | os.PathLike, sequences: Sequences, *, batch_nt: int | None = None,
                      bf16: bool = False, max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT) -> pd.DataFrame:
    """Predicted localization of each sequence, in input order.

    Returns a DataFrame with the columns of ``rnatracker predict``'s TSV: ``id`` (str),
    ``length`` (int, nt), one float column per fraction (probabilities summing to 1, not
    rounded) and ``predominant`` (the fraction with the largest probability); for ensembles
    (``train --replicates``, the built-in models) also ``sd_<fraction>``, the standard deviation
    of each fraction across the members.
    """
    loaded = _loaded(model)
    records = as_records(sequences, max_transcript_nt)
    predictor = Predictor(loaded.model, loaded.config, loaded.device, batch_nt=batch_nt, bf16=bf16,
                          max_transcript_nt=max_transcript_nt)
    spread = predictor.is_ensemble
    rows = [(r.id, len(r.codes), *p.astype(float).tolist(), loaded.fractions[int(np.argmax(p))],
             *(sd[0].astype(float).tolist() if sd else []))
            for r, p, _, *sd in predictor.stream(records, fold=loaded.fold_function(), spread=spread)]
    return pd.DataFrame(rows, columns=predict_columns(loaded.fractions, spread))


def scan_sequences(model: LoadedModel | str | os.PathLike, sequences: Sequences, *, window: int = DEFAULT_WINDOW,
                   stride: int = DEFAULT_STRIDE, min_kl: float = DEFAULT_MIN_KL, merge_gap: int = 0,
                   min_support: int = DEFAULT_MIN_SUPPORT, score_cap: float | None = None, mask: str = DEFAULT_MASK,
                   repeats: int = DEFAULT_REPEATS, seed: int = 0, method: str = "auto",
                   max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT) -> pd.DataFrame:
    """Zipcode regions of each sequence, as ``rnatracker scan-zipcodes`` finds them (same
    options and defaults; docs/zipcodes.md).

    Returns a DataFrame with the BED6+4 columns of its output (transcript coordinates,
    0-based half-open), sorted like the file: ``chrom`` (the sequence id), ``start``, ``end``
    (int), ``name``, ``score`` (int 0–1000), ``strand``, ``kl_peak`` (float), ``fraction``,
    ``direction`` and ``deltas`` (comma-separated masked − original probabilities, one per
    fraction, as in the file). Sequences shorter than the window give no rows.
    """
    loaded = _loaded(model)
    records = as_records(sequences, max_transcript_nt)
    options = ScanOptions(window=window, stride=stride, min_kl=min_kl, merge_gap=merge_gap, min_support=min_support,
                          score_cap=score_cap, mask=mask, repeats=repeats, seed=seed, method=method)
    scanner = TranscriptScanner(loaded, options, loaded.device, max_transcript_nt=max_transcript_nt)
    results = [scanner.scan(r) for r in records]
    regions, _ = collect_regions(results, loaded.fractions, options.cap, {}, ScanSummary())
    rows = [format_bed6(r).rstrip("\n").split("\t") for r in sorted(regions, key=ZipcodeRecord.sort_key)]
    frame = pd.DataFrame(rows, columns=list(BED_COLUMNS))
    return frame.astype({"start": "int64", "end": "int64", "score": "int64", "kl_peak": "float64"})
