#!/usr/bin/env python
"""(Re)write tests/data/golden_predictions.json from the shipped built-in weights.

    python scripts/make_golden.py [--root rnatracker_cli/pretrained] [--out tests/data/golden_predictions.json]

For every model in the index and every weights file of it, the predicted distribution of
three fixed sequences (:func:`golden_sequences`) on CPU, one thread; and the members' mean.
tests/test_pretrained.py recomputes them and compares (tolerance :data:`TOLERANCE`), so a
change of weights, of the model code or of the prediction path that moves a built-in model's
output shows up as a failing test. Run this after `scripts/build_models.py`, and review the
diff: only a deliberate rebuild should change the values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rnatracker_cli.errors import RNATrackerError  # noqa: E402
from rnatracker_cli.pretrained import list_builtin  # noqa: E402

TOLERANCE = 1e-5
GOLDEN_FILE = REPO / "tests" / "data" / "golden_predictions.json"
#: (id, length, seed): short, mid-sized and long enough to span many LSTM steps.
_SEQUENCE_SPECS = (("golden_short", 240, 101), ("golden_mid", 1500, 202), ("golden_long", 4200, 303))


def golden_sequences() -> dict[str, str]:
    """Three fixed pseudo-random transcripts (ACGT, uniform), id -> sequence."""
    import numpy as np

    out = {}
    for name, length, seed in _SEQUENCE_SPECS:
        codes = np.random.default_rng(seed).integers(0, 4, size=length)
        out[name] = "".join("ACGT"[c] for c in codes)
    return out


def predict_file(path: Path, sequences: dict[str, str]) -> dict[str, list[float]]:
    """Predicted distribution (F floats, model order) per sequence, with the model in ``path``
    loaded by ``rnatracker_cli.model.checkpoint.load_model`` on CPU."""
    import torch

    from rnatracker_cli.alphabet import encode
    from rnatracker_cli.inference import Predictor
    from rnatracker_cli.model.checkpoint import load_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loaded = load_model(path, device="cpu")
        predictor = Predictor(loaded.model, loaded.config, device="cpu")
        ids = list(sequences)
        probs = predictor.predict([encode(sequences[i])[0] for i in ids])
    finally:
        torch.set_num_threads(threads)
    return {i: [float(v) for v in p] for i, p in zip(ids, probs)}


def golden_predictions(root: str | os.PathLike | None = None) -> dict:
    """The golden document for the index in ``root`` (default: the installed package)."""
    sequences = golden_sequences()
    models = {}
    for model in list_builtin(root):
        files = {}
        for f, path in zip(model.files, model.paths):
            files[f.path] = {"sha256": f.sha256, "predictions": predict_file(path, sequences)}
        mean = {sid: [sum(files[p]["predictions"][sid][k] for p in files) / len(files)
                      for k in range(len(model.compartments))] for sid in sequences}
        models[model.name] = {"compartments": list(model.compartments), "files": files, "mean": mean}
    return {"tolerance": TOLERANCE, "sequences": sequences, "models": models}


def compare(golden: dict, fresh: dict, tolerance: float = TOLERANCE) -> list[str]:
    """Differences between a stored golden document and a freshly computed one (empty = equal
    within ``tolerance``); each difference is one readable line."""
    problems = []
    if set(golden.get("models", {})) != set(fresh["models"]):
        problems.append(f"models differ: golden {sorted(golden.get('models', {}))}, index {sorted(fresh['models'])} "
                        "(run scripts/make_golden.py)")
    for name, new in fresh["models"].items():
        old = golden.get("models", {}).get(name)
        if old is None:
            continue
        if set(old["files"]) != set(new["files"]):
            problems.append(f"{name}: files differ: golden {sorted(old['files'])}, index {sorted(new['files'])}")
            continue
        for fname, entry in new["files"].items():
            if old["files"][fname]["sha256"] != entry["sha256"]:
                problems.append(f"{name}/{fname}: weights sha256 changed since the golden values were made "
                                "(rebuilt? run scripts/make_golden.py)")
            for sid, values in entry["predictions"].items():
                ref = old["files"][fname]["predictions"].get(sid)
                if ref is None or len(ref) != len(values) or any(abs(a - b) > tolerance for a, b in zip(ref, values)):
                    problems.append(f"{name}/{fname} on {sid}: predicted {values}, golden {ref}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="package folder with index.json (default: installed)")
    parser.add_argument("--out", type=Path, default=GOLDEN_FILE, help="golden JSON to (re)write")
    args = parser.parse_args(argv)
    try:
        document = golden_predictions(args.root)
    except RNATrackerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(document['models'])} model(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
