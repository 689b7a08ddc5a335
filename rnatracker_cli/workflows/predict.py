"""`predict` over files: FASTA → predictions TSV (+ attention bedGraph), streamed.

The predictor (:class:`rnatracker_cli.inference.Predictor`) does the computing; the TSV
line format lives in :mod:`rnatracker_cli.io.writers`, the bedGraph one in
:mod:`rnatracker_cli.io.bed`.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass

from rnatracker_cli import __version__
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.inference import Predictor
from rnatracker_cli.io.atomic import open_output
from rnatracker_cli.io.bed import attention_comment, format_bedgraph
from rnatracker_cli.io.fasta import fasta_ids, read_fasta
from rnatracker_cli.io.writers import format_prediction, predict_columns
from rnatracker_cli.model.checkpoint import load_model
from rnatracker_cli.utils.device import resolve_device
from rnatracker_cli.utils.shard import Shard, check_shard, shard_bounds
from rnatracker_cli.workflows._outputs import check_outputs


@dataclass
class PredictSummary:
    transcripts: int
    nucleotides: int
    seconds: float
    device: str
    model: str
    shard: Shard | None = None
    first: int = 0


def predict_fasta(model_path: str, fasta: str, out: str = "-", attention: str | None = None,
                  device: str = "auto", batch_nt: int | None = None, bf16: bool = False,
                  force: bool = False, max_transcript_nt: int | None = DEFAULT_MAX_TRANSCRIPT_NT,
                  shard: Shard | None = None) -> PredictSummary:
    """`predict`: stream ``fasta`` through the model at ``model_path``; write TSV (+ bedGraph).

    Both outputs are checked before any input is read and written atomically (a failure
    leaves no partial file; ``-`` streams the TSV to stdout). Structure models fold each
    record with their training cache's settings; transcripts longer than the training
    cache's ``--max-length`` lose their 5' end as they did in training.

    shard: ``(K, N)`` to predict only the K-th of N contiguous blocks of records
    (:mod:`rnatracker_cli.utils.shard`; the records are counted in a first pass, so not
    from stdin); its outputs are the rows of the single run's files for those records, which
    `rnatracker merge` joins back into exactly the single run's files. The attention
    bedGraph starts with one ``#`` line (:func:`~rnatracker_cli.io.bed.attention_comment`).
    """
    if batch_nt is not None and batch_nt < 1:
        raise RNATrackerError("--batch-nt must be positive")
    if shard is not None:
        shard = check_shard(shard)
        if str(fasta) == "-":
            raise RNATrackerError("--shard needs a FASTA file, not stdin: the records are counted before the run")
    check_outputs(out, attention, "--attention", force, extra_to_stdout=False)
    dev = resolve_device(device)
    loaded = load_model(model_path, dev)
    predictor = Predictor(loaded.model, loaded.config, dev, batch_nt=batch_nt, bf16=bf16,
                          max_transcript_nt=max_transcript_nt)
    if attention is not None and not predictor.has_attention:
        k = int(loaded.config.get("replicates", 1))
        if k > 1:
            raise RNATrackerError(f"--attention: this model is an ensemble of {k} networks, whose attention maps "
                                  "differ; pass one network's checkpoint (e.g. a run trained without --replicates)")
        raise RNATrackerError(f"--attention: a {loaded.config['arch']} model has no attention weights")
    started = time.perf_counter()
    records = read_fasta(fasta)
    lo = 0
    if shard is not None:
        # Records before the block are still parsed (and checked), so that the N shards fail
        # on a bad file exactly when the single run would; those after it are never read.
        lo, hi = shard_bounds(shard, sum(1 for _ in fasta_ids(fasta)))
        records = itertools.islice(records, lo, hi)
    n, nt = 0, 0
    with contextlib.ExitStack() as stack:
        table = stack.enter_context(open_output(out, force))
        track_out = stack.enter_context(open_output(attention, force)) if attention is not None else None
        spread = predictor.is_ensemble
        table.write("\t".join(predict_columns(loaded.fractions, spread)) + "\n")
        if track_out is not None:
            track_out.write(attention_comment(__version__, loaded.path) + "\n")
        results = predictor.stream(records, attention=attention is not None, fold=loaded.fold_function(),
                                   spread=spread and attention is None)
        for record, probs, track, *sd in results:
            table.write(format_prediction(record.id, len(record.codes), probs, loaded.fractions, sd[0] if sd else None))
            if track_out is not None:
                track_out.write(format_bedgraph(record.id, track.starts, track.ends, track.values))
            n += 1
            nt += len(record.codes)
    return PredictSummary(n, nt, time.perf_counter() - started, str(dev), str(loaded.path), shard, lo)

