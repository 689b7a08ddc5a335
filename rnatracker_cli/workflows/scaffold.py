"""The shipped Snakemake workflow: copy its files into a folder (`rnatracker workflow init`).

The files live in the package (``rnatracker_cli/data/workflow/``): ``Snakefile``,
``config.yaml`` (every setting, with comments), ``README.md`` and ``profiles/slurm/config.yaml``
(a Snakemake profile for the Slurm executor plugin). The Snakefile only calls ``rnatracker``
commands, so the copy needs nothing from this module to run; Snakemake itself is the
optional extra ``rnatracker[workflow]``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from rnatracker_cli.errors import OutputExistsError, RNATrackerError
from rnatracker_cli.io.atomic import atomic_path

#: Files written, relative to the target folder (POSIX paths, also their place in the package).
WORKFLOW_FILES = ("Snakefile", "config.yaml", "README.md", "profiles/slurm/config.yaml")


def _template(relative: str) -> str:
    node = resources.files("rnatracker_cli").joinpath("data", "workflow", *relative.split("/"))
    return node.read_text(encoding="utf-8")


def init_workflow(directory: str | os.PathLike, force: bool = False) -> list[Path]:
    """Write the workflow's files into ``directory`` (created, with its parents, if missing).

    Nothing is written when any of the files exists and ``force`` is false (all are checked
    first, so a refused call leaves the folder as it was). Returns the paths written, in
    :data:`WORKFLOW_FILES` order.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise RNATrackerError(f"{root} exists and is not a directory")
    targets = [root.joinpath(*name.split("/")) for name in WORKFLOW_FILES]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise OutputExistsError(f"{names} exist{'s' if len(existing) == 1 else ''}; use --force to overwrite")
    texts = [_template(name) for name in WORKFLOW_FILES]
    for target, text in zip(targets, texts):
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, force=force) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return targets
