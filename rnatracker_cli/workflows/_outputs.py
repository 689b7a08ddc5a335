"""Checks shared by the workflows that write a main output and an optional second one."""

from __future__ import annotations

from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.io.atomic import check_output

STDOUT = "-"


def check_outputs(out: str, extra: str | None, option: str, force: bool, extra_to_stdout: bool = True) -> None:
    """Check the main output ``out`` (``--out``; ``-`` = stdout) and an optional second output
    given with ``option``, before any input is read: the two must differ, at most one may be
    stdout (the second never when ``extra_to_stdout`` is false), and existing files need
    ``force``."""
    if extra is not None:
        if str(extra) == STDOUT and not extra_to_stdout:
            raise RNATrackerError(f"{option} needs a file name (stdout carries the main output)")
        if str(extra) == STDOUT and str(out) == STDOUT:
            raise RNATrackerError(f"{option} and --out cannot both be stdout")
        if str(extra) == str(out):
            raise RNATrackerError(f"{option} and --out must be different files")
    check_output(out, force)
    if extra is not None:
        check_output(extra, force)
