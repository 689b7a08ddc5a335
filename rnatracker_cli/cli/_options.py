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
Preset = Annotated[
    str,
    typer.Option("--preset", help="Training recipe for every option not given: default (best measured, docs/model.md) or paper."),
]
Mode = Annotated[
    Optional[str], typer.Option("--mode", help="full: every nucleotide, length-batched; fixed: 5'-truncated/padded to --max-len. \\[preset: full]")
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
    Optional[bool],
    typer.Option("--length-feature/--no-length-feature",
                 help="Join log(transcript length) to the context vector (not in the paper). \\[preset: off]"),
]
LengthPrior = Annotated[
    Optional[bool],
    typer.Option("--length-prior/--no-length-prior",
                 help="CNN models: add the network's output to a frozen length-alone model fitted first, "
                      "shrunk on the validation split (not in the paper). \\[default preset: on]"),
]
BatchNorm = Annotated[
    Optional[bool],
    typer.Option("--batch-norm/--no-batch-norm",
                 help="CNN models: batch-normalise each convolution's output before its ReLU (not in the paper). "
                      "\\[default preset: on]"),
]
SumPooling = Annotated[
    Optional[bool],
    typer.Option("--sum-pooling/--no-sum-pooling",
                 help="CNN models: also pool the LSTM outputs by their sum (per 100 steps), which counts "
                      "elements whatever the length (not in the paper). \\[default preset: on]"),
]
Epochs = Annotated[Optional[int], typer.Option("--epochs", help="Maximum number of epochs. \\[preset: 100]")]
BatchSize = Annotated[
    Optional[int], typer.Option("--batch-size", help="Transcripts per batch (fixed mode; a cap in full mode). \\[default preset: 256]")
]
BatchNt = Annotated[
    Optional[int], typer.Option("--batch-nt", help="Full mode: padded nucleotides per batch (rows × longest row). \\[preset: 50000]")
]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Learning rate (default 1e-3 in both modes, 5e-2 for the length baseline; paper preset 1e-4 in full mode).")]
Patience = Annotated[
    Optional[int],
    typer.Option("--patience", help="Stop after this many epochs without a lower validation loss (0 = never). \\[default preset: 20]"),
]
ClipNorm = Annotated[
    Optional[float],
    typer.Option("--clip-norm", help="Clip the gradient's global norm to this value before each step (0 = off). \\[default preset: 1.0]"),
]
Ema = Annotated[
    Optional[float],
    typer.Option("--ema", help="Validate and keep an exponential moving average of the weights, decay per step (0 = off). \\[default preset: 0.99]"),
]
Warmup = Annotated[Optional[int], typer.Option("--warmup", help="Epochs of linear learning-rate warm-up (0 = off). \\[default preset: 1]")]
MinEpochs = Annotated[
    Optional[int], typer.Option("--min-epochs", help="Early stopping never stops before this epoch. \\[default preset: 10]")
]
MutationRate = Annotated[
    Optional[float],
    typer.Option("--mutation-rate", help="Redraw each training base at random with this probability, anew every batch "
                 "(substitution augmentation; 0 = off). \\[default preset: 0]"),
]
WeightDecay = Annotated[
    Optional[float],
    typer.Option("--weight-decay", help="Decoupled weight decay: every step shrinks each weight matrix and kernel by "
                 "lr × this of itself (biases, normalisation and the length prior are not decayed; 0 = off). "
                 "\\[default preset: 0]"),
]
Loss = Annotated[
    Optional[str],
    typer.Option("--loss", help="Training loss: kl (KL divergence, the paper's), clr (squared error of centred log "
                 "fractions: a fraction pushed down weighs as much as one pushed up), kl+clr (their sum), or auto "
                 "(kl on 0/1 labels, kl+clr on measured fractions). Validation always uses KL. "
                 "\\[default preset: auto; paper: kl]"),
]
Threads = Annotated[
    Optional[int],
    typer.Option("--threads", help="CPU threads for PyTorch (default 1: measured fastest per job on shared cores; docs/model.md)."),
]
Replicates = Annotated[
    int,
    typer.Option("--replicates", help="Train K members (seeds SEED..SEED+K-1, each with its own validation split) saved as one "
                                      "ensemble; predictions average them and report their spread."),
]
Init = Annotated[
    Optional[str],
    typer.Option("--init", help="Fine-tune: start from this model's weights (built-in name, model.pt or run directory); "
                                "its architecture is used and its length prior refitted on this data."),
]
FineTune = Annotated[
    Optional[str],
    typer.Option("--fine-tune", help="With --init: head (default; refit the length prior and the output layer on the "
                                     "frozen network's features on the --loss, no epochs) or all (train every weight from the initial ones)."),
]
ValFraction = Annotated[
    float, typer.Option("--val-fraction", help="Share of the training transcripts (whole genes) held out for early stopping.")
]

# -- model + input of predict / scan-zipcodes ---------------------------------------------------
ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="A built-in model's name (`rnatracker models`), a model.pt, or the run directory "
                                       "holding it. Default: the built-in default model."),
]
FastaArgs = Annotated[
    list[str],
    typer.Argument(help="Transcript FASTA (plain or gzipped; - for stdin). The older form MODEL FASTA is still accepted.",
                   metavar="FASTA"),
]
ShardOpt = Annotated[
    Optional[str],
    typer.Option("--shard", help="K/N: process only the K-th of N contiguous blocks of the FASTA's records (a file, not "
                                 "stdin), into this run's own outputs; `rnatracker merge` joins the N outputs into "
                                 "exactly the single run's."),
]
