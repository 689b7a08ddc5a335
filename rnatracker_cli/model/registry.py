"""Architectures by name, built from a JSON-able config (the one stored in checkpoints).

A config is a flat dict::

    {"arch": "rnatracker", "encoding": "seq", "mode": "full", "max_len": null,
     "n_fractions": 4, "length_feature": false, "length_prior": false, "batch_norm": false,
     "sum_pooling": false,
     "filters": 32, "kernel": 10, "pool": 3, "conv_layers": 2, "dropout": 0.2,
     "lstm_units": 32}                         # CNN architectures
    {"arch": "kmer-dnn", ..., "hidden_layers": 2, "dropout": 0.2, "k_max": 5}   # k-mer baselines
    {"arch": "length", ..., "hidden_layers": 0, "dropout": 0.0, "k_max": 0}     # length alone
    {"arch": "kmer-gbm", ..., "k_min": 3, "k_max": 5, "n_estimators": 200,      # LightGBM
     "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 15, "subsample": 0.8,
     "colsample": 0.5, "reg_lambda": 1.0, "early_stopping_rounds": 0, "num_threads": 1}

Defaults are the paper's (docs/model.md). ``mode``/``max_len`` describe how inputs are
padded (see :mod:`rnatracker_cli.encoding`); ``max_len`` is 4,000 in mode ``fixed`` and
None (every nucleotide) in mode ``full`` unless given.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnatracker_cli.encoding import MODES, get_encoding
from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.model.gbm import GBM_DEFAULTS, GBMNet
from rnatracker_cli.model.kmer import K_MAX, KmerNet
from rnatracker_cli.model.rnatracker import VARIANTS, RNATrackerNet

FIXED_MAX_LEN = 4000

_CNN_DEFAULTS: dict[str, Any] = {
    "filters": 32, "kernel": 10, "pool": 3, "conv_layers": 2, "dropout": 0.2, "lstm_units": 32,
}
_KMER_DEFAULTS: dict[str, dict[str, Any]] = {
    "kmer-dnn": {"hidden_layers": 2, "dropout": 0.2, "k_max": K_MAX},
    "kmer-nn": {"hidden_layers": 0, "dropout": 0.0, "k_max": K_MAX},
    # "length alone": softmax regression on log transcript length (no k-mers).
    "length": {"hidden_layers": 0, "dropout": 0.0, "k_max": 0},
}
#: Gradient-boosted trees on 3–5-mer composition + log length (RNAlight's method).
_GBM_DEFAULTS: dict[str, dict[str, Any]] = {"kmer-gbm": dict(GBM_DEFAULTS)}
#: Baselines that read the sequence only through k-mer counts / length (encoding ``seq``).
SEQUENCE_FEATURE_ARCHS: tuple[str, ...] = (*_KMER_DEFAULTS, *_GBM_DEFAULTS)
ARCHITECTURES: tuple[str, ...] = (*VARIANTS, *SEQUENCE_FEATURE_ARCHS)


def default_config(arch: str, n_fractions: int, *, encoding: str = "seq", mode: str = "full",
                   max_len: int | None = None, length_feature: bool = False, length_prior: bool = False,
                   batch_norm: bool = False, sum_pooling: bool = False, **overrides: Any) -> dict:
    """A complete config for ``arch`` with the paper's defaults, ``overrides`` applied."""
    if arch not in ARCHITECTURES:
        raise RNATrackerError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHITECTURES)})")
    if mode not in MODES:
        raise RNATrackerError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    get_encoding(encoding)
    if arch in SEQUENCE_FEATURE_ARCHS and encoding != "seq":
        raise RNATrackerError(f"{arch} reads only k-mer counts and length: use --encoding seq")
    if mode == "fixed" and max_len is None:
        max_len = FIXED_MAX_LEN
    if max_len is not None and max_len < 1:
        raise RNATrackerError("--max-len must be positive")
    config: dict[str, Any] = {
        "arch": arch, "encoding": encoding, "mode": mode, "max_len": max_len,
        # log length is always one of the k-mer models' features
        "n_fractions": int(n_fractions), "length_feature": bool(length_feature) or arch in SEQUENCE_FEATURE_ARCHS,
    }
    if arch in VARIANTS:
        config["length_prior"] = bool(length_prior)
        config["batch_norm"] = bool(batch_norm)
        config["sum_pooling"] = bool(sum_pooling)
    config.update({**_KMER_DEFAULTS, **_GBM_DEFAULTS}.get(arch, _CNN_DEFAULTS))
    unknown = set(overrides) - set(config)
    if unknown:
        raise RNATrackerError(f"unknown option(s) for {arch}: {', '.join(sorted(unknown))}")
    config.update(overrides)
    return config


def build_model(config: dict) -> nn.Module:
    """Build an untrained model from a config (see the module docstring).

    ``config["replicates"] = K > 1`` builds an :class:`~rnatracker_cli.model.ensemble.Ensemble`
    of K members of that architecture (``train --replicates``).
    """
    replicates = config.get("replicates", 1)
    if not isinstance(replicates, int) or replicates < 1:
        raise RNATrackerError(f"invalid model config: replicates = {replicates!r}")
    if replicates > 1:
        from rnatracker_cli.model.ensemble import Ensemble

        return Ensemble([build_model({**config, "replicates": 1}) for _ in range(replicates)])
    try:
        arch = config["arch"]
        encoding = get_encoding(config.get("encoding", "seq"))
        if arch in VARIANTS:
            model = RNATrackerNet(
                arch, encoding.branches, config["n_fractions"], filters=config["filters"],
                kernel=config["kernel"], pool=config["pool"], conv_layers=config["conv_layers"],
                dropout=config["dropout"], lstm_units=config["lstm_units"],
                length_feature=config.get("length_feature", False),
                length_prior=config.get("length_prior", False),
                # absent from checkpoints written before the option existed
                batch_norm=config.get("batch_norm", False),
                sum_pooling=config.get("sum_pooling", False),
            )
        elif arch in _KMER_DEFAULTS:
            model = KmerNet(config["n_fractions"], config["hidden_layers"], config["dropout"], config["k_max"])
        elif arch in _GBM_DEFAULTS:
            model = GBMNet(config["n_fractions"], **{k: config[k] for k in _GBM_DEFAULTS[arch]})
        else:
            raise RNATrackerError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHITECTURES)})")
    except (KeyError, TypeError) as exc:
        raise RNATrackerError(f"incomplete or invalid model config ({exc!r})") from None
    return model
