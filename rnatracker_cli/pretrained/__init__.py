"""Built-in models: weights shipped inside the package, listed in ``index.json``.

The index is package data (found with :mod:`importlib.resources`, so it works from a wheel,
``pip install .`` or an editable install) and is written only by ``scripts/build_models.py``.
Layout (schema 1)::

    {"schema": 1,
     "models": [
       {"name": "human-mrna",               # what users type: --model human-mrna
        "description": "…",                 # one line
        "default": true,                    # exactly one model is the default (if any)
        "compartments": ["cytosol", "nucleus"],   # output order of the model
        "species": "human", "molecule": "mRNA",
        "training_data": "…",               # one line: data set, assay, count
        "files": [{"path": "human-mrna.pt", "sha256": "…", "bytes": 123456}],
        "data_files": [{"path": "lncatlas_mrna/lncatlas_mrna.fa", "sha256": "…"}],
        "counts": {"transcripts": 1036, "cytosol": 575, "nucleus": 461},
        "recipe": {…}, "command": "python scripts/build_models.py …",
        "rnatracker_version": "…", "torch_version": "…", "built": "2026-12-02",
        "cv": {…} | null, "transfer": {…} | null, "calibration": {…} | null, "notes": "…",
        "card": "docs/models/human-mrna.md"}]}

``cv``/``transfer``: ``{"metric", "model", "scores": {name: value}, "tests": [...], …}`` where
``scores[model]`` is this model's (or its recipe's) figure and the rest are baselines;
``calibration``: ``{"data", "bins": [{"predicted", "observed", "n"}], "ece", "brier", …}``
(docs/models/README.md).

``files`` holds one checkpoint (a single model, or an ensemble saved as one checkpoint) or
several member checkpoints of an ensemble; each is a ``model.pt`` in the format of
:mod:`rnatracker_cli.model.checkpoint`. Nothing here imports torch: listing models is cheap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.utils.hashing import file_sha256  # noqa: F401 (re-exported)

INDEX_FILE = "index.json"
INDEX_SCHEMA = 1
_REQUIRED = {
    "name": str, "description": str, "default": bool, "compartments": list, "species": str,
    "molecule": str, "training_data": str, "files": list, "recipe": dict, "command": str,
}
_OPTIONAL_DICTS = ("cv", "transfer", "calibration")


@dataclass(frozen=True)
class WeightsFile:
    """One weights file of a built-in model: ``path`` relative to the package folder."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class BuiltinModel:
    """One entry of the index (see the module docstring for the fields)."""

    name: str
    description: str
    default: bool
    compartments: tuple[str, ...]
    species: str
    molecule: str
    training_data: str
    files: tuple[WeightsFile, ...]
    recipe: dict
    command: str
    root: Path
    cv: dict | None = None
    transfer: dict | None = None
    calibration: dict | None = None
    data_files: tuple[dict, ...] = ()
    counts: dict = field(default_factory=dict)
    card: str = ""
    rnatracker_version: str = ""
    torch_version: str = ""
    built: str = ""
    notes: str = ""

    @property
    def paths(self) -> list[Path]:
        """Absolute paths of the weights files (in index order)."""
        return [self.root / f.path for f in self.files]

    @property
    def size_bytes(self) -> int:
        """Size on disk of all weights files, as recorded in the index."""
        return sum(f.bytes for f in self.files)


def package_dir() -> Path:
    """The installed ``rnatracker_cli/pretrained`` folder (a real directory on disk)."""
    root = resources.files(__name__)
    if not isinstance(root, Path):  # e.g. imported from a zip archive
        raise RNATrackerError(
            f"built-in models need rnatracker installed as files on disk (found {root}); reinstall with pip"
        )
    return root




def _bad(where: Path, message: str) -> RNATrackerError:
    return RNATrackerError(f"{where}: damaged built-in model index ({message}); reinstall rnatracker")


def _parse_entry(entry: object, where: Path, root: Path) -> BuiltinModel:
    if not isinstance(entry, dict):
        raise _bad(where, "a model entry is not an object")
    name = entry.get("name", "?")
    for key, kind in _REQUIRED.items():
        if not isinstance(entry.get(key), kind):
            raise _bad(where, f"model {name!r}: '{key}' missing or not a {kind.__name__}")
    for key in _OPTIONAL_DICTS:
        if entry.get(key) is not None and not isinstance(entry[key], dict):
            raise _bad(where, f"model {name!r}: '{key}' is not an object")
    files = []
    for f in entry["files"]:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
                and isinstance(f.get("bytes"), int)):
            raise _bad(where, f"model {name!r}: a file entry lacks path, sha256 or bytes")
        if Path(f["path"]).is_absolute() or ".." in Path(f["path"]).parts:
            raise _bad(where, f"model {name!r}: file {f['path']!r} is outside the package")
        files.append(WeightsFile(f["path"], f["sha256"], f["bytes"]))
    if not files:
        raise _bad(where, f"model {name!r} lists no weights file")
    if not entry["compartments"] or not all(isinstance(c, str) for c in entry["compartments"]):
        raise _bad(where, f"model {name!r}: compartments must be a non-empty list of names")
    return BuiltinModel(
        name=name, description=entry["description"], default=entry["default"],
        compartments=tuple(entry["compartments"]), species=entry["species"], molecule=entry["molecule"],
        training_data=entry["training_data"], files=tuple(files), recipe=entry["recipe"],
        command=entry["command"], root=root, cv=entry.get("cv"), transfer=entry.get("transfer"),
        calibration=entry.get("calibration"), data_files=tuple(entry.get("data_files", ())),
        counts=dict(entry.get("counts", {})), card=entry.get("card", ""),
        rnatracker_version=entry.get("rnatracker_version", ""), torch_version=entry.get("torch_version", ""),
        built=entry.get("built", ""), notes=entry.get("notes", ""),
    )


def read_index(root: str | os.PathLike | None = None) -> list[BuiltinModel]:
    """Parse and validate ``index.json`` in ``root`` (default: :func:`package_dir`).

    Checks the schema version, each entry's fields and types, unique names, and that at
    most one model (exactly one, when there are any) is the default. Does not read weights.
    """
    root = package_dir() if root is None else Path(root)
    where = root / INDEX_FILE
    try:
        index = json.loads(where.read_text())
    except FileNotFoundError:
        raise RNATrackerError(f"{where} not found: the built-in models are not installed; reinstall rnatracker") from None
    except json.JSONDecodeError as exc:
        raise _bad(where, f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(index, dict) or index.get("schema") != INDEX_SCHEMA or not isinstance(index.get("models"), list):
        raise _bad(where, f"expected an object with schema {INDEX_SCHEMA} and a 'models' list")
    models = [_parse_entry(e, where, root) for e in index["models"]]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise _bad(where, "duplicate model names")
    defaults = [m.name for m in models if m.default]
    if models and len(defaults) != 1:
        raise _bad(where, f"{len(defaults)} default models (expected exactly one)")
    return models


def list_builtin(root: str | os.PathLike | None = None) -> list[BuiltinModel]:
    """The built-in models, in index order (the default one marked ``default=True``)."""
    return read_index(root)


def available_names(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the built-in models, in index order."""
    return [m.name for m in read_index(root)]


def get_builtin(name: str, root: str | os.PathLike | None = None) -> BuiltinModel:
    """The index entry called ``name``; an unknown name is an error that lists the known ones."""
    models = read_index(root)
    for model in models:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in models) or "none are installed"
    raise RNATrackerError(f"no built-in model named {name!r} (built-in models: {known})")


def builtin_paths(name: str, root: str | os.PathLike | None = None, verify: bool = True) -> list[Path]:
    """Paths of the weights files of built-in model ``name`` (one, or one per ensemble member).

    verify: check each file's SHA-256 against the index (a few ms per MB), so that a damaged
    or swapped file is an error rather than silently different predictions.
    """
    model = get_builtin(name, root)
    paths = model.paths
    for f, path in zip(model.files, paths):
        if not path.is_file():
            raise RNATrackerError(f"built-in model {name!r}: weights file {path} is missing; reinstall rnatracker")
        if verify and file_sha256(path) != f.sha256:
            raise RNATrackerError(
                f"built-in model {name!r}: {path} does not match its recorded SHA-256 (damaged or replaced); "
                "reinstall rnatracker"
            )
    return paths


def builtin_path(name: str, root: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """Path of the single weights file (``model.pt`` format) of built-in model ``name``.

    A model stored as several member files is refused here (use :func:`builtin_paths`).
    """
    paths = builtin_paths(name, root, verify)
    if len(paths) != 1:
        raise RNATrackerError(
            f"built-in model {name!r} is an ensemble of {len(paths)} member files; load it with builtin_paths()"
        )
    return paths[0]


def default_builtin(root: str | os.PathLike | None = None) -> str:
    """Name of the default built-in model (used when ``--model`` is not given)."""
    for model in read_index(root):
        if model.default:
            return model.name
    raise RNATrackerError("no built-in model is installed: give --model (a model.pt or a run directory)")


def is_builtin_name(spec: str | os.PathLike, root: str | os.PathLike | None = None) -> bool:
    """True when ``spec`` is not an existing path and names a built-in model.

    An existing file or folder wins over a model of the same name, so a user's
    ``./human-mrna`` run directory is never shadowed.
    """
    if Path(spec).exists():
        return False
    return str(spec) in available_names(root)
