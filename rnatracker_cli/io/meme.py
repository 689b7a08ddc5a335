"""MEME motif files (minimal MEME format, version 4): a strict reader and a writer.

Reader: ``MEME version`` line, optional ``ALPHABET=`` (``ACGU`` or ``ACGT``; U and T are the
same letter here, as in the sequence codes), then one ``MOTIF ID [NAME]`` block per motif with
a ``letter-probability matrix: alength= 4 w= W [nsites= N] …`` header followed by W rows of 4
numbers (extra text after the rows, such as ``URL`` lines, is skipped). Rows are renormalised
to sum to 1. Anything else (no MEME header, another alphabet, a short or non-numeric row, a
negative value, no motif at all, a duplicate id) is an :class:`InputError` naming the file
and line.

Writer: :func:`format_meme`, the layout of the RNAcompete database distributed with
RNATracker (``ALPHABET= ACGU``, ``strands: +``, uniform background, 6 decimals), with each
motif's own site count in ``nsites=``; MEME-suite tools and memelite read it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import open_binary

LETTERS = "ACGU"
_MATRIX = re.compile(r"^letter-probability matrix:(?P<rest>.*)$")
_FIELD = re.compile(r"(\w+)\s*=\s*(\S+)")


@dataclass
class MemeMotif:
    """One motif: ``pwm`` float64 (width, 4) letter probabilities over A C G U, rows sum to 1.

    name: the MOTIF line's second field ('' when absent); nsites: the site count or None.
    """

    id: str
    name: str
    pwm: np.ndarray
    nsites: int | None = None

    @property
    def width(self) -> int:
        return int(self.pwm.shape[0])

    @property
    def label(self) -> str:
        """``ID NAME`` (or ``ID``), for tables and reports."""
        return f"{self.id} {self.name}".strip()

    def consensus(self) -> str:
        """Most probable letter per column (first of ties), over ``ACGU``."""
        return "".join(LETTERS[i] for i in np.argmax(self.pwm, axis=1))


def read_meme(path: str | os.PathLike) -> list[MemeMotif]:
    """Read every motif of a MEME file (plain or gzipped), in file order."""
    where = str(path)
    try:
        with open_binary(path) as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except (OSError, EOFError) as exc:
        raise InputError(f"{where}: cannot read: {exc}") from None
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].strip().startswith("MEME version"):
        raise InputError(f"{where}: not a MEME motif file (it must start with a 'MEME version' line)")
    motifs: list[MemeMotif] = []
    seen: set[str] = set()
    current: tuple[str, str, int] | None = None  # id, name, line number of MOTIF
    i = first + 1
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET"):
            letters = line.split("=", 1)[1].strip().upper() if "=" in line else ""
            if letters not in ("ACGU", "ACGT"):
                raise InputError(f"{where}: line {i + 1}: alphabet {letters or '?'} is not supported "
                                 "(expected ACGU or ACGT)")
        elif line.startswith("MOTIF"):
            fields = line.split()
            if len(fields) < 2:
                raise InputError(f"{where}: line {i + 1}: MOTIF line without an id")
            if current is not None:
                raise InputError(f"{where}: line {current[2]}: motif {current[0]} has no letter-probability matrix")
            if fields[1] in seen:
                raise InputError(f"{where}: line {i + 1}: duplicate motif id {fields[1]}")
            current = (fields[1], " ".join(fields[2:]), i + 1)
        else:
            m = _MATRIX.match(line)
            if m:
                if current is None:
                    raise InputError(f"{where}: line {i + 1}: letter-probability matrix outside a MOTIF block")
                fields = dict(_FIELD.findall(m.group("rest")))
                try:
                    width = int(fields["w"])
                    alength = int(fields.get("alength", "4"))
                    nsites = int(float(fields["nsites"])) if "nsites" in fields else None
                except (KeyError, ValueError):
                    raise InputError(f"{where}: line {i + 1}: matrix header needs 'w= WIDTH'") from None
                if alength != 4 or width < 1:
                    raise InputError(f"{where}: line {i + 1}: expected alength= 4 and w >= 1")
                rows = []
                for j in range(i + 1, i + 1 + width):
                    values = lines[j].split() if j < len(lines) else []
                    try:
                        row = [float(v) for v in values]
                    except ValueError:
                        row = []
                    if len(row) != 4 or not np.all(np.isfinite(row)) or min(row) < 0 or sum(row) <= 0:
                        raise InputError(f"{where}: line {j + 1}: motif {current[0]} needs {width} rows of 4 "
                                         "non-negative probabilities")
                    rows.append(row)
                pwm = np.asarray(rows, dtype=np.float64)
                pwm /= pwm.sum(axis=1, keepdims=True)
                motifs.append(MemeMotif(current[0], current[1], pwm, nsites))
                seen.add(current[0])
                current = None
                i += width
        i += 1
    if current is not None:
        raise InputError(f"{where}: line {current[2]}: motif {current[0]} has no letter-probability matrix")
    if not motifs:
        raise InputError(f"{where}: no motifs found")
    return motifs


def format_meme(motifs: Iterable[MemeMotif], background: np.ndarray | None = None) -> str:
    """The text of a MEME file holding ``motifs`` (rows renormalised, 6 decimals)."""
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=float)
    out = ["MEME version 4\n\n", f"ALPHABET= {LETTERS}\n\n", "strands: +\n\n",
           "Background letter frequencies\n", " ".join(f"{a} {p:.4f}" for a, p in zip(LETTERS, bg)) + "\n\n"]
    for motif in motifs:
        pwm = np.asarray(motif.pwm, dtype=float)
        pwm = pwm / pwm.sum(axis=1, keepdims=True)
        out.append(f"MOTIF {motif.id} {motif.name}".rstrip() + "\n\n")
        nsites = motif.nsites if motif.nsites is not None else 20
        out.append(f"letter-probability matrix: alength= 4 w= {len(pwm)} nsites= {nsites} E= 0\n")
        out.extend(" ".join(f"{v:.6f}" for v in row) + "\n" for row in pwm)
        out.append("\n")
    return "".join(out)
