"""Streaming FASTA reader for transcript files (plain, gzipped, or ``-`` for stdin).

Records are parsed line by line (multi-line records, CRLF, lowercase and blank lines are fine)
and encoded in one table lookup per record, so memory stays at one record at a time.
Genomes are read with pyfaidx instead (random access; see :mod:`rnatracker_cli.io.genome`).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnatracker_cli.alphabet import encode
from rnatracker_cli.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class FastaRecord:
    """One transcript: ``codes`` is uint8 (length,), A C G T N = 0..4."""

    id: str
    description: str
    codes: np.ndarray
    n_ambiguous: int = 0

    def __len__(self) -> int:
        return len(self.codes)


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for binary reading, transparently gunzipping; ``-`` is stdin.

    Raises :class:`InputError` for a missing, unreadable or directory path.
    """
    if str(path) == "-":
        raw: BinaryIO = io.BufferedReader(sys.stdin.buffer)  # type: ignore[arg-type]
        name = "<stdin>"
    else:
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{p} is a directory, not a file")
        try:
            raw = open(p, "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            raise InputError(f"{p}: file not found") from None
        except PermissionError:
            raise InputError(f"{p}: permission denied") from None
        name = str(p)
    if raw.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=raw, mode="rb", filename=name)  # type: ignore[return-value]
    return raw


def _display(path: str | os.PathLike) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def read_fasta(path: str | os.PathLike, unique: bool = True) -> Iterator[FastaRecord]:
    """Yield records of a FASTA file one at a time.

    Raises :class:`InputError` on: a missing file, text before the first header, a record with
    no sequence, a character outside ACGTUN and the IUPAC ambiguity codes (naming the record,
    the character and its 1-based position), a duplicate id (when ``unique``), and a file with
    no records at all. Ambiguity codes become N and are counted in ``n_ambiguous``.
    """
    where = _display(path)
    seen: set[str] = set()
    n_records = 0
    header: bytes | None = None
    chunks: list[bytes] = []

    def finish() -> FastaRecord:
        assert header is not None
        text = header.decode("utf-8", errors="replace").strip()
        parts = text.split(None, 1)
        if not parts:
            raise InputError(f"{where}: a FASTA header has no id (record {n_records + 1})")
        rid = parts[0]
        if unique:
            if rid in seen:
                raise InputError(f"{where}: duplicate id {rid}")
            seen.add(rid)
        seq = b"".join(chunks)
        if not seq:
            raise InputError(f"{where}: record {rid} has no sequence")
        codes, n_amb, bad = encode(seq)
        if bad >= 0:
            ch = chr(seq[bad]) if 32 < seq[bad] < 127 else f"\\x{seq[bad]:02x}"
            raise InputError(
                f"{where}: record {rid} has invalid character '{ch}' at position {bad + 1} "
                "(allowed: ACGTUN and IUPAC ambiguity codes)"
            )
        return FastaRecord(rid, parts[1] if len(parts) > 1 else "", codes, n_amb)

    try:
        with open_binary(path) as handle:
            for lineno, line in enumerate(handle, 1):
                line = line.strip()
                if not line or line.startswith(b";"):
                    continue
                if line.startswith(b">"):
                    if header is not None:
                        yield finish()
                        n_records += 1
                    header, chunks = line[1:], []
                elif header is None:
                    raise InputError(f"{where}: line {lineno}: sequence data before the first '>' header (not a FASTA file?)")
                else:
                    chunks.append(line)
            if header is not None:
                yield finish()
                n_records += 1
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt gzip stream
        raise InputError(f"{where}: cannot read: {exc}") from None
    if n_records == 0:
        raise InputError(f"{where}: no FASTA records found")


def fasta_ids(path: str | os.PathLike) -> Iterator[str]:
    """Yield the id of each record (first word of its header) without reading sequences into
    memory or checking them: a cheap first pass, e.g. to count records for ``--shard``.

    Headers are found as :func:`read_fasta` finds them (a line starting with ``>`` once
    stripped); a header with no id yields ``""`` (:func:`read_fasta` rejects it later).
    ``-`` (stdin) can be read only once, so callers refuse it before calling this.
    """
    where = _display(path)
    try:
        with open_binary(path) as handle:
            for line in handle:
                line = line.strip()
                if line.startswith(b">"):
                    parts = line[1:].decode("utf-8", errors="replace").split(None, 1)
                    yield parts[0] if parts else ""
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{where}: cannot read: {exc}") from None
