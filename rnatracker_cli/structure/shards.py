"""Shard part files: where `fold --shard K/N` runs keep their results.

HDF5 allows one writer per file, so shard runs that work at the same time (separate
processes, cluster jobs) cannot all write into the cache. Each one opens the cache
read-only and appends its results to its own part file next to it,
``CACHE.h5.fold-K-of-N.h5``; the next plain ``fold`` run merges every part file into the
cache and deletes it.

Part file layout (HDF5)::

    attrs: kind = "rnatracker-fold-part", cache_sha256, params (JSON), shard "K/N"
    /indices (M) int64   cache records folded, in the order they were written
    /codes (ΣL) uint8    their element codes, concatenated in the same order

Appending writes the codes first and the indices last (then flushes), so ``/indices`` is
the commit record: codes beyond the committed records (an interrupted append) are dropped
when the file is opened again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from rnatracker_cli.errors import CacheError
from rnatracker_cli.io.atomic import atomic_path

KIND = "rnatracker-fold-part"
_NAME = re.compile(r"\.fold-(\d+)-of-(\d+)\.h5$")


def part_path(cache_path: str | os.PathLike, shard: tuple[int, int]) -> Path:
    """``CACHE.h5.fold-K-of-N.h5`` next to the cache."""
    cache_path = Path(cache_path)
    return cache_path.with_name(f"{cache_path.name}.fold-{shard[0]}-of-{shard[1]}.h5")


def find_parts(cache_path: str | os.PathLike) -> list[Path]:
    """Existing part files of a cache, sorted by name."""
    cache_path = Path(cache_path)
    prefix = cache_path.name + ".fold-"
    found = [
        p for p in cache_path.parent.glob(glob_escape(prefix) + "*-of-*.h5")
        if _NAME.fullmatch(p.name[len(cache_path.name):])
    ]
    return sorted(found)


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a literal file-name part."""
    return re.sub(r"([*?\[])", r"[\1]", text)


class PartFileBusy(CacheError):
    """A part file is locked by another process (a shard run still writing it)."""


class ShardPart:
    """A part file opened for reading (``mode="r"``) or appending (``mode="a"``).

    lengths: int (N,) record lengths of the cache, to locate each record's codes.
    Raises :class:`CacheError` when the file is not a part file, belongs to another cache
    content (``cache_sha256``) or was folded with other ``params``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        cache_sha256: str,
        params: dict,
        lengths: np.ndarray,
        shard: tuple[int, int] | None = None,
        mode: str = "r",
    ) -> None:
        self.path = Path(path)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if mode == "a" and not self.path.exists():
            if shard is None:
                raise ValueError("creating a part file needs its shard")
            self._create(cache_sha256, params, shard)
        try:
            self._file = h5py.File(self.path, "r+" if mode == "a" else "r")
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise PartFileBusy(
                    f"fold part file {self.path} is in use (is a `fold --shard` run still running?)"
                ) from None
            raise CacheError(f"cannot open fold part file {self.path}: {exc}") from None
        attrs = self._file.attrs
        if attrs.get("kind") != KIND or "indices" not in self._file or "codes" not in self._file:
            self.close()
            raise CacheError(f"{self.path} is not an rnatracker fold part file")
        if attrs.get("cache_sha256") != cache_sha256:
            self.close()
            raise CacheError(
                f"fold part file {self.path} belongs to another version of the cache "
                "(use --force to discard it)"
            )
        self.params = json.loads(attrs.get("params", "{}"))
        if self.params != params:
            self.close()
            raise CacheError(
                f"fold part file {self.path} was folded with {self.params}; not mixing with "
                f"{params} (use --force to discard it)"
            )
        self.shard = str(attrs.get("shard", "?"))
        self.indices = self._file["indices"][:].astype(np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(self.lengths)):
            self.close()
            raise CacheError(f"fold part file {self.path} is damaged (delete it to fold its records again)")
        self._nt = int(self.lengths[self.indices].sum())
        if self._file["codes"].shape[0] < self._nt:
            self.close()
            raise CacheError(f"fold part file {self.path} is damaged (delete it to fold its records again)")
        if mode == "a" and self._file["codes"].shape[0] != self._nt:
            self._file["codes"].resize((self._nt,))  # drop an interrupted append

    def _create(self, cache_sha256: str, params: dict, shard: tuple[int, int]) -> None:
        with atomic_path(self.path, force=False) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["kind"] = KIND
                f.attrs["cache_sha256"] = cache_sha256
                f.attrs["params"] = json.dumps(params, sort_keys=True)
                f.attrs["shard"] = f"{shard[0]}/{shard[1]}"
                f.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
                f.create_dataset("codes", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(1 << 18,))

    def append(self, indices: Sequence[int], codes: Sequence[np.ndarray]) -> None:
        """Add records' element codes (uint8 arrays of the records' lengths) and flush."""
        if not len(indices):
            return
        idx = np.asarray(indices, dtype=np.int64)
        block = np.concatenate([np.asarray(c, dtype=np.uint8) for c in codes])
        if block.size != int(self.lengths[idx].sum()):
            raise ValueError("element codes do not match the records' lengths")
        ds_codes, ds_idx = self._file["codes"], self._file["indices"]
        ds_codes.resize((self._nt + block.size,))
        ds_codes[self._nt:] = block
        m = self.indices.size  # committed records; the dataset may be longer after a crash
        ds_idx.resize((m + idx.size,))
        ds_idx[m:] = idx
        self._file.flush()
        self._nt += block.size
        self.indices = np.concatenate([self.indices, idx])

    def records(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(indices int64 (M,), codes)``: every committed record, in file order."""
        block = self._file["codes"][: self._nt]
        ends = np.cumsum(self.lengths[self.indices])
        starts = ends - self.lengths[self.indices]
        return self.indices.copy(), [block[s:e] for s, e in zip(starts, ends)]

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ShardPart:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
