"""Options shared by several commands, defined once (Annotated aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

CacheArg = Annotated[Path, typer.Argument(help="Dataset cache (CACHE.h5) from `rnatracker prepare`.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (recorded with the outputs).")]
Workers = Annotated[int, typer.Option("--workers", help="Worker processes (>= 1).")]
Bf16 = Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast (CUDA only).")]
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
]
MaxTranscriptNt = Annotated[
    int,
    typer.Option("--max-transcript-nt",
                 help="Refuse transcripts longer than this (nt): a forward pass needs ~200 bytes per nt."),
]

# -- model and training options shared by `train` and `cv` -------------------------------------
Mode = Annotated[
    str, typer.Option("--mode", help="full: every nucleotide, length-batched; fixed: 5'-truncated/padded to --max-len.")
]
Input = Annotated[
    str,
    typer.Option("--input", "--encoding",
                 help="Input encoding: seq, seqxstruct or seq+struct (structure needs `rnatracker fold`)."),
]
MaxLen = Annotated[
    Optional[int],
    typer.Option("--max-len", help="Input length (fixed mode, default 4000); in full mode an optional 5' truncation."),
]
LengthFeature = Annotated[
    bool, typer.Option("--length-feature", help="Join log(transcript length) to the context vector (not in the paper).")
]
Epochs = Annotated[int, typer.Option("--epochs", help="Maximum number of epochs.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Transcripts per batch (fixed mode; a cap in full mode).")]
BatchNt = Annotated[int, typer.Option("--batch-nt", help="Full mode: padded nucleotides per batch (rows × longest row).")]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Learning rate (default 1e-3 in both modes, 5e-2 for the length baseline; see docs/model.md).")]
Patience = Annotated[
    int, typer.Option("--patience", help="Stop after this many epochs without a lower validation loss (0 = never).")
]
ClipNorm = Annotated[
    float, typer.Option("--clip-norm", help="Clip the gradient's global norm to this value before each step (0 = off).")
]
ValFraction = Annotated[
    float, typer.Option("--val-fraction", help="Share of the training transcripts (whole genes) held out for early stopping.")
]
