"""Project exceptions.

Anything a user can cause (a bad file, a bad option value) raises :class:`RNATrackerError`
or a subclass; the CLI turns it into one ``error: …`` line on stderr and exit code 1.
"""

from __future__ import annotations


class RNATrackerError(Exception):
    """A problem with the user's input or options (not a bug)."""


class InputError(RNATrackerError):
    """An input file is missing, unreadable or malformed."""


class OutputExistsError(RNATrackerError):
    """An output exists and ``--force`` was not given."""


class CacheError(RNATrackerError):
    """A dataset cache is missing, of another schema, or lacks a needed dataset."""
