"""The `rnatracker models` table: one row per built-in model, fixed columns.

Figures come from the index entries' ``cv`` and ``transfer`` objects (schema in
docs/models/README.md): ``{"metric": str, "model": str, "scores": {name: float}, …}`` where
``scores[model]`` is the built-in recipe's figure and the other keys are baselines.
"""

from __future__ import annotations

from rnatracker_cli.pretrained import BuiltinModel

#: Header of ``rnatracker models --tsv`` (documented in docs/formats.md).
MODELS_TSV_COLUMNS = (
    "name", "default", "compartments", "species", "molecule", "training_data",
    "cv_metric", "cv_folds", "cv_score", "cv_baselines", "transfer_data", "transfer_score",
    "transfer_baselines", "size_bytes", "description",
)
NA = "NA"


def _score(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else NA


def own_score(figures: dict | None) -> str:
    """The built-in recipe's score in a ``cv``/``transfer`` object, 3 decimals (NA if absent)."""
    if not figures:
        return NA
    scores = figures.get("scores") or {}
    return _score(scores.get(figures.get("model", "")))


def baseline_scores(figures: dict | None) -> str:
    """``name=score`` pairs of the other entries of ``scores``, comma-separated (NA if none)."""
    if not figures:
        return NA
    own = figures.get("model")
    pairs = [f"{k}={_score(v)}" for k, v in (figures.get("scores") or {}).items() if k != own]
    return ",".join(pairs) or NA


def human_size(n_bytes: int) -> str:
    """``123 kB`` / ``1.2 MB`` (decimal units, like pip and ls -h --si)."""
    if n_bytes < 1_000_000:
        return f"{max(n_bytes, 0) / 1000:.0f} kB"
    return f"{n_bytes / 1_000_000:.1f} MB"


def model_row(model: BuiltinModel) -> dict[str, str]:
    """One TSV row (all values as text, in :data:`MODELS_TSV_COLUMNS` order)."""
    cv, transfer = model.cv or {}, model.transfer or {}
    row = {
        "name": model.name,
        "default": "yes" if model.default else "no",
        "compartments": ",".join(model.compartments),
        "species": model.species,
        "molecule": model.molecule,
        "training_data": model.training_data,
        "cv_metric": str(cv.get("metric", NA)),
        "cv_folds": str(cv.get("folds", NA)),
        "cv_score": own_score(model.cv),
        "cv_baselines": baseline_scores(model.cv),
        "transfer_data": str(transfer.get("data", NA)),
        "transfer_score": own_score(model.transfer),
        "transfer_baselines": baseline_scores(model.transfer),
        "size_bytes": str(model.size_bytes),
        "description": model.description,
    }
    # Tabs or newlines inside a value would break the table's shape.
    return {k: " ".join(v.split()) for k, v in row.items()}


def format_models_tsv(models: list[BuiltinModel]) -> str:
    """The whole TSV: header line, then one line per model (newline-terminated)."""
    lines = ["\t".join(MODELS_TSV_COLUMNS)]
    lines += ["\t".join(model_row(m)[c] for c in MODELS_TSV_COLUMNS) for m in models]
    return "\n".join(lines) + "\n"
