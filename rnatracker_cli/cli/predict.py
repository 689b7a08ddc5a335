"""`rnatracker predict`: localization of new transcripts (TSV, optional attention bedGraph)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rnatracker_cli.cli._common import cli_errors, console, model_and_fasta, shard_note
from rnatracker_cli.cli._options import FastaArgs, ModelOpt, Bf16, Debug, Device, Force, MaxTranscriptNt, Quiet, ShardOpt
from rnatracker_cli.defaults import DEFAULT_MAX_TRANSCRIPT_NT


def predict(
    inputs: FastaArgs,
    model: ModelOpt = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Predictions TSV (- = stdout).")] = "-",
    attention: Annotated[
        Optional[str], typer.Option("--attention", help="Also write attention weights per nucleotide as bedGraph.")
    ] = None,
    batch_nt: Annotated[
        Optional[int],
        typer.Option("--batch-nt", help="Padded nucleotides per prediction batch (default 100,000 on CPU, 1,000,000 on CUDA)."),
    ] = None,
    max_transcript_nt: MaxTranscriptNt = DEFAULT_MAX_TRANSCRIPT_NT,
    shard: ShardOpt = None,
    device: Device = "auto",
    bf16: Bf16 = False,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Predict the distribution over compartments of each transcript: id, length, fractions, predominant."""
    from rnatracker_cli.workflows.predict import predict_fasta
    from rnatracker_cli.utils.device import limit_kernel_cache
    from rnatracker_cli.utils.shard import parse_shard

    con = console(quiet)
    limit_kernel_cache()
    with cli_errors(debug):
        shard_kn = parse_shard(shard) if shard is not None else None
        model, fasta = model_and_fasta(inputs, model, "predict")
        s = predict_fasta(model, fasta, out=out, attention=attention, device=device, batch_nt=batch_nt,
                          bf16=bf16, force=force, max_transcript_nt=max_transcript_nt, shard=shard_kn)
        rate = s.nucleotides / s.seconds if s.seconds > 0 else float("inf")
        con.print(f"{shard_note(s.shard, s.first, s.transcripts)}predicted {s.transcripts} transcripts ({s.nucleotides:,} nt) in {s.seconds:.1f}s "
                  f"({rate:,.0f} nt/s) on {s.device}" + ("" if out == "-" else f" → {out}"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
