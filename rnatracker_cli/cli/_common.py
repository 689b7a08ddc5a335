"""Console, error handling and small helpers used by every command module."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator

import typer
from rich.console import Console

from rnatracker_cli.errors import RNATrackerError
from rnatracker_cli.utils.signals import exit_code, signal_name, stop_on_signals


def console(quiet: bool = False) -> Console:
    """A rich console on stderr (stdout is reserved for data)."""
    return Console(stderr=True, quiet=quiet, highlight=False)


def _fail(message: str, debug: bool, code: int = 1) -> None:
    if debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@contextlib.contextmanager
def cli_errors(debug: bool = False, interrupted: str | None = None) -> Iterator[None]:
    """Map user errors to one ``error: …`` line and exit code 1 (traceback with --debug).

    SIGTERM and SIGINT stop the block cleanly (:mod:`rnatracker_cli.utils.signals`): one
    ``error: interrupted by SIG…`` line, followed by ``interrupted`` (what was kept, how to
    resume) when given, and exit code 128 + the signal number (143 SIGTERM, 130 SIGINT).
    """
    try:
        with stop_on_signals():
            yield
    except RNATrackerError as exc:
        _fail(str(exc), debug)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", debug)
    except KeyboardInterrupt as exc:
        _fail(f"interrupted by {signal_name(exc)}" + (f"; {interrupted}" if interrupted else ""), debug, exit_code(exc))
    except BrokenPipeError:
        # `rnatracker … | head` closed the pipe: not an error for the user.
        with contextlib.suppress(Exception):
            sys.stdout = None  # type: ignore[assignment]
        raise typer.Exit(0) from None


def model_and_fasta(args: list[str], model: str | None, command: str) -> tuple[str | None, str]:
    """``(model, fasta)`` from a command's positional arguments and ``--model``.

    ``FASTA`` alone uses ``--model`` (or the built-in default when it is absent); the older
    form ``MODEL FASTA`` still works (scripts written for it keep running).
    """
    if len(args) == 1:
        return model, args[0]
    if len(args) == 2 and model is None:
        return args[0], args[1]
    if len(args) == 2:
        raise RNATrackerError(f"give the model once: `rnatracker {command} --model MODEL FASTA`")
    raise RNATrackerError(f"expected one FASTA: `rnatracker {command} [--model MODEL] FASTA`")


def shard_note(shard: tuple[int, int] | None, first: int, count: int) -> str:
    """``"shard K/N: records A-B, "`` (1-based, inclusive) for a summary line; ``""`` without a shard."""
    if shard is None:
        return ""
    which = "no records" if not count else f"record {first + 1}" if count == 1 else f"records {first + 1}-{first + count}"
    return f"shard {shard[0]}/{shard[1]}: {which}, "
