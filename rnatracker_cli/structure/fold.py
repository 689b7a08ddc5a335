"""Fold every record of a dataset cache (the core of `rnatracker fold`).

Each record is folded independently (:func:`~rnatracker_cli.structure.pipeline.fold_sequence`),
so the result never depends on the number of workers, on sharding or on interruptions.

The cache is never written in place while folding: an HDF5 file interrupted in the middle
of a write can be left unreadable, and the cache holds the only copy of the sequences and
targets. Results go to part files beside it (:mod:`rnatracker_cli.structure.shards`), whose
commit protocol survives a kill; the cache is updated once, at the end, by copy and swap.

Plain run (``shard=None``): reads the cache, counts what it, the part files left by
``--shard`` runs and its own part file ``CACHE.h5.fold-1-of-1.h5`` (left by an interrupted
plain run) already hold, folds the rest into its own part file (flushed in batches, so a
killed run keeps what it wrote and the next run resumes), then writes everything into a copy
of the cache and renames the copy over it (:func:`_commit`); the part files are deleted only
after that. An interruption at any point leaves the cache as it was.

Shard run (``shard=(K, N)``): folds the records whose index ``i`` has ``i % N == K - 1``
(interleaved, so that shards get similar length mixes) and are not done yet, reading the
cache read-only and writing to its own part file, so that shards can run at the same time;
a final plain run merges them.

Records are folded longest first, so that workers finish together; within a written batch
they are in cache order.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnatracker_cli.errors import CacheError, InputError, RNATrackerError
from rnatracker_cli.io.atomic import atomic_path
from rnatracker_cli.io.cache import Cache
from rnatracker_cli.structure.pipeline import _fold_task, _worker_init, fold_sequence
from rnatracker_cli.structure.plfold import (
    DEFAULT_CUTOFF,
    DEFAULT_SPAN,
    DEFAULT_WINDOW,
    check_params,
    viennarna_version,
)
from rnatracker_cli.structure.shards import PartFileBusy, ShardPart, find_parts, part_path
from rnatracker_cli.utils.shard import parse_shard  # noqa: F401 (re-exported; it lived here)

#: Results are written (and flushed) at least every this many records, nucleotides, seconds.
BATCH_RECORDS = 64
BATCH_NT = 2_000_000
BATCH_SECONDS = 10.0


@dataclass(frozen=True)
class FoldProgress:
    """Progress of one run: totals of what it has to fold and what it has folded."""

    total_records: int
    total_nt: int
    records: int
    nt: int


@dataclass
class FoldSummary:
    """What a :func:`fold_cache` run did.

    records: records in the cache; folded/folded_nt: folded by this run; already_done:
    found folded before the run (in the cache, or in this shard's part file); merged:
    copied into the cache from ``--shard`` part files; other_shards: records left to other
    shards (shard runs); remaining: records of the cache not folded in it after the run (a
    shard run counts results kept in part files as not folded in the cache yet);
    structure_sha256: the cache's structure identity after a complete plain run.
    """

    path: Path
    params: dict
    records: int
    structure_sha256: str | None = None
    folded: int = 0
    folded_nt: int = 0
    already_done: int = 0
    merged: int = 0
    other_shards: int = 0
    remaining: int = 0
    seconds: float = 0.0
    workers: int = 1
    shard: tuple[int, int] | None = None
    part_file: Path | None = None
    merged_parts: list[Path] = field(default_factory=list)
    discarded_parts: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every record of the cache is folded in the cache."""
        return self.remaining == 0


def fold_params(window: int = DEFAULT_WINDOW, span: int = DEFAULT_SPAN, cutoff: float = DEFAULT_CUTOFF) -> dict:
    """The settings recorded with a cache's structure; runs with other settings never mix."""
    return {
        "method": "RNAplfold/greedy-nesting/forgi-elements",
        "window": int(window),
        "span": int(span),
        "cutoff": float(cutoff),
        "viennarna": viennarna_version(),
    }


def fold_cache(
    path: str | os.PathLike,
    window: int = DEFAULT_WINDOW,
    span: int = DEFAULT_SPAN,
    cutoff: float = DEFAULT_CUTOFF,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    progress: Callable[[FoldProgress], None] | None = None,
    batch_records: int = BATCH_RECORDS,
) -> FoldSummary:
    """Fold the records of a cache that are not folded yet; see the module docstring.

    window/span/cutoff: RNAplfold's W, L (W >= L) and cutoff. workers: processes (>= 1;
    1 folds in this process). shard: ``(K, N)`` to fold only records with index % N == K-1
    into a part file. force: discard earlier results (a plain run resets the cache's
    structure and drops part files made with other settings; a shard run restarts its part
    file and ignores the cache's structure when it was made with other settings).
    progress: called with a :class:`FoldProgress` at the start and after each record.
    Raises :class:`InputError` for bad settings and :class:`CacheError` for a missing or
    foreign cache, or one folded with other settings (without ``force``).

    Workers are started with multiprocessing's "spawn": a script that calls this with
    ``workers > 1`` must guard its entry point with ``if __name__ == "__main__":``.
    """
    check_params(window, span, cutoff)
    if workers < 1:
        raise InputError(f"--workers must be >= 1 (got {workers})")
    if batch_records < 1:
        raise ValueError("batch_records must be >= 1")
    if shard is not None:
        k, n = shard
        if not 1 <= k <= n:
            raise InputError(f"--shard must be K/N with 1 <= K <= N (got {k}/{n})")
    params = fold_params(window, span, cutoff)
    run = _Run(params, workers, progress, batch_records)
    if shard is None:
        return run.plain(Path(path), force)
    return run.shard(Path(path), (int(shard[0]), int(shard[1])), force)


class _Run:
    def __init__(self, params: dict, workers: int, progress, batch_records: int) -> None:
        self.params = params
        self.workers = workers
        self.progress = progress
        self.batch_records = batch_records

    # -- the two modes --------------------------------------------------------------------
    def plain(self, path: Path, force: bool) -> FoldSummary:
        start = time.perf_counter()
        own = part_path(path, (1, 1))
        with Cache(path, "r") as cache:
            summary = FoldSummary(path, self.params, len(cache), workers=self.workers)
            old = cache.structure_params
            if old is not None and old != self.params and not force:
                raise CacheError(
                    f"{path} was folded with {old}; not mixing with {self.params} "
                    "(use --force to fold again from scratch)"
                )
            reset = force and old is not None
            done = np.zeros(len(cache), dtype=bool) if reset or old is None else cache.structure_done.copy()
            summary.already_done = int(done.sum())
            parts = find_parts(path)
            if force:
                parts = self._drop_foreign_parts(cache, parts, summary)
            for p in parts:
                with self._open_part(cache, p, (0, 0), mode="r") as part:
                    new = np.unique(part.indices[~done[part.indices]])
                done[new] = True
                if p == own:  # this command's own earlier progress
                    summary.already_done += int(new.size)
                else:
                    summary.merged += int(new.size)
                    summary.merged_parts.append(p)
            todo = np.flatnonzero(~done)
            part = self._open_part(cache, own, (1, 1)) if todo.size else None
            try:
                self._fold(cache, todo, part.append if part is not None else None, summary)
            finally:
                if part is not None:
                    part.close()
                summary.remaining = int((~done).sum()) - summary.folded
                summary.seconds = time.perf_counter() - start
        parts = find_parts(path)
        if parts or reset:
            summary.structure_sha256 = self._commit(path, parts, reset)
            for p in parts:  # only now that the cache holds their records
                p.unlink(missing_ok=True)
        else:
            with Cache(path) as cache:
                summary.structure_sha256 = cache.structure_sha256
        summary.remaining = 0
        summary.seconds = time.perf_counter() - start
        return summary

    def _commit(self, path: Path, parts: list[Path], reset: bool) -> str | None:
        """Write the part files' records into a copy of the cache, then rename it over the
        cache (atomic); returns the new structure identity. The cache is untouched until the
        rename, so a crash here loses nothing: the part files are still there."""
        with atomic_path(path, force=True) as tmp:
            shutil.copyfile(path, tmp)
            with Cache(tmp, "r+") as copy:
                if reset:
                    copy.reset_structure()
                copy.ensure_structure(self.params)
                done = copy.structure_done.copy()
                for p in parts:
                    self._merge(copy, p, done)
                if not done.all():
                    raise CacheError(f"{path}: {int((~done).sum())} records are still not folded after merging "
                                     "the part files (damaged part file?); run `fold` again")
                digest = copy.seal_structure()
        return digest

    def shard(self, path: Path, shard: tuple[int, int], force: bool) -> FoldSummary:
        start = time.perf_counter()
        k, n = shard
        with Cache(path, "r") as cache:
            summary = FoldSummary(path, self.params, len(cache), workers=self.workers, shard=shard)
            done = np.zeros(len(cache), dtype=bool)
            old = cache.structure_params
            if old is not None and old != self.params and not force:
                raise CacheError(
                    f"{path} was folded with {old}; not mixing with {self.params} "
                    "(use --force to fold again from scratch)"
                )
            if old == self.params:
                done |= cache.structure_done
            in_cache = done.copy()
            ppath = part_path(path, shard)
            if force:
                ppath.unlink(missing_ok=True)
            mine = np.arange(len(cache)) % n == k - 1
            part = self._open_part(cache, ppath, shard) if ppath.exists() else None
            try:
                if part is not None:
                    done[part.indices] = True
                todo = np.flatnonzero(mine & ~done)
                summary.already_done = int((mine & done).sum())
                summary.other_shards = int((~mine & ~in_cache).sum())
                if todo.size and part is None:
                    part = self._open_part(cache, ppath, shard)
                if part is not None:
                    summary.part_file = ppath
                try:
                    self._fold(cache, todo, part.append if part is not None else None, summary)
                finally:
                    summary.remaining = int((~in_cache).sum())
                    summary.seconds = time.perf_counter() - start
            finally:
                if part is not None:
                    part.close()
        return summary

    # -- part files -----------------------------------------------------------------------
    def _open_part(self, cache: Cache, ppath: Path, shard: tuple[int, int], mode: str = "a") -> ShardPart:
        return ShardPart(ppath, cache_sha256=cache.content_sha256, params=self.params,
                         lengths=cache.lengths, shard=shard, mode=mode)

    def _drop_foreign_parts(self, cache: Cache, parts: list[Path], summary: FoldSummary) -> list[Path]:
        """--force: delete part files that are unusable (other settings or cache content).

        Part files made with the same settings for the same cache content hold exactly what
        folding again would produce, so they are kept (and merged).
        """
        kept = []
        for p in parts:
            try:
                self._open_part(cache, p, (0, 0), mode="r").close()
            except PartFileBusy:
                raise  # never delete the output of a shard run that is still working
            except CacheError:
                p.unlink(missing_ok=True)
                summary.discarded_parts.append(p)
            else:
                kept.append(p)
        return kept

    def _merge(self, cache: Cache, ppath: Path, done: np.ndarray) -> int:
        """Copy a part file's records not yet done into ``cache`` (the copy being committed)."""
        with self._open_part(cache, ppath, (0, 0), mode="r") as part:
            indices, codes = part.records()
        new = np.flatnonzero(~done[indices])
        for s in range(0, new.size, self.batch_records):
            sel = new[s : s + self.batch_records]
            cache.write_structure(indices[sel], [codes[t] for t in sel])
            done[indices[sel]] = True
        return int(new.size)

    # -- folding --------------------------------------------------------------------------
    def _fold(self, cache: Cache, todo: np.ndarray, sink, summary: FoldSummary) -> None:
        """Fold ``todo`` (cache indices), longest first; ``sink(indices, codes)`` stores a batch."""
        order = todo[np.argsort(-cache.lengths[todo], kind="stable")]
        total_nt = int(cache.lengths[order].sum())
        report = self.progress or (lambda _p: None)
        report(FoldProgress(int(order.size), total_nt, 0, 0))
        if order.size == 0:
            return
        window, span, cutoff = self.params["window"], self.params["span"], self.params["cutoff"]
        buffer: dict[int, np.ndarray] = {}
        state = {"nt": 0, "last": time.monotonic()}

        def flush() -> None:
            if buffer:
                keys = sorted(buffer)
                sink(keys, [buffer[i] for i in keys])
                buffer.clear()
                state["nt"] = 0
            state["last"] = time.monotonic()

        def on_result(index: int, codes: np.ndarray) -> None:
            buffer[index] = codes
            state["nt"] += codes.size
            summary.folded += 1
            summary.folded_nt += codes.size
            report(FoldProgress(int(order.size), total_nt, summary.folded, summary.folded_nt))
            if (len(buffer) >= self.batch_records or state["nt"] >= BATCH_NT
                    or time.monotonic() - state["last"] >= BATCH_SECONDS):
                flush()

        try:
            workers = min(self.workers, int(order.size))
            if workers == 1:
                for i in order.tolist():
                    on_result(i, fold_sequence(cache.sequence(i), window, span, cutoff))
            else:
                _fold_in_pool(order.tolist(), cache.sequence, (window, span, cutoff), workers, on_result)
        finally:
            flush()  # keep every finished record, also when interrupted


def _fold_in_pool(order: list[int], read, settings: tuple, workers: int, on_result) -> None:
    """Fold records in worker processes, at most 2 per worker in flight.

    Workers are started with "spawn" (no fork of a process holding HDF5 handles and
    progress-bar threads) and ignore Ctrl-C; on any exception here the pool is shut down,
    pending records cancelled and running ones waited for (on an interruption, terminated),
    so no process is left behind.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init)
    try:
        queue = iter(order)
        pending = set()

        def submit() -> None:
            index = next(queue, None)
            if index is not None:
                pending.add(executor.submit(_fold_task, index, read(index), *settings))

        for _ in range(2 * workers):
            submit()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                pending.discard(fut)
                try:
                    index, codes = fut.result()
                except BrokenProcessPool:
                    raise RNATrackerError(
                        "a fold worker process died (killed, or out of memory?); finished "
                        "records are saved: run the same command again to resume"
                    ) from None
                on_result(index, codes)
                submit()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the records being folded would be discarded anyway, and one long
        # transcript can take longer than a cluster's grace period before SIGKILL; stop now.
        for proc in list((getattr(executor, "_processes", None) or {}).values()):
            proc.terminate()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
