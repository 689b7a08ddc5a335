"""Checkpoints (``model.pt``): weights + JSON-able config, loadable with ``weights_only=True``.

Layout (a plain dict, no pickled code)::

    format            "rnatracker-model"
    format_version    1
    rnatracker_version
    config            model config (see rnatracker_cli.model.registry), JSON-able
    fractions         [str, …] in output order
    state_dict        {name: tensor}
    training          {"data_sha256", "cache", "max_length", "structure_params", "seed",
                       "epochs", "best_epoch", "metrics", …}

Every writer (``train``, each part of ``cv``) builds the data-dependent part of ``config``
and ``training`` with :func:`data_metadata`, so that what new inputs need (5' truncation of
the training cache, fold settings of structure models) is always recorded; :func:`load_model`
refuses a structure model without its fold settings rather than guessing them.

A model argument may name the file or the run directory that holds it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnatracker_cli import __version__
from rnatracker_cli.errors import CacheError, InputError, RNATrackerError
from rnatracker_cli.encoding import get_encoding
from rnatracker_cli.io.atomic import atomic_path
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.model.registry import build_model

FORMAT = "rnatracker-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
_KEYS = ("format", "format_version", "rnatracker_version", "config", "fractions", "state_dict", "training")


#: Fold settings passed on to :func:`rnatracker_cli.structure.fold_sequence`.
FOLD_KEYS = ("window", "span", "cutoff")


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint (in eval mode, on ``device``)."""

    model: nn.Module
    config: dict
    fractions: list[str]
    training: dict
    path: Path

    @property
    def device(self) -> torch.device:
        """Where the model's weights live."""
        tensor = next(iter(self.model.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.model.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    @property
    def needs_structure(self) -> bool:
        return get_encoding(self.config.get("encoding", "seq")).needs_structure

    def fold_function(self):
        """``codes uint8 (L,) -> element codes uint8 (L,)`` folding with the training cache's
        settings, or None for sequence-only models."""
        if not self.needs_structure:
            return None
        import functools

        from rnatracker_cli.structure import fold_sequence

        params = self.training["structure_params"]  # checked by load_model
        return functools.partial(fold_sequence, **{k: params[k] for k in FOLD_KEYS if k in params})


def data_metadata(cache: Cache, config: dict) -> tuple[dict, dict]:
    """What a model trained on ``cache`` must record so that new inputs are treated alike.

    Returns ``(config, provenance)``: ``config`` is a copy with ``truncate_5p`` set to the
    cache's ``prepare --max-length`` (None when the cache was not truncated: transcripts
    longer than it lose their 5' end at prediction as they did in training), and
    ``provenance`` holds ``cache`` (absolute path), ``data_sha256``, ``max_length`` and, for
    structure encodings, ``structure_params`` (the fold settings) and ``structure_sha256``
    (the cache's structure identity). Every checkpoint's
    ``training`` dict starts from ``provenance``.
    """
    max_length = cache.params.get("max_length")
    config = {**config, "truncate_5p": None if max_length is None else int(max_length)}
    provenance = {"cache": str(Path(cache.path).resolve()), "data_sha256": cache.content_sha256,
                  "max_length": config["truncate_5p"]}
    if get_encoding(config.get("encoding", "seq")).needs_structure:
        params = cache.structure_params
        if params is None:
            raise CacheError(f"{cache.path} has no secondary structure: run `rnatracker fold {cache.path}` first")
        provenance["structure_params"] = dict(params)
        provenance["structure_sha256"] = cache.structure_sha256
    return config, provenance


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: dict, fractions: list[str],
                    training: dict, force: bool = False) -> Path:
    """Write ``model.pt`` atomically (tensors moved to CPU)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "rnatracker_version": __version__,
        "config": dict(config),
        "fractions": list(fractions),
        "state_dict": state,
        "training": dict(training),
    }
    with atomic_path(path, force) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def resolve_model(spec: str | os.PathLike | None = None) -> Path:
    """The checkpoint file a model argument names (every command and
    :func:`rnatracker_cli.api.load_model` resolve model arguments here):

    * None or "" → the built-in default model (:mod:`rnatracker_cli.pretrained`);
    * an existing ``model.pt``, or a run directory holding one;
    * otherwise, the name of a built-in model (``rnatracker models`` lists them).

    Raises :class:`InputError` when there is none.
    """
    from rnatracker_cli import pretrained

    if spec is None or not str(spec).strip():
        return pretrained.builtin_path(pretrained.default_builtin())
    path = spec
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
        if not p.is_file():
            raise InputError(f"{path} is a directory without {MODEL_FILE} (not a run directory?)")
    elif not p.exists():
        if pretrained.is_builtin_name(str(spec)):
            return pretrained.builtin_path(str(spec))
        raise InputError(f"{p}: model file not found (and no built-in model has that name; see `rnatracker models`)")
    return p


resolve_model_path = resolve_model  # the name used before the public API


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint dict (on CPU); clear errors for anything else."""
    p = resolve_model_path(path)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p} is not an rnatracker model checkpoint ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{p} is not an rnatracker model checkpoint (no '{FORMAT}' format tag)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            f"{p} has checkpoint format version {version}; this rnatracker ({__version__}) reads "
            f"version {FORMAT_VERSION}: retrain the model or use the rnatracker version that wrote it "
            f"({payload.get('rnatracker_version', 'unknown')})"
        )
    missing = [k for k in _KEYS if k not in payload]
    if missing:
        raise InputError(f"{p} is a damaged rnatracker checkpoint (missing {', '.join(missing)})")
    return payload


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the model stored in a checkpoint, weights loaded, in eval mode on ``device``."""
    p = resolve_model(path)
    payload = read_checkpoint(p)
    model = build_model(payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise RNATrackerError(f"{p}: weights do not fit the stored config ({str(exc).splitlines()[0]})") from None
    encoding = get_encoding(payload["config"].get("encoding", "seq"))
    if encoding.needs_structure and not isinstance(payload["training"].get("structure_params"), dict):
        raise InputError(
            f"{p}: this {encoding.name} model does not record the fold settings of its training data "
            "(written by an older rnatracker?), so new transcripts cannot be folded the same way: retrain it"
        )
    model.to(device).eval()
    return LoadedModel(model, payload["config"], list(payload["fractions"]), payload["training"], p)
