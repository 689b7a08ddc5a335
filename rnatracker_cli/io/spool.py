"""Sorting more items than fit in memory: a stable external merge sort.

:class:`SortedSpool` collects ``(key, payload)`` items; up to ``limit`` of them are held in
memory, then sorted and written to a temporary run file (pickled in blocks); iterating
merges the runs (:func:`heapq.merge`). The result is exactly ``sorted(items, key=key)``,
stable: items with equal keys come out in the order they were added (each run is sorted
stably and runs are merged in the order they were written, earlier runs first on ties).
Memory holds ``limit`` items while adding and one block per run while merging, whatever the
number of items. `scan-zipcodes` collects its BED rows and bedGraph intervals this way, so its
memory does not grow with the number of transcripts (docs/scale.md).
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

#: Items held in memory before a run is written (BED rows or bedGraph intervals: ~100-400
#: bytes each as Python objects, so tens of MB).
DEFAULT_SPOOL_ITEMS = 200_000
#: Items per pickled block of a run file (what the merge holds per run).
BLOCK_ITEMS = 2_000
#: Run files merged at once (open files); more runs are first merged in groups of this many.
MAX_OPEN_RUNS = 64

_first = itemgetter(0)


class SortedSpool:
    """Stable external sort of ``(key, payload)`` items (keys: any mutually comparable values).

    limit: items held in memory before spilling a sorted run (≥ 1; None =
    :data:`DEFAULT_SPOOL_ITEMS`); directory: where run
    files go (default: the system's temporary folder), deleted by :meth:`close` (or on leaving
    a ``with`` block). Iterate once, after adding everything: payloads in key order.
    """

    def __init__(self, limit: int | None = None, directory: str | os.PathLike | None = None) -> None:
        limit = DEFAULT_SPOOL_ITEMS if limit is None else limit
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = int(limit)
        self._directory = directory
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._items: list[tuple[Any, Any]] = []
        self._runs: list[Path] = []
        self._serial = 0
        self.count = 0

    def add(self, key: Any, payload: Any) -> None:
        self._items.append((key, payload))
        self.count += 1
        if len(self._items) >= self.limit:
            self._spill()

    @property
    def runs(self) -> int:
        """Run files written so far."""
        return len(self._runs)

    def _spill(self) -> None:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rnatracker-spool-", dir=self._directory)
        self._items.sort(key=_first)  # stable
        self._runs.append(self._write_run(self._items))
        self._items = []

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[Any, Any]]:
        with open(path, "rb") as handle:
            while True:
                try:
                    block = pickle.load(handle)
                except EOFError:
                    return
                yield from block

    def _write_run(self, items) -> Path:
        path = Path(self._tmp.name) / f"run{self._serial:06d}.pkl"
        self._serial += 1
        with open(path, "wb") as handle:
            block = []
            for item in items:
                block.append(item)
                if len(block) >= BLOCK_ITEMS:
                    pickle.dump(block, handle, protocol=pickle.HIGHEST_PROTOCOL)
                    block = []
            if block:
                pickle.dump(block, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def __iter__(self) -> Iterator[Any]:
        # Too many runs to open at once: merge consecutive groups into one run each (in place,
        # so that earlier items still win ties).
        while len(self._runs) > MAX_OPEN_RUNS:
            merged = []
            for i in range(0, len(self._runs), MAX_OPEN_RUNS):
                group = self._runs[i : i + MAX_OPEN_RUNS]
                merged.append(self._write_run(heapq.merge(*(self._read(p) for p in group), key=_first)))
                for p in group:
                    p.unlink()
            self._runs = merged
        self._items.sort(key=_first)
        streams = [self._read(p) for p in self._runs] + [iter(self._items)]
        for _, payload in heapq.merge(*streams, key=_first):
            yield payload

    def close(self) -> None:
        self._items = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._runs = []

    def __enter__(self) -> SortedSpool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
