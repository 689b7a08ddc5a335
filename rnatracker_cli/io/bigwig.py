"""bigWig tracks (e.g. phyloP), read and written with pybigtools.

pybigtools is used rather than pyBigWig because it ships binary wheels for Linux (x86_64 and
aarch64), macOS and Windows, so ``pip install`` never needs a compiler; pyBigWig has wheels
for Linux x86_64 only (docs/conservation.md).

Coordinates are 0-based, half-open. Bases without a value in the track are NaN, never 0.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import InputError
from rnatracker_cli.io.atomic import check_output


class BigWig:
    """A bigWig opened for reading; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike) -> None:
        import pybigtools

        self.path = str(path)
        if not Path(path).is_file():
            raise InputError(f"{path}: bigWig file not found")
        try:
            self._reader = pybigtools.open(self.path)
            ok = self._reader.is_bigwig
        except Exception as exc:  # pybigtools raises its own and OS errors for non-BBI files
            raise InputError(f"{path}: not a bigWig file ({exc})") from None
        if not ok:
            raise InputError(f"{path}: is a bigBed, not a bigWig file")
        self.chroms: dict[str, int] = dict(self._reader.chroms())

    def values(self, chrom: str, start: int, end: int) -> np.ndarray:
        """float64 (end - start,) per-base values of ``[start, end)``; NaN where uncovered.

        Raises :class:`InputError` when ``chrom`` is not in the track or the interval runs
        past its end.
        """
        size = self.chroms.get(chrom)
        if size is None:
            raise InputError(f"chromosome {chrom} is not in the bigWig {self.path} "
                             f"({len(self.chroms)} chromosomes, e.g. {', '.join(list(self.chroms)[:3])})")
        if not 0 <= start <= end <= size:
            raise InputError(f"{chrom}:{start}-{end} lies outside {chrom} (length {size}) in the bigWig {self.path}")
        if start == end:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._reader.values(chrom, start, end, fillna=None), dtype=np.float64)

    def blocks_values(self, chrom: str, blocks: Iterable[tuple[int, int]]) -> np.ndarray:
        """Values of several blocks of one chromosome, concatenated in the given order."""
        parts = [self.values(chrom, int(s), int(e)) for s, e in blocks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> BigWig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_bigwig(path: str | os.PathLike, chroms: dict[str, int],
                 entries: Iterable[tuple[str, int, int, float]], force: bool = False) -> None:
    """Write ``(chrom, start, end, value)`` intervals (sorted by chrom in ``chroms`` order, then
    start; not overlapping) as a bigWig, atomically."""
    import pybigtools

    target = Path(path)
    check_output(target, force)
    # pybigtools picks the format from the file name, so the temporary name ends in .bw
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.bw", dir=target.parent)
    os.close(fd)
    try:
        pybigtools.open(tmp, "w").write(dict(chroms), entries)
        # mkstemp made the file private; give it the permissions open() would have given
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, InputError):
            raise InputError(f"{target}: cannot write the bigWig ({exc})") from None
        raise


def runs(chrom: str, start: int, values: np.ndarray) -> Iterable[tuple[str, int, int, float]]:
    """``(chrom, s, e, v)`` entries for per-base float values starting at ``start``; NaN bases
    are left out (uncovered), equal neighbours merged."""
    v = np.asarray(values, dtype=np.float32)
    if v.size == 0:
        return iter(())
    covered = ~np.isnan(v)
    # a run starts where coverage or the value changes
    change = np.ones(v.size, dtype=bool)
    change[1:] = (v[1:] != v[:-1]) | (covered[1:] != covered[:-1])
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], v.size)
    keep = covered[starts]
    starts, ends = starts[keep], ends[keep]
    return zip([chrom] * len(starts), (starts + start).tolist(), (ends + start).tolist(),
               v[starts].astype(np.float64).tolist())
