"""Atomic outputs: write to a temporary file beside the target, rename into place on success.

A failed or interrupted run leaves no half-written file, and an existing output is never
replaced unless the caller passes ``force=True``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rnatracker_cli.errors import InputError, OutputExistsError

STDIO = "-"


def check_output(path: str | os.PathLike, force: bool) -> None:
    """Fail early when ``path`` exists and ``force`` is false, or its folder is missing."""
    if str(path) == STDIO:
        return
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} exists; use --force to overwrite it")
    if p.exists() and p.is_dir():
        raise OutputExistsError(f"{p} is a directory, not a file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {parent} does not exist")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success."""
    target = Path(path)
    check_output(target, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def open_output(path: str | os.PathLike, force: bool = False) -> Iterator[IO[str]]:
    """Open a text output (``-`` = stdout) that appears only if the block succeeds."""
    if str(path) == STDIO:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_path(path, force) as tmp, open(tmp, "w", newline="\n") as handle:
        yield handle
