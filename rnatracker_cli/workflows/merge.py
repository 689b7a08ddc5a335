"""`merge`: join the outputs of ``--shard K/N`` runs into exactly the single run's file.

A shard run of ``predict`` or ``scan-zipcodes`` (:mod:`rnatracker_cli.utils.shard`) writes
the rows of the single run's files that belong to its block of records. Given the N parts in
shard order (1..N), :func:`merge_parts` writes the file the single run would have written,
byte for byte. What a part is comes from its first line:

==================  =========================================  ==============================
kind                recognised by                              merged as
==================  =========================================  ==============================
predictions TSV     header ``id  length  …``                   header once, rows in part order
attention bedGraph  ``#rnatracker … predict --attention …``    comment once, rows in part order
zipcode BED         ``#rnatracker … scan-zipcodes …`` or rows  comment once, rows sorted by
                    of 10 (BED6+4) or 12 (BED12) columns       (chrom bytes, start, end, name)
zipcode sidecar     header ``name  chrom  start  end …``       header once, rows sorted like
                                                               its BED
track bedGraph      rows of 4 columns, or an empty file        rows sorted by (chrom bytes,
                                                               start, end)
==================  =========================================  ==============================

Sorted kinds are merged stably with the parts in shard order, which is the single run's
order for rows with equal keys (its rows follow the FASTA there). A genomic BED12 part's
sidecar (:func:`~rnatracker_cli.io.bed.sidecar_path`, ``PART.extra.tsv``) is merged along
with it into ``OUT.extra.tsv``. Parts are read as streams (plain or gzipped), so memory does
not grow with their size. Refused, with an :class:`InputError`: parts of different kinds, a
header or comment line that differs between parts (another model or other settings), a
transcript found in two parts (a part given twice), rows out of the order the commands
write, some genomic parts with a sidecar and others without.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rnatracker_cli.errors import InputError, RNATrackerError
from rnatracker_cli.io.atomic import check_output, open_output
from rnatracker_cli.io.bed import BED12_COLUMNS, BED_COLUMNS, SIDECAR_COLUMNS, is_attention_comment, sidecar_path
from rnatracker_cli.io.fasta import open_binary

PREDICTIONS = "predictions"
ATTENTION = "attention"
ZIPCODES = "zipcodes"
SIDECAR = "sidecar"
TRACK = "track"

KIND_NAMES = {
    PREDICTIONS: "predictions TSV (predict)",
    ATTENTION: "attention bedGraph (predict --attention)",
    ZIPCODES: "zipcode BED (scan-zipcodes)",
    SIDECAR: "zipcode BED12 sidecar (scan-zipcodes --gtf)",
    TRACK: "bedGraph track (scan-zipcodes --track)",
}
STDOUT = "-"


@dataclass
class MergeSummary:
    """What a merge wrote. rows: data rows (not headers or comments); sidecar: where a
    genomic BED's extra columns went; sidecar_dropped: the parts had sidecars but the BED
    went to stdout, so none was written (as ``scan-zipcodes --gtf --out -`` writes none)."""

    kind: str
    parts: int
    rows: int
    out: str
    sidecar: str | None = None
    sidecar_dropped: bool = False


def _where(path: str | os.PathLike) -> str:
    return str(path)


def _read_lines(path: str | os.PathLike) -> Iterator[str]:
    """Lines of a text file (plain or gzipped), each ending in ``\\n``, line endings kept."""
    where = _where(path)
    try:
        with open_binary(path) as handle:
            for lineno, raw in enumerate(handle, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"{where}: line {lineno}: not UTF-8 text") from None
                yield line if line.endswith("\n") else line + "\n"
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{where}: cannot read: {exc}") from None


def _first_line(path: str | os.PathLike) -> str | None:
    lines = _read_lines(path)
    try:
        return next(lines, None)
    finally:
        lines.close()


def _fields(line: str) -> list[str]:
    return line.rstrip("\r\n").split("\t")


def detect_kind(path: str | os.PathLike) -> str:
    """The kind of an output (one of :data:`KIND_NAMES`) from its first line."""
    first = _first_line(path)
    if first is None or not first.strip():
        return TRACK  # an empty bedGraph: a track with nothing above --min-kl's windows
    if first.startswith("#"):
        if is_attention_comment(first.rstrip("\r\n")):
            return ATTENTION
        words = first.split(" ")
        if len(words) >= 3 and words[0] == "#rnatracker" and words[2] == "scan-zipcodes":
            return ZIPCODES
        raise InputError(f"{_where(path)}: its first line is a comment rnatracker did not write")
    fields = _fields(first)
    if fields[:2] == ["id", "length"]:
        return PREDICTIONS
    if fields == list(SIDECAR_COLUMNS):
        return SIDECAR
    if len(fields) == 4:
        return TRACK
    if len(fields) in (len(BED_COLUMNS), len(BED12_COLUMNS)):
        return ZIPCODES
    raise InputError(f"{_where(path)}: not an output of predict or scan-zipcodes (first line has {len(fields)} "
                     "tab-separated columns)")


def merge_parts(parts: list[str], out: str = STDOUT, force: bool = False) -> MergeSummary:
    """Merge shard outputs ``parts`` (in shard order 1..N) into ``out`` (``-`` = stdout).

    Checks every part's kind and the outputs (``out`` and, for genomic BEDs, its sidecar;
    existing files need ``force``) before writing; the output is written atomically.
    """
    if not parts:
        raise RNATrackerError("merge needs at least one part")
    resolved: dict[Path, str] = {}
    for part in parts:
        if str(part) == STDOUT:
            raise RNATrackerError("merge reads its parts from files, not stdin")
        path = Path(part)
        if not path.is_file():
            raise InputError(f"{part}: file not found" if not path.exists() else f"{part}: not a file")
        key = path.resolve()
        if key in resolved:
            raise InputError(f"{part} is given twice" + ("" if resolved[key] == str(part) else f" (as {resolved[key]} too)"))
        resolved[key] = str(part)
    if str(out) != STDOUT and Path(out).resolve() in resolved:
        raise RNATrackerError(f"--out {out} is one of the parts")
    kinds = [detect_kind(p) for p in parts]
    kind = kinds[0]
    for part, other in zip(parts, kinds):
        if other != kind:
            raise InputError(f"{part} is a {KIND_NAMES[other]} but {parts[0]} is a {KIND_NAMES[kind]}: "
                             "merge the parts of one output at a time")
    if kind == PREDICTIONS:
        check_output(out, force)
        return _merge_in_order(parts, out, force, kind, _predictions)
    if kind == ATTENTION:
        check_output(out, force)
        return _merge_in_order(parts, out, force, kind, _attention)
    if kind == ZIPCODES:
        return _merge_zipcodes(parts, out, force)
    check_output(out, force)
    reader = _track_rows if kind == TRACK else _sidecar_rows
    with open_output(out, force) as handle:
        rows = _write_sorted(handle, parts, reader, header=kind == SIDECAR)
    return MergeSummary(kind, len(parts), rows, str(out))


# -- parts in order: predictions, attention -------------------------------------------------------

def _merge_in_order(parts: list[str], out: str, force: bool, kind: str, reader) -> MergeSummary:
    """Header (or comment) line once, then each part's rows in part order; a transcript id
    may appear in one part only."""
    header = _first_line(parts[0])
    owner: dict[str, str] = {}
    rows = 0
    with open_output(out, force) as handle:
        handle.write(header)
        for part in parts:
            lines = _read_lines(part)
            first = next(lines)
            if first != header:
                what = "header" if kind == PREDICTIONS else "comment line"
                raise InputError(f"{part}: its {what} differs from {parts[0]}'s (another model or version?): "
                                 f"{first.strip()!r} vs {header.strip()!r}")
            for rid, line in reader(part, lines):
                seen = owner.setdefault(rid, part)
                if seen != part:
                    raise InputError(f"{part}: transcript {rid} is in {seen} too (a part given twice, or not the "
                                     "outputs of one --shard K/N series?)")
                handle.write(line)
                rows += 1
    return MergeSummary(kind, len(parts), rows, str(out))


def _predictions(part: str, lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    for lineno, line in enumerate(lines, 2):
        rid = line.split("\t", 1)[0]
        if not rid.strip() or "\t" not in line:
            raise InputError(f"{part}: line {lineno}: not a prediction row")
        yield rid, line


def _attention(part: str, lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    for lineno, line in enumerate(lines, 2):
        fields = _fields(line)
        if len(fields) != 4:
            raise InputError(f"{part}: line {lineno}: {len(fields)} columns, a bedGraph row has 4")
        yield fields[0], line


# -- sorted parts: track, sidecar, zipcode BED --------------------------------------------------

def _int(text: str, what: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not an integer") from None


def _sorted_check(rows: Iterator[tuple[tuple, str]], part: str, order: str) -> Iterator[tuple[tuple, str]]:
    """Pass rows on, refusing one whose key is below the previous one's."""
    last = None
    for key, line in rows:
        if last is not None and key < last:
            raise InputError(f"{part}: rows are not sorted by {order} as scan-zipcodes writes them "
                             f"(at {line.split(chr(9), 1)[0]} {key[1]}-{key[2]})")
        last = key
        yield key, line


def _track_rows(part: str) -> Iterator[tuple[tuple, str]]:
    def rows():
        for lineno, line in enumerate(_read_lines(part), 1):
            if not line.strip():
                continue
            fields = _fields(line)
            where = f"{part}: line {lineno}"
            if len(fields) != 4:
                raise InputError(f"{where}: {len(fields)} columns, a bedGraph row has 4")
            yield (fields[0].encode("utf-8"), _int(fields[1], "start", where), _int(fields[2], "end", where)), line

    return _sorted_check(rows(), part, "(chrom, start, end)")


def _sidecar_rows(part: str) -> Iterator[tuple[tuple, str]]:
    def rows():
        lines = _read_lines(part)
        if _fields(next(lines, "")) != list(SIDECAR_COLUMNS):
            raise InputError(f"{part}: not a zipcode sidecar (header {', '.join(SIDECAR_COLUMNS)} expected)")
        for lineno, line in enumerate(lines, 2):
            fields = _fields(line)
            where = f"{part}: line {lineno}"
            if len(fields) != len(SIDECAR_COLUMNS):
                raise InputError(f"{where}: {len(fields)} columns, expected {len(SIDECAR_COLUMNS)}")
            yield _bed_key(fields[1], fields[2], fields[3], fields[0], where), line

    return _sorted_check(rows(), part, "(chrom, start, end, name)")


def _bed_key(chrom: str, start: str, end: str, name: str, where: str) -> tuple:
    """:meth:`~rnatracker_cli.io.bed.ZipcodeRecord.sort_key` of a row's text fields."""
    return chrom.encode("utf-8"), _int(start, "start", where), _int(end, "end", where), name


def _allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files to fit ``count`` more (a sorted merge
    reads every part at once; 1,024 is a common default), up to the hard limit."""
    try:
        import resource
    except ImportError:  # not POSIX: nothing to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + 64  # the interpreter's own files, the outputs
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else min(need, hard), hard))


def _write_sorted(handle, parts: list[str], reader, header: bool) -> int:
    """Stable k-way merge of sorted parts (ties: earlier part first, as :func:`sorted` of
    the concatenation would give); ``header``: the parts' shared first line, written once."""
    if header:
        handle.write(_first_line(parts[0]))
    rows = 0
    _allow_open_files(len(parts))
    streams = [reader(part) for part in parts]
    for _key, line in heapq.merge(*streams, key=lambda row: row[0]):
        handle.write(line)
        rows += 1
    return rows


def _merge_zipcodes(parts: list[str], out: str, force: bool) -> MergeSummary:
    comments = [_first_line(p) for p in parts]
    comment = comments[0] if comments[0] is not None and comments[0].startswith("#") else None
    for part, other in zip(parts, comments):
        mine = other if other is not None and other.startswith("#") else None
        if mine != comment:
            raise InputError(f"{part}: its comment line differs from {parts[0]}'s (another model or other settings?): "
                             f"{(mine or '(none)').strip()!r} vs {(comment or '(none)').strip()!r}")
    widths = {p: _bed_width(p) for p in parts}
    genomic_by_comment = comment is not None and "coordinates=genome" in comment.split()
    found = {w for w in widths.values() if w is not None}
    if len(found) > 1:
        raise InputError("the parts mix BED6+4 (transcript coordinates) and BED12 (genomic) rows")
    genomic = genomic_by_comment or found == {len(BED12_COLUMNS)}
    sidecars = [sidecar_path(p) for p in parts] if genomic else []
    have = [s.is_file() for s in sidecars]
    if any(have) and not all(have):
        missing = next(str(s) for s, h in zip(sidecars, have) if not h)
        raise InputError(f"{missing} not found: some genomic parts have their sidecar (PART.extra.tsv) and others "
                         "do not")
    with_sidecar = bool(sidecars) and all(have)
    target = None
    if with_sidecar and str(out) != STDOUT:
        target = str(sidecar_path(out))
        if Path(target).resolve() in {s.resolve() for s in sidecars}:
            raise RNATrackerError(f"the merged sidecar {target} would replace a part's sidecar")
    check_output(out, force)
    if target is not None:
        check_output(target, force)
    rows = 0
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_output(out, force))
        extra = stack.enter_context(open_output(target, force)) if target is not None else None
        if comment is not None:
            handle.write(comment)
        if extra is not None:
            extra.write("\t".join(SIDECAR_COLUMNS) + "\n")
        _allow_open_files(len(parts) * (2 if with_sidecar else 1))
        streams = [_bed_rows(p, s if with_sidecar else None) for p, s in zip(parts, sidecars or [None] * len(parts))]
        for _key, line, side in heapq.merge(*streams, key=lambda row: row[0]):
            handle.write(line)
            if extra is not None:
                extra.write(side)
            rows += 1
    return MergeSummary(ZIPCODES, len(parts), rows, str(out), sidecar=target,
                        sidecar_dropped=with_sidecar and target is None)


def _bed_width(part: str) -> int | None:
    """Column count of a BED's first data row (None when it has none)."""
    lines = _read_lines(part)
    try:
        for line in lines:
            if line.strip() and not line.startswith(("#", "track", "browser")):
                return len(_fields(line))
    finally:
        lines.close()
    return None


def _bed_rows(part: str, sidecar: Path | None) -> Iterator[tuple[tuple, str, str | None]]:
    """``(key, BED line, sidecar line or None)`` of a zipcode BED part, checked sorted; with
    a sidecar, its rows must name the BED's rows one for one."""
    side = None
    if sidecar is not None:
        side = _read_lines(sidecar)
        if _fields(next(side, "")) != list(SIDECAR_COLUMNS):
            raise InputError(f"{sidecar}: not a zipcode sidecar (header {', '.join(SIDECAR_COLUMNS)} expected)")
    last = None
    sidecar_lineno = 1
    for lineno, line in enumerate(_read_lines(part), 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        where = f"{part}: line {lineno}"
        fields = _fields(line)
        if len(fields) not in (len(BED_COLUMNS), len(BED12_COLUMNS)):
            raise InputError(f"{where}: {len(fields)} columns; a zipcode BED has {len(BED_COLUMNS)} (BED6+4) "
                             f"or {len(BED12_COLUMNS)} (BED12)")
        key = _bed_key(fields[0], fields[1], fields[2], fields[3], where)
        if last is not None and key < last:
            raise InputError(f"{where}: rows are not sorted by (chrom, start, end, name) as scan-zipcodes writes them")
        last = key
        extra = None
        if side is not None:
            extra = next(side, None)
            sidecar_lineno += 1
            named = _fields(extra)[:4] if extra is not None else None
            if named != [fields[3], fields[0], fields[1], fields[2]]:
                raise InputError(f"{sidecar}: line {sidecar_lineno} does not describe {where} "
                                 f"({fields[3]} {fields[0]}:{fields[1]}-{fields[2]})")
        yield key, line, extra
    if side is not None and next(side, None) is not None:
        raise InputError(f"{sidecar}: more rows than its BED {part}")
