"""`predict` over files: FASTA → predictions TSV (+ attention bedGraph), streamed.

The predictor (:class:`rnatracker_cli.inference.Predictor`) does the computing; the TSV
line format lives in :mod:`rnatracker_cli.io.writers`, the bedGraph one in
:mod:`rnatracker_cli.io.bed`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.atomic import open_output
from rnatracker_cli.io.bed import format_bedgraph
from rnatracker_cli.io.fasta import read_fasta
from rnatracker_cli.io.writers import format_prediction, predict_columns
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.utils.device import resolve_device
from rnatracker_cli.workflows._outputs import check_outputs


@dataclass
class PredictSummary:
    transcripts: int
    nucleotides: int
    seconds: float
    device: str
    model: str


def predict_fasta(model_path: str, fasta: str, out: str = "-", attention: str | None = None,
                  device: str = "auto", batch_nt: int | None = None, bf16: bool = False,
                  force: bool = False, max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT) -> PredictSummary:
    """`predict`: stream ``fasta`` through the model at ``model_path``; write TSV (+ bedGraph).

    Both outputs are checked before any input is read and written atomically (a failure
    leaves no partial file; ``-`` streams the TSV to stdout). Structure models fold each
    record with their training cache's settings; transcripts longer than the training
    cache's ``--max-length`` lose their 5' end as they did in training.
    """
    if batch_nt is not None and batch_nt < 1:
        raise RNATrackerError("--batch-nt must be positive")
    check_outputs(out, attention, "--attention", force, extra_to_stdout=False)
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    predictor = Predictor(loaded.model, loaded.config, dev, batch_nt=batch_nt, bf16=bf16,
                          max_transcript_nt=max_transcript_nt)
    if attention is not None and not predictor.has_attention:
        raise RNATrackerError(f"--attention: a {loaded.config['arch']} model has no attention weights")
    started = time.perf_counter()
    n, nt = 0, 0
    with contextlib.ExitStack() as stack:
        table = stack.enter_context(open_output(out, force))
        track_out = stack.enter_context(open_output(attention, force)) if attention is not None else None
        spread = predictor.is_ensemble
        table.write("\t".join(predict_columns(loaded.fractions, spread)) + "\n")
        records = predictor.stream(read_fasta(fasta), attention=attention is not None, fold=loaded.fold_function(),
                                   spread=spread and attention is None)
        for record, probs, track, *sd in records:
            table.write(format_prediction(record.id, len(record.codes), probs, loaded.fractions, sd[0] if sd else None))
            if track_out is not None:
                track_out.write(format_bedgraph(record.id, track.starts, track.ends, track.values))
            n += 1
            nt += len(record.codes)
    return PredictSummary(n, nt, time.perf_counter() - started, str(dev), str(loaded.path))

