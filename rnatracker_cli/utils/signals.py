"""Stop long jobs cleanly on SIGTERM and SIGINT (cluster time limits, ``kill``, Ctrl-C).

Inside :func:`stop_on_signals`, either signal raises :class:`Interrupted` in the main thread
at the next Python instruction. It is a :class:`KeyboardInterrupt`, so every ``finally``
and ``except BaseException`` on the way out runs as for Ctrl-C: atomic outputs remove their
temporary files, progress files are closed with what is committed, fold workers are shut
down. The unit of work in progress (an epoch, a CV part, a transcript, a batch of folded
records) is abandoned; finished units are kept by each command's own resume mechanism.

The CLI maps :class:`Interrupted` to one ``error: interrupted by SIGTERM …`` line and exit
code ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM), the shell convention.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence

#: The signals turned into :class:`Interrupted` by default.
STOP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. ``signum``: the signal; ``exit_code``: ``128 + signum``."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: BaseException) -> int:
    """Exit code for an interruption: ``128 + signum`` (130 for a plain KeyboardInterrupt)."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def signal_name(exc: BaseException) -> str:
    return exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"


@contextlib.contextmanager
def stop_on_signals(signums: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """Raise :class:`Interrupted` on ``signums`` while the block runs; restore the previous
    handlers afterwards. Outside the main thread (where Python cannot set handlers) it does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        raise Interrupted(signum)

    previous = {}
    try:
        for s in signums:
            previous[s] = signal.signal(s, interrupt)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def deferred_signals(signums: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """Hold ``signums`` back while the block runs (a few renames that must happen together);
    a signal that arrived meanwhile is delivered when the block ends. Where signals cannot be
    blocked (not POSIX, not the main thread) it does nothing."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signums)
