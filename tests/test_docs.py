"""The documentation stands alone and its Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md",
              *sorted((ROOT / "rnatracker_cli").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_files_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    for needle in ("DESIGN.md", "../shared", "/work/"):
        assert needle not in text, f"{path.relative_to(ROOT)} mentions {needle}"


def test_index_links_exist_and_commands_are_real():
    from rnatracker_cli.cli.app import app
    import typer.main

    index = (ROOT / "docs" / "index.md").read_text()
    for link in re.findall(r"\]\(([^)#]+\.md)\)", index):
        assert (ROOT / "docs" / link).is_file(), link
    commands = set(typer.main.get_command(app).commands)
    for doc in (index, (ROOT / "README.md").read_text()):
        for name in re.findall(r"`rnatracker ([a-z][a-z-]+)", doc):
            assert name in commands, f"docs mention `rnatracker {name}`, which does not exist"
        for name in re.findall(r"`([a-z][a-z-]+)`", doc):
            if name in {"motifs", "conserve", "models", "predict", "scan-zipcodes"}:
                assert name in commands, f"docs present a `{name}` command that does not exist"


def test_api_example_runs(tmp_path, monkeypatch):
    import torch

    from rnatracker_cli.model import build_model, default_config
    from rnatracker_cli.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = default_config("rnatracker", 4)
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "model.pt", build_model(config), config,
                    ["cytosol", "nuclear", "membrane", "insoluble"], {"seed": 0})
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    example = next(b for b in blocks if "predict_sequences(model" in b)
    namespace: dict = {}
    exec(compile(example, "docs/api.md", "exec"), namespace)  # noqa: S102 - the documented example
    assert list(namespace["table"].columns)[:2] == ["id", "length"] and len(namespace["table"]) == 2
    assert list(namespace["regions"].columns)[:3] == ["chrom", "start", "end"]
