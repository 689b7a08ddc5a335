"""Training and zipcode-scan defaults and the per-transcript length cap, shared by the library and the CLI (no
heavy imports here, so that `rnatracker --help` stays fast). See docs/model.md for why each
value was chosen."""

from __future__ import annotations

from rnatracker_cli.errors import RNATrackerError

#: Learning rate per input mode. The paper used 1e-4 in full mode with batch size 1; with
#: length batching an epoch has few updates and 1e-3 learns much faster (docs/model.md).
DEFAULT_LR = {"fixed": 1e-3, "full": 1e-3}
#: Architectures whose default learning rate differs from the mode's. ``length`` has one
#: weight per fraction: at 1e-3 its slope moved so slowly from its random start that early
#: stopping kept the wrong sign in 2 of 10 lncATLAS folds (docs/model.md).
DEFAULT_LR_BY_ARCH = {"length": 5e-2}
DEFAULT_EPOCHS = 100
DEFAULT_BATCH_SIZE = 256
#: Padded nucleotides per training batch in mode ``full`` (rows × longest row).
DEFAULT_BATCH_NT = 50_000
#: Epochs without a lower validation loss before training stops. 20, not 10: the deep model
#: learns motifs one after another with plateaus of up to ~10 epochs between them, and 10
#: ended runs on such a plateau (docs/model.md, "Patience").
DEFAULT_PATIENCE = 20
#: Global gradient-norm clipping (0 = off; not in the paper). Without it, full-mode training on
#: simulated data repeatedly jumped back up the loss after learning its first motif and
#: early stopping ended the run there; with 1.0 the same run kept improving (docs/model.md).
DEFAULT_CLIP_NORM = 1.0
DEFAULT_VAL_FRACTION = 0.1
#: Exponential moving average of the weights, decay per optimiser step (0 = off; not in the
#: paper). Validation, early stopping and the saved model use the averaged weights
#: (docs/model.md, "Weight averaging").
DEFAULT_EMA = 0.99
#: Epochs of linear learning-rate warm-up (0 = off; not in the paper).
DEFAULT_WARMUP = 1
#: Early stopping counts epochs without improvement only after this many epochs.
DEFAULT_MIN_EPOCHS = 10
#: Probability that a training base is redrawn at random, anew every batch (0 = off; not in
#: the paper): substitution augmentation (docs/model.md, "Mutation augmentation").
DEFAULT_MUTATION_RATE = 0.0
#: Decoupled weight decay (AdamW-style, 0 = off; not in the paper): every optimiser step shrinks
#: each weight matrix and convolution kernel by ``lr × weight_decay`` of itself; biases,
#: normalisation parameters and the fixed length prior are not decayed, so the decay pulls the
#: network's correction towards the length baseline (docs/model.md, "Weight decay").
DEFAULT_WEIGHT_DECAY = 0.0
#: Training loss (validation, early stopping and every reported loss stay KL): ``kl`` = KL(p‖q),
#: the paper's; ``clr`` = half the mean squared error between centred log fractions (targets
#: floored at :data:`CLR_FLOOR`), which weighs a fraction pushed down as much as one pushed up;
#: ``kl+clr`` = their sum; ``auto`` = :data:`AUTO_FRACTIONS_LOSS` on measured fractions, ``kl``
#: when at least half the targets are 0/1 labels (docs/model.md, "Loss").
LOSSES = ("auto", "kl", "clr", "kl+clr")
DEFAULT_LOSS = "auto"
AUTO_FRACTIONS_LOSS = "kl+clr"
CLR_FLOOR = 1e-3
#: Zipcode scan (`scan-zipcodes`): masked window length (nt) and the KL a window must exceed.
DEFAULT_WINDOW = 100
DEFAULT_MIN_KL = 0.0075
#: Default mask, stride and repeats: random bases, 10 draws per window (their predictions
#: averaged), every 10 nt — as many masked copies as the paper's zero mask at stride 1, and on
#: the simulated recovery benchmark the same recall with fewer false calls: a zero block puts a
#: full-length network far outside its training inputs, most visibly at transcript ends
#: (docs/zipcodes.md, "Masks and presets"). ``--preset paper``: zero mask, stride 1.
DEFAULT_MASK = "random"
DEFAULT_STRIDE = 10
DEFAULT_REPEATS = 10
#: A called window must stay above min_kl while the window slides this many nt (not in the
#: paper, whose rule is 1). With zero masks, a lone window above the threshold is nearly always
#: an artifact of where the all-zero block's edge falls (docs/zipcodes.md, "Regions"); at the
#: default stride of 10 one window is enough.
DEFAULT_MIN_SUPPORT = 10
#: Longest transcript `predict`, `scan-zipcodes` and the Python API accept (nucleotides).
#: The longest annotated human transcripts are ~0.1–0.35 Mb; a forward pass holds about
#: 200 bytes per nucleotide (one-hot input, 32-channel convolution outputs), so 1 Mb needs
#: ~200 MB and a 50-Mb record (a chromosome by mistake) would need ~10 GB: refused with a
#: clear error instead (`--max-transcript-nt` raises the cap). See docs/user-guide.md.
DEFAULT_MAX_TRANSCRIPT_NT = 1_000_000


def check_transcript_length(name: str, length: int, cap: int | None) -> None:
    """Refuse a transcript longer than ``cap`` nucleotides (None = no cap) before any
    allocation proportional to it (see :data:`DEFAULT_MAX_TRANSCRIPT_NT`)."""
    if cap is not None and length > cap:
        raise RNATrackerError(
            f"{name} is {length:,} nt long, more than the {cap:,}-nt limit per transcript "
            "(--max-transcript-nt; a forward pass needs about 200 bytes per nt)"
        )
