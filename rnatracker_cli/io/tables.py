"""Localization tables: one id column and one numeric column per fraction (or replicates).

Replicate columns ``FRACTION_repN`` (or a user regex with a ``fraction`` group) are averaged.
Values may be raw expression (FPKM/TPM) or already-normalized distributions.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.fasta import open_binary

DEFAULT_REPLICATE_PATTERN = r"(?P<fraction>.+?)_rep\d+"
GENE_COLUMNS = ("gene_id", "gene", "gene_name", "ensembl_gene_id", "gene_symbol")
_VERSION = re.compile(r"\.\d+$")


def strip_version(identifier: str) -> str:
    """``ENST00000123456.7`` → ``ENST00000123456`` (only a trailing ``.digits`` is removed)."""
    return _VERSION.sub("", identifier)


@dataclass
class LocalizationTable:
    """values: float64 (N, F) replicate means per fraction; NaN where a value is missing."""

    path: str
    id_column: str
    ids: list[str]
    fractions: list[str]
    values: np.ndarray
    replicates: "OrderedDict[str, list[str]]"
    genes: list[str] | None = None
    gene_column: str | None = None


def _read_frame(path: str | os.PathLike) -> pd.DataFrame:
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt gzip stream
        raise InputError(f"{path}: cannot read: {exc}") from None
    if not data.strip():
        raise InputError(f"{path}: localization table is empty")
    first = data.split(b"\n", 1)[0]
    name = str(path).lower().removesuffix(".gz")
    sep = "," if name.endswith(".csv") or (b"\t" not in first and b"," in first) else "\t"
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot parse localization table: {exc}") from None
    # pandas renames repeated names (a, a.1): check the header as written, after stripping.
    line = (first.decode("utf-8", errors="replace").splitlines() or [""])[0]
    try:
        header = next(csv.reader([line], delimiter=sep), [])
    except csv.Error:
        header = line.split(sep)
    names = [c.strip() for c in header]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise InputError(f"{path}: column name {repeated[0]!r} appears more than once in the header")
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        raise InputError(f"{path}: column names repeat once surrounding spaces are removed")
    if len(frame.columns) < 2:
        raise InputError(f"{path}: localization table needs an id column and fraction columns (one column found; wrong separator?)")
    return frame


def _numeric_share(column: pd.Series) -> float:
    text = column.str.strip()
    present = text[(text != "") & ~text.str.upper().isin({"NA", "NAN"})]
    if present.empty:
        return 0.0
    return float(pd.to_numeric(present, errors="coerce").notna().mean())


def read_localization(
    path: str | os.PathLike,
    id_column: str | None = None,
    fractions: list[str] | None = None,
    replicate_pattern: str | None = None,
) -> LocalizationTable:
    """Read and validate a localization table.

    id_column: default the first column. fractions: fraction names to keep (after grouping
    replicates), in the order given; default every mostly-numeric column except the id and gene
    columns. replicate_pattern: regex matched against whole column names, with a named group
    ``fraction`` (default ``FRACTION_repN``).

    Raises :class:`InputError` for: a missing id column, no fraction columns, unknown
    requested fractions, duplicate ids (also when they differ only by a version suffix),
    non-numeric or negative values (naming the id and column).
    """
    frame = _read_frame(path)
    columns = list(frame.columns)
    if id_column is None:
        id_column = columns[0]
    elif id_column not in columns:
        raise InputError(f"{path}: id column '{id_column}' not found (columns: {', '.join(columns)})")
    ids = [s.strip() for s in frame[id_column]]
    if any(not i for i in ids):
        raise InputError(f"{path}: id column '{id_column}' has an empty value (row {ids.index('') + 2})")
    seen: dict[str, str] = {}
    for rid in ids:
        for key in {rid, strip_version(rid)}:
            if key in seen:
                other = seen[key]
                shown = rid if other == rid else f"{other} and {rid}"
                raise InputError(f"{path}: duplicate id {shown} in column '{id_column}'")
            seen[key] = rid
    lower = {c.lower(): c for c in columns if c != id_column}
    gene_column = next((lower[g] for g in GENE_COLUMNS if g in lower), None)

    try:
        pattern = re.compile(replicate_pattern or DEFAULT_REPLICATE_PATTERN, re.IGNORECASE)
    except re.error as exc:
        raise InputError(f"--replicate-pattern is not a valid regex: {exc}") from None
    if "fraction" not in pattern.groupindex:
        raise InputError("--replicate-pattern needs a named group (?P<fraction>...)")
    groups: OrderedDict[str, list[str]] = OrderedDict()
    candidates = [c for c in columns if c not in (id_column, gene_column)]
    for col in candidates:
        m = pattern.fullmatch(col)
        groups.setdefault(m.group("fraction") if m else col, []).append(col)
    if fractions:
        missing = [f for f in fractions if f not in groups]
        if missing:
            raise InputError(f"{path}: fraction(s) {', '.join(missing)} not found (available: {', '.join(groups)})")
        groups = OrderedDict((f, groups[f]) for f in fractions)
    else:
        groups = OrderedDict((f, cols) for f, cols in groups.items() if all(_numeric_share(frame[c]) >= 0.5 for c in cols))
    if not groups:
        raise InputError(f"{path}: no numeric fraction columns found (columns: {', '.join(columns)})")
    if len(groups) < 2:
        raise InputError(f"{path}: need at least two fractions, found only {', '.join(groups)}")

    means = np.zeros((len(ids), len(groups)), dtype=np.float64)
    for f, (fraction, cols) in enumerate(groups.items()):
        block = np.zeros((len(ids), len(cols)))
        for k, col in enumerate(cols):
            text = frame[col].str.strip()
            missing = (text == "") | text.str.upper().isin({"NA", "NAN"})
            values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~missing.to_numpy() & ~np.isfinite(values))
            if bad.size:
                r = int(bad[0])
                raise InputError(f"{path}: non-numeric value '{text.iloc[r]}' for {ids[r]} in column '{col}'")
            neg = np.flatnonzero(values < 0)
            if neg.size:
                r = int(neg[0])
                raise InputError(f"{path}: negative value {values[r]:g} for {ids[r]} in column '{col}'")
            block[:, k] = values
        means[:, f] = block.mean(axis=1)
    genes = [g.strip() for g in frame[gene_column]] if gene_column else None
    return LocalizationTable(str(path), id_column, ids, list(groups), means, groups, genes, gene_column)
