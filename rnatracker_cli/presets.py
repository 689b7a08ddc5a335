"""Named training recipes (``--preset``): ``default`` = the best settings measured on real
data (docs/model.md lists each difference from the paper with its measurement); ``paper`` =
the settings of Yan, Lécuyer & Blanchette (2019).

A preset fills every training option the user did not give; an explicit option always wins.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from rnatracker_cli.defaults import (
    DEFAULT_BATCH_NT, DEFAULT_BATCH_SIZE, DEFAULT_CLIP_NORM, DEFAULT_EMA, DEFAULT_EPOCHS, DEFAULT_LOSS, DEFAULT_MASK, DEFAULT_MIN_EPOCHS,
    DEFAULT_MIN_SUPPORT, DEFAULT_MUTATION_RATE, DEFAULT_PATIENCE, DEFAULT_REPEATS, DEFAULT_STRIDE, DEFAULT_WARMUP,
    DEFAULT_WEIGHT_DECAY,
)
from rnatracker_cli.errors import RNATrackerError


@dataclass(frozen=True)
class Recipe:
    """Training settings a preset decides. ``lr=None`` = the architecture/mode default
    (:data:`rnatracker_cli.defaults.DEFAULT_LR`); ``batch_size`` caps the rows of a batch."""

    mode: str = "full"
    length_feature: bool = False
    length_prior: bool = True
    batch_norm: bool = True
    sum_pooling: bool = True
    lr: float | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_nt: int = DEFAULT_BATCH_NT
    patience: int = DEFAULT_PATIENCE
    clip_norm: float = DEFAULT_CLIP_NORM
    ema: float = DEFAULT_EMA
    warmup: int = DEFAULT_WARMUP
    min_epochs: int = DEFAULT_MIN_EPOCHS
    mutation_rate: float = DEFAULT_MUTATION_RATE
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    loss: str = DEFAULT_LOSS


#: The paper: no length input, no batch normalisation, no clipping/averaging/warm-up/weight decay, patience 10, and in full mode
#: one transcript per batch at lr 1e-4 (fixed mode: batches of 256 at lr 1e-3).
_PAPER = Recipe(length_prior=False, batch_norm=False, sum_pooling=False, patience=10, clip_norm=0.0, ema=0.0, warmup=0, min_epochs=0,
                mutation_rate=0.0, weight_decay=0.0, loss="kl")
_PAPER_BY_MODE: dict[str, dict[str, Any]] = {"full": {"lr": 1e-4, "batch_size": 1}, "fixed": {"lr": 1e-3}}

PRESETS: tuple[str, ...] = ("default", "paper")


def resolve_recipe(preset: str, **given: Any) -> Recipe:
    """The preset's recipe with the options the user gave (not None) applied.

    The paper's learning rate and batch size depend on the mode, so the mode is resolved first.
    Raises :class:`RNATrackerError` for an unknown preset or option.
    """
    if preset not in PRESETS:
        raise RNATrackerError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    names = {f.name for f in fields(Recipe)}
    unknown = set(given) - names
    if unknown:
        raise RNATrackerError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    explicit = {k: v for k, v in given.items() if v is not None}
    if preset == "default":
        return replace(Recipe(), **explicit)
    mode = explicit.get("mode", _PAPER.mode)
    return replace(replace(_PAPER, **_PAPER_BY_MODE.get(mode, {})), **explicit)


#: Zipcode-scan settings per preset. The default differs from the paper in the mask (random
#: bases, 10 per window, averaged, every 10 nt: as many masked copies as zero masks at stride 1)
#: and ``min_support`` 10; docs/zipcodes.md ("Masks and presets", "Regions") has the measurements.
SCAN_PRESETS: dict[str, dict[str, Any]] = {
    "default": {"mask": DEFAULT_MASK, "stride": DEFAULT_STRIDE, "repeats": DEFAULT_REPEATS,
                "min_support": DEFAULT_MIN_SUPPORT},
    "paper": {"mask": "zero", "stride": 1, "repeats": DEFAULT_REPEATS, "min_support": 1},
}


def resolve_scan_preset(preset: str, **given: Any) -> dict[str, Any]:
    """``mask``, ``stride``, ``repeats`` and ``min_support`` for ``scan-zipcodes``: the preset's values
    with the ones the user gave (not None) applied."""
    if preset not in SCAN_PRESETS:
        raise RNATrackerError(f"unknown preset {preset!r} (expected one of {', '.join(SCAN_PRESETS)})")
    unknown = set(given) - set(SCAN_PRESETS[preset])
    if unknown:
        raise RNATrackerError(f"unknown scan option(s): {', '.join(sorted(unknown))}")
    return {**SCAN_PRESETS[preset], **{k: v for k, v in given.items() if v is not None}}
