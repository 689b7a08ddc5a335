"""Atomic outputs: write to a temporary file beside the target, rename into place on success.

A failed or interrupted run leaves no half-written file, and an existing output is never
replaced unless the caller passes ``force=True``. Outputs get the permissions ``open()``
would give a new file (``0o666`` minus the umask), not the private ``0o600`` of a
temporary file, and are flushed to disk before the rename (the folder after it, where the
platform allows), so a crash never leaves a renamed but empty file.
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


def current_umask() -> int:
    """The process umask: from /proc on Linux (no side effect), else by setting and restoring it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # not thread-safe for an instant; only where /proc is missing
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """Permission bits ``open(path, "w")`` gives a new file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Give ``tmp`` the mode of a new file, flush it and rename it to ``target`` atomically."""
    os.chmod(tmp, new_file_mode())
    if Path(tmp).is_file():
        fsync_file(tmp)
    os.replace(tmp, target)
    fsync_dir(Path(target).parent if str(Path(target).parent) else ".")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception (also KeyboardInterrupt) the temporary file is removed and an existing
    ``path`` is left untouched.
    """
    target = Path(path)
    check_output(target, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        commit(tmp_path, target)
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
